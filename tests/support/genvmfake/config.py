"""GenVM LLM module YAML → what a fake VM exposes (GENVM.md §4 `providers`, §6 config).

Rules:
1. Every string of the file, map keys included, is templated: `${ENV[NAME]}` from the
   caller's env mapping (missing → empty), `${genvmVersion}`, `${genvmRoot}` (V1) or
   `${exeDir}` (V2); any other `${…}` is a config error, as in GenVM.
2. Filtering follows GenVM: disabled models dropped; disabled backends, backends whose
   key templates to empty and backends left without an enabled model dropped; none left
   → the module does not start. Each drop is recorded with its reason.
3. Host, key and provider kind stay on the Python side (the fake builds error URLs from
   the host); the hook sees only models, capabilities, `meta` and (V2) timeouts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "PROFILES",
    "Backend",
    "ConfigError",
    "GenvmConfig",
    "Model",
    "is_v1",
    "load_config",
    "parse_duration",
]

PROFILES = ("v1", "v2-mid", "v2-new")
GENVM_VERSION = "v0.0.0-genvmfake"

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_ENV = re.compile(r"ENV\[([^\]]*)\]")
_DURATION = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class ConfigError(Exception):
    """The YAML is one GenVM would refuse (bad template, bad duration, no backend left)."""


def is_v1(profile: str) -> bool:
    """True for the V1 line; both V2 profiles share the V2 config and path rules."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {PROFILES}")
    return profile == "v1"


@dataclass(frozen=True)
class Model:
    """One enabled model as GenVM shows it to the hook; `meta` None means unset."""

    enabled: bool
    supports_json: bool
    supports_image: bool
    use_max_completion_tokens: bool
    meta: Any
    timeout: float | None


@dataclass(frozen=True)
class Backend:
    """One kept backend: its models in file order plus the V2 extras."""

    host: str
    models: dict[str, Model]
    meta: Any
    timeout: float | None


@dataclass(frozen=True)
class GenvmConfig:
    """The parts of the module config the fake needs, after templating and filtering."""

    backends: dict[str, Backend]
    templates: dict[str, dict[str, str]]
    meta: Any
    timeout: float | None
    lua_path: str
    dropped: dict[str, str] = field(default_factory=dict)


def parse_duration(value: Any) -> float | None:
    """Seconds from a YAML duration (`90s`, `2m`, `500ms`, a bare number) or None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(f"timeout `{value}` is not a duration")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value).strip())
    if match is None:
        raise ConfigError(f"timeout `{value}` is not a duration")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _template(value: Any, env: Mapping[str, str], dirs: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {_template(k, env, dirs): _template(v, env, dirs) for k, v in value.items()}
    if isinstance(value, list):
        return [_template(v, env, dirs) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        env_match = _ENV.fullmatch(name)
        if env_match is not None:
            return env.get(env_match.group(1), "")
        if name == "genvmVersion":
            return GENVM_VERSION
        if name in dirs:
            return dirs[name]
        raise ConfigError(f"unknown template variable `{name}`")

    return _PLACEHOLDER.sub(one, value)


def _model(raw: Any, v1: bool) -> Model:
    raw = raw or {}
    return Model(
        enabled=bool(raw.get("enabled", True)),
        supports_json=bool(raw.get("supports_json", False)),
        supports_image=bool(raw.get("supports_image", False)),
        use_max_completion_tokens=bool(raw.get("use_max_completion_tokens", False)),
        meta=raw.get("meta"),
        timeout=None if v1 else parse_duration(raw.get("timeout")),
    )


def load_config(
    path: Path, profile: str, env: Mapping[str, str], root: Path, lua_path: str | None = None
) -> GenvmConfig:
    """Read and filter a GenVM LLM config as `profile` would, with `root` as the GenVM tree.

    `root` plays `${genvmRoot}` (V1); `${exeDir}` is `root/bin` (V2). `lua_path`, when given,
    replaces the file's `extra_lua_path` (V1) or `lua_path` (V2) before templating.
    """
    v1 = is_v1(profile)
    dirs = {"genvmRoot": str(root)} if v1 else {"exeDir": str(root / "bin")}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    key = "extra_lua_path" if v1 else "lua_path"
    if lua_path is not None:
        raw[key] = lua_path
    raw = _template(raw, env, dirs)
    backends: dict[str, Backend] = {}
    dropped: dict[str, str] = {}
    for name, spec in (raw.get("backends") or {}).items():
        spec = spec or {}
        models = {
            mid: m
            for mid, m in ((mid, _model(ms, v1)) for mid, ms in (spec.get("models") or {}).items())
            if m.enabled
        }
        if not spec.get("enabled", True):
            dropped[name] = "disabled"
        elif not spec.get("key"):
            dropped[name] = "empty key"
        elif not models:
            dropped[name] = "no enabled model"
        else:
            backends[name] = Backend(
                host=str(spec.get("host", "")),
                models=models,
                meta=None if v1 else spec.get("meta"),
                timeout=None if v1 else parse_duration(spec.get("timeout")),
            )
    if not backends:
        raise ConfigError("no backend left after filtering: the module does not start")
    builtin = str(root / "share" / "lib" / "genvm" / "lua" / "?.lua")
    extra = str(raw.get(key) or "")
    if v1:
        full_path = builtin + ";" + extra
    elif not extra:
        raise ConfigError("`lua_path` is required in the V2 config")
    else:
        full_path = extra
    return GenvmConfig(
        backends=backends,
        templates=raw.get("prompt_templates") or {},
        meta=None if v1 else raw.get("meta"),
        timeout=None if v1 else parse_duration(raw.get("timeout")),
        lua_path=full_path,
        dropped=dropped,
    )
