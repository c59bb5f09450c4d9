"""The bundled hook on a node folder under the GenVM fake, and the reference's check of it.

Contract: docs/HOOK.md. `Node` compiles a policy for a GenVM line's fixture config,
writes the salt and the bundled hook (`bundle.build_hook`) into a folder and builds
fake VMs on it; `verify` recomputes a call's one decision record with the Python
model (`hookmodel.check_record`); `FAULTS` are the install faults a node can meet
(the hook then falls back to stock, HOOK.md §7).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from genvm_policy.authoring.admission import admit
from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import Catalog, view_from_providers
from genvm_policy.core.policy import Policy
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.bundle import build_hook
from genvm_policy.node.compile import compile_policy
from genvm_policy.node.hookmodel import RECORD_MESSAGE, check_record, stock_catalog, stock_policy
from support.fixturepaths import GENVM_FIXTURES
from support.genvmfake import (
    CallResult,
    FakeGenVM,
    LogRecord,
)

FIXTURES = GENVM_FIXTURES
# A table laid out by hand in rows: `fmt: skip` keeps them.
YAML = {"v1": FIXTURES / "llm-default-config.yaml",
        "v2": FIXTURES / "genvm-module-llm.v2-greybox.yaml"}  # fmt: skip
# A table laid out by hand in rows: `fmt: skip` keeps them.
KEYS = {"v1": ["OPENAIKEY", "HEURISTKEY", "ANTHROPICKEY", "XAIKEY", "GEMINIKEY", "ATOMAKEY"],
        "v2": ["OPENROUTERKEY", "HEURISTKEY", "IONETKEY", "ANTHROPICKEY", "GEMINIKEY"]}  # fmt: skip
SALT = bytes(range(100, 132))
POLICY = {
    "mutate": [
        {"jitter": {"temperature": ["-0.1", "0.1"]}},
        {"text_filters": ["NFKC"]},
        "use_max_completion_tokens",
    ],
    "on_failure": {"overloaded": "next", "server": {"retry": {"attempts": 1, "backoff_ms": 250}}},
}
PROMPT: dict[str, Any] = {"prompt": "  Hello\u200b world ", "response_format": "text", "images": []}
TEMPLATES: dict[str, dict[str, str]] = {
    "EqComparative": {"leader_answer": "a", "validator_answer": "b", "principle": "same"},
    "EqNonComparativeValidator": {"task": "t", "criteria": "c", "input": "i", "output": "o"},
    "EqNonComparativeLeader": {"task": "t", "criteria": "c", "input": "i"},
}


def line(profile: str) -> str:
    """The GenVM line (`v1` or `v2`) of a fake's profile."""
    return "v1" if profile == "v1" else "v2"


class Node:
    """A node folder: compiled policy, salt, bundled hook; builds fake VMs on it."""

    def __init__(self, tmp: Path, profile: str, source: Path | None = None) -> None:
        self.profile = profile
        source = source or YAML[line(profile)]
        config = load_document(str(source), what="node config")
        assert isinstance(config, dict), source
        self.catalog: Catalog = build_catalog(config)
        self.policy: Policy = admit(POLICY, self.catalog)
        self.policy_path, self.salt_path = tmp / "policy.lua", tmp / "salt"
        self.policy_path.write_bytes(compile_policy(self.catalog, self.policy))
        self.salt_path.write_bytes(SALT)
        self.hook = tmp / "genvm-policy-hook.lua"
        self.hook.write_bytes(build_hook(str(self.policy_path), str(self.salt_path)))

    def vm(self, drop: tuple[str, ...] = (), seed: int = 0, **kw: Any) -> FakeGenVM:
        env = {k: "key" for k in KEYS[line(self.profile)] if k not in drop}
        return FakeGenVM(
            self.hook, YAML[line(self.profile)], profile=self.profile, env=env, seed=seed, **kw
        )


def records(logs: list[LogRecord]) -> list[dict[str, Any]]:
    """The fields of every decision record among `logs`."""
    return [r.fields for r in logs if r.message == RECORD_MESSAGE]


def live_view(vm: FakeGenVM) -> Any:
    """The GenVM view of the providers the fake VM offers, as the hook's runtime sees them."""
    providers = {
        name: {
            "meta": b.meta if vm.line == "v2" else None,
            "models": {
                mid: {
                    "supports_json": m.supports_json,
                    "supports_image": m.supports_image,
                    "use_max_completion_tokens": m.use_max_completion_tokens,
                    "meta": m.meta,
                }
                for mid, m in b.models.items()
            },
        }
        for name, b in vm.config.backends.items()
    }
    return view_from_providers(providers)


def verify(node: Node, vm: FakeGenVM, result: CallResult) -> dict[str, Any]:
    """The call's one record, recomputed by the reference (every scenario goes through here)."""
    found = records(result.logs)
    assert len(found) == 1
    rec = found[0]
    if rec["mode"] == "policy":
        catalog, policy = node.catalog, node.policy
    else:
        catalog = stock_catalog(live_view(vm))
        name, policy = stock_policy(catalog)
        assert rec["stock"] == name
    assert check_record(rec, catalog, policy, SALT) is None
    for req in result.requests:
        prompt = req.raw["prompt"]
        assert type(prompt["seed"]) is int and 0 <= prompt["seed"] < 2**53
        assert type(prompt["max_tokens"]) is int and prompt["images"] is not None
    return rec


FAULTS: dict[str, Callable[[Node], object]] = {
    "policy_missing": lambda n: n.policy_path.unlink(),
    "policy_format": lambda n: n.policy_path.write_bytes(n.policy_path.read_bytes()[:200]),
    "policy_identity": lambda n: n.policy_path.write_bytes(
        n.policy_path.read_bytes().replace(b"rate_limited", b"rate_limitex", 1)),
    "policy_version": lambda n: n.policy_path.write_bytes(
        n.policy_path.read_bytes().replace(b"format = 1", b"format = 7", 1)),
    "salt_missing": lambda n: n.salt_path.unlink(),
}  # fmt: skip  # a table laid out by hand in rows
