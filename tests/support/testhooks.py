"""The GenVM fake driven by the small test hooks of `hooks/`, on the fixture configs.

`make` builds one fake VM of a profile on the real fixture YAML of its GenVM line
(`fixturepaths.GENVM_FIXTURES`) with a key set that leaves some backends offered.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.fixturepaths import GENVM_FIXTURES
from support.genvmfake import FakeGenVM

__all__ = ["HOOKS", "V1_ENV", "V1_YAML", "V2_ENV", "V2_YAML", "make"]

HOOKS = Path(__file__).resolve().parent / "hooks"
FIXTURES = GENVM_FIXTURES
V1_YAML = FIXTURES / "llm-default-config.yaml"
V2_YAML = FIXTURES / "genvm-module-llm.v2-greybox.yaml"
V1_ENV = {"OPENAIKEY": "k", "HEURISTKEY": "k"}
V2_ENV = {"OPENROUTERKEY": "k", "IONETKEY": "k"}


def make(
    profile: str, hook: str = "walk.lua", env: dict[str, str] | None = None, **kw: Any
) -> FakeGenVM:
    """A fake VM of `profile` on the fixture config of its line, running the test hook `hook`."""
    yaml_path = V1_YAML if profile == "v1" else V2_YAML
    env = env or (V1_ENV if profile == "v1" else V2_ENV)
    return FakeGenVM(HOOKS / hook, yaml_path, profile=profile, env=env, **kw)
