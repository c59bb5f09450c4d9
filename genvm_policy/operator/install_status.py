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
4. `status_lines` holds the tree's lock while it reads, compares the node's
   catalog now (built with the overlay the manifest records, unless another is
   given) with the compiled catalog the install left, route by route, and ends
   with a summary and one `next:` line. Its exit status is 0 when all is as
   installed (or nothing is installed), 1 on any drift.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from genvm_policy.core.catalog import Catalog, catalog_identity, catalog_value, view_identity
from genvm_policy.core.errors import PolicyError
from genvm_policy.node.compile import read_compiled
from genvm_policy.operator import yamledit
from genvm_policy.operator.install import MANIFEST_RELPATH, STATE_DIR
from genvm_policy.operator.install_fs import (
    check_links,
    file_state,
    load_manifest,
    mode_text,
    sha256_hex,
)
from genvm_policy.operator.install_lock import hold
from genvm_policy.operator.nodetree import GenvmTree, find_tree, read_config_text

__all__ = ["FileStatus", "StatusReport", "route_drift", "status", "status_lines"]

LoadCatalog = Callable[[str, str | None], Catalog]


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
    return tree_status(find_tree(path, version_dir))


def tree_status(tree: GenvmTree) -> StatusReport:
    """What is installed on `tree` (rules 1–3)."""
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
    metadata = dict(manifest.get("metadata", {}))
    if manifest.get("overlay"):
        metadata["overlay"] = manifest["overlay"]["path"]
    return StatusReport(tree, state, metadata, files, active, changed)


def _routes(catalog: Catalog) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    value = catalog_value(catalog)
    assert isinstance(value, dict)
    routes = value["routes"]
    assert isinstance(routes, list)
    for entry in routes:
        assert isinstance(entry, dict)
        out[f"{entry['provider']}/{entry['model']}"] = entry
    return out


def route_drift(installed: Catalog, now: Catalog) -> list[str]:
    """One line per route added, removed or changed since the install, in bytes order."""
    before, after = _routes(installed), _routes(now)
    lines = []
    for name in sorted(set(before) | set(after), key=lambda n: n.encode("utf-8")):
        if name not in after:
            lines.append(f"drift: route `{name}` is gone from the node's config")
        elif name not in before:
            lines.append(
                f"drift: route `{name}` is new since the install (not in the policy's catalog)"
            )
        elif before[name] != after[name]:
            fields = [k for k in before[name] if before[name][k] != after[name].get(k)]
            lines.append(f"drift: route `{name}` changed: {', '.join(fields)}")
    return lines


def _installed_catalog(tree: GenvmTree, compiled_relpath: str) -> Catalog | None:
    state = file_state(tree.root / compiled_relpath)
    if state is None:
        return None
    try:
        return read_compiled(state[0]).catalog
    except PolicyError:
        return None


def _catalog_lines(
    tree: GenvmTree,
    report: StatusReport,
    manifest_overlay: dict[str, str] | None,
    overlay: str | None,
    load: LoadCatalog,
    compiled_relpath: str,
) -> list[str]:
    lines: list[str] = []
    if overlay is None and manifest_overlay is not None:
        overlay = manifest_overlay["path"]
        now_bytes = file_state(Path(overlay))
        if now_bytes is None:
            return [f"drift: the overlay `{overlay}` the install used is gone; routes not compared"]
        if sha256_hex(now_bytes[0]) != manifest_overlay["sha256"]:
            lines.append(f"drift: the overlay `{overlay}` changed since the install")
    catalog = load(str(tree.config), overlay)
    recorded = report.metadata
    now = {
        "catalog_identity": catalog_identity(catalog),
        "genvm_view_identity": view_identity(catalog),
    }
    for key, value in now.items():
        same = recorded.get(key) == value
        what = key.replace("_identity", "").replace("_", "-")
        lines.append(
            f"drift: {what} {'unchanged' if same else 'CHANGED since the install: ' + value}"
        )
    installed = _installed_catalog(tree, compiled_relpath)
    if installed is not None:
        lines += route_drift(installed, catalog)
    return lines


def _next(tree: GenvmTree, report: StatusReport, drifted: bool) -> str:
    where = f"--node-root {tree.root}"
    if report.state == "not installed":
        return f"next: install a policy: genvm-policy install {where} --policy FILE"
    if report.state == "interrupted":
        return (
            f"next: an install or revert did not finish: run it again, or `genvm-policy revert "
            f"{where}` to take everything off"
        )
    if not report.intact or not report.hook_active:
        return (
            f"next: install the policy again (genvm-policy install {where} --policy FILE), "
            f"or `genvm-policy revert {where}`"
        )
    if drifted:
        return (
            "next: the node's catalog changed since the install: review the policy against it, "
            f"then install it again (genvm-policy install {where} --policy FILE --reload)"
        )
    return "next: nothing to do; all is as installed"


def status_lines(
    tree: GenvmTree,
    overlay: str | None,
    wait: float,
    out: TextIO,
    compiled_relpath: str,
    load: LoadCatalog,
) -> tuple[list[str], int]:
    """The full status report of `tree` and its exit status (rule 4)."""
    try:
        check_links(tree.root, [STATE_DIR], False)
        locked = True
    except PolicyError as err:
        out.write(f"note: not taking the lock: {err.message}\n")
        locked = False
    if locked:
        with hold(tree.root, wait, out, read_only=True):
            return _status_lines(tree, overlay, compiled_relpath, load)
    return _status_lines(tree, overlay, compiled_relpath, load)


def _status_lines(
    tree: GenvmTree, overlay: str | None, compiled_relpath: str, load: LoadCatalog
) -> tuple[list[str], int]:
    report = tree_status(tree)
    lines = report.lines()
    drift: list[str] = []
    if report.state != "not installed":
        manifest = load_manifest(tree.root / MANIFEST_RELPATH, MANIFEST_RELPATH) or {}
        catalog_lines = _catalog_lines(
            tree, report, manifest.get("overlay"), overlay, load, compiled_relpath
        )
        lines += catalog_lines
        drift = [ln for ln in catalog_lines if not ln.endswith(" unchanged")]
    bad = report.state == "interrupted" or (
        report.state == "installed" and not (report.intact and report.hook_active)
    )
    lines.append("summary:")
    if report.state == "not installed":
        lines.append("  nothing is installed")
    else:
        lines.append(f"  policy: {report.metadata.get('policy_identity', '?')} ({report.state})")
        ours = "ours" if report.hook_active else "NOT ours"
        lines.append(f"  GenVM's active script: {ours} (`{tree.lua_script_path}`)")
        lines.append(f"  installed files: {'intact' if report.intact else 'NOT intact'}")
        lines.append(f"  drift: {len(drift)} line(s)" if drift else "  drift: none")
    lines.append(_next(tree, report, bool(drift)))
    return lines, 1 if bad or drift else 0
