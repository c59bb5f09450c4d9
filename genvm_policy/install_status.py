"""Report what is installed on a GenVM tree and whether it is intact.

Spec: docs/INSTALL.md §8 (Status).

Rules:
1. Status only reads. It never opens the salt for its value: integrity is
   the SHA-256 of each installed file against the manifest, compared, not shown.
2. States: `not installed` (no manifest), `installed`, `interrupted` (the
   manifest is still the journal of a run that did not finish: run the
   install or the revert again).
3. The hook is active when the config's `lua_script_path` is the value the
   install wrote; the config is reported changed when its bytes differ from
   what the install left (an operator edit, or another tool).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genvm_policy import yamledit
from genvm_policy.install import MANIFEST_RELPATH
from genvm_policy.install_fs import file_state, load_manifest, mode_text, sha256_hex
from genvm_policy.nodetree import GenvmTree, find_tree, read_config_text

__all__ = ["FileStatus", "StatusReport", "status"]


@dataclass(frozen=True)
class FileStatus:
    """One installed file: intact, or what is wrong with it."""

    relpath: str
    problem: str | None


@dataclass(frozen=True)
class StatusReport:
    """What the installer finds on a GenVM tree."""

    tree: GenvmTree
    state: str
    metadata: dict[str, Any]
    files: tuple[FileStatus, ...]
    hook_active: bool
    config_changed: bool

    @property
    def intact(self) -> bool:
        """Whether every installed file has the bytes and mode the manifest records."""
        return all(f.problem is None for f in self.files)

    def lines(self) -> list[str]:
        """The report for people."""
        out = self.tree.describe()
        out.append(f"install: {self.state}")
        if self.state == "not installed":
            return out
        for key in sorted(self.metadata, key=lambda k: k.encode("utf-8")):
            value = self.metadata[key]
            if isinstance(value, list):
                value = ", ".join(map(str, value)) or "none"
            out.append(f"  {key}: {value}")
        out.append(f"hook active: {'yes' if self.hook_active else 'no'}")
        if self.config_changed:
            out.append("config: changed since the install")
        out.append(f"installed files: {'intact' if self.intact else 'NOT intact'}")
        for item in self.files:
            out.append(f"  {item.relpath}: {item.problem or 'intact'}")
        return out


def _check(tree: GenvmTree, rel: str, record: dict[str, Any]) -> FileStatus:
    state = file_state(tree.root / rel)
    if state is None:
        return FileStatus(rel, "missing")
    if sha256_hex(state[0]) != record["sha256"]:
        return FileStatus(rel, "changed (its hash differs from the manifest)")
    if mode_text(state[1]) != record["mode"]:
        return FileStatus(rel, f"mode {mode_text(state[1])}, expected {record['mode']}")
    return FileStatus(rel, None)


def status(path: Path, version_dir: str | None = None) -> StatusReport:
    """Find the GenVM tree at `path` and report what is installed there (rules 1–3)."""
    tree = find_tree(path, version_dir)
    manifest = load_manifest(tree.root / MANIFEST_RELPATH, MANIFEST_RELPATH)
    if manifest is None:
        return StatusReport(tree, "not installed", {}, (), False, False)
    state = "installed" if manifest["state"] == "installed" else "interrupted"
    files = tuple(
        _check(tree, rel, manifest["files"][rel])
        for rel in sorted(manifest["files"], key=lambda r: r.encode("utf-8"))
    )
    config = manifest["config"]
    text = read_config_text(tree.config)
    active = yamledit.get_scalar(text, "lua_script_path").value == config["installed_value"]
    changed = sha256_hex(text.encode("utf-8")) != config["installed_sha256"]
    return StatusReport(tree, state, dict(manifest.get("metadata", {})), files, active, changed)
