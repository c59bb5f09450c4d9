"""Install a bundle onto a GenVM tree, switch `lua_script_path` to its hook, revert, report.

Spec: docs/INSTALL.md (§4 layout, §5 install, §6 atomicity and recovery,
§7 revert, §8 status).

Rules:
1. Planning reads and never writes; `--dry-run` prints the plan and stops.
2. Install order: remove crash leftovers, create the state folder, write the
   journal (the manifest in state `pending`), back up every file about to be
   replaced that the installer did not write, write the bundle's files,
   verify, switch `lua_script_path`, drop files a previous install placed
   that this bundle no longer has, write the manifest (state `installed`).
3. A step whose target already holds the wanted bytes and mode is not
   planned, so a repeated identical install changes nothing (not even mtimes).
4. A failed verification undoes every change this run made, newest first:
   the switch never happened and the new files are gone.
5. The LLM config is never copied (it may hold literal provider keys): its
   backup is the previous value's exact text plus the file's hash, and revert
   puts that text back, which gives the original bytes (checked by hash).
6. Revert restores every file the installer replaced from its backup,
   removes every file and folder it created, and removes its state folder
   last but the manifest, so an interrupted revert can run again.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from genvm_policy import yamledit
from genvm_policy.errors import PolicyError
from genvm_policy.install_fs import (
    MANIFEST_FORMAT,
    TMP_SUFFIX,
    Checkpoint,
    FileState,
    Step,
    dump_manifest,
    file_state,
    leftover_temps,
    load_manifest,
    mode_text,
    run_steps,
    sha256_hex,
)
from genvm_policy.nodetree import CONFIG_RELPATH, GenvmTree, find_tree, read_config_text
from genvm_policy.reload import reload_instructions

__all__ = [
    "BACKUP_DIR",
    "MANIFEST_RELPATH",
    "SALT_RELPATH",
    "STATE_DIR",
    "Bundle",
    "Plan",
    "Report",
    "Step",
    "apply",
    "install",
    "plan_install",
    "plan_revert",
    "revert",
]

STATE_DIR = "config/genvm-policy"
MANIFEST_RELPATH = f"{STATE_DIR}/manifest.json"
BACKUP_DIR = f"{STATE_DIR}/backup"
SALT_RELPATH = f"{STATE_DIR}/salt"
KEY = "lua_script_path"
_PLACES = ("config/", "scripts/")

Verify = Callable[[Path], None]


@dataclass(frozen=True)
class Bundle:
    """What to install: files (path relative to the GenVM tree → bytes and mode)."""

    files: Mapping[str, tuple[bytes, int]]
    hook_relpath: str
    metadata: Mapping[str, Any]


@dataclass(frozen=True)
class Plan:
    """The ordered changes an install or revert makes, and notes for the operator."""

    tree: GenvmTree
    action: str
    steps: tuple[Step, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    """What `install` or `revert` did (or would do, in a dry run)."""

    tree: GenvmTree
    steps: tuple[str, ...]
    dry_run: bool
    reload_hint: str | None = None

    @property
    def changed(self) -> bool:
        """Whether anything on disk changed (or would change)."""
        return bool(self.steps)


# -- bundle checks -----------------------------------------------------------


def _check_relpath(rel: str) -> None:
    pure = PurePosixPath(rel)
    fine = (
        rel == str(pure)
        and not pure.is_absolute()
        and ".." not in pure.parts
        and rel.startswith(_PLACES)
        and rel != CONFIG_RELPATH
        and rel != MANIFEST_RELPATH
        and not rel.startswith(BACKUP_DIR + "/")
    )
    if not fine:
        raise PolicyError(
            "INSTALL_BUNDLE",
            ("files", rel),
            f"the bundle may not write `{rel}`",
            hint="bundle files are relative paths below config/ or scripts/, "
            "other than the LLM config and the installer's manifest and backups",
        )


def _check_metadata(value: Any, path: tuple[str | int, ...]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PolicyError("INSTALL_BUNDLE", path, "metadata keys must be text")
            _check_metadata(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_metadata(item, (*path, index))
    elif not (value is None or isinstance(value, str | bool | int)):
        raise PolicyError(
            "INSTALL_BUNDLE",
            path,
            "metadata holds a value other than text, integer, boolean, null, list or map",
        )


def _check_bundle(bundle: Bundle) -> None:
    for rel, (_, mode) in bundle.files.items():
        _check_relpath(rel)
        if not 0 <= mode <= 0o777:
            raise PolicyError("INSTALL_BUNDLE", ("files", rel), f"mode `{mode:o}` is not 0 … 0777")
    if bundle.hook_relpath not in bundle.files:
        raise PolicyError(
            "INSTALL_BUNDLE",
            ("hook_relpath",),
            f"the hook `{bundle.hook_relpath}` is not a file of the bundle",
        )
    _check_metadata(dict(bundle.metadata), ("metadata",))


# -- planning ----------------------------------------------------------------


def _key(rel: str) -> bytes:
    return rel.encode("utf-8")


def _sorted(rels: Any) -> list[str]:
    return sorted(rels, key=_key)


def _state(tree: GenvmTree, rel: str) -> FileState | None:
    return file_state(tree.root / rel)


def _leftovers(tree: GenvmTree, rels: list[str]) -> list[Step]:
    folders = {(tree.root / r).parent for r in rels} | {tree.root / STATE_DIR}
    state_dir = tree.root / STATE_DIR
    if state_dir.is_dir():
        folders.update(p for p in state_dir.rglob("*") if p.is_dir())
    steps = []
    for tmp in leftover_temps(sorted(folders)):
        rel = tmp.relative_to(tree.root).as_posix()
        steps.append(Step("clean", rel, f"remove `{rel}`, left by an interrupted run"))
    return steps


def _backup(tree: GenvmTree, rel: str, original: dict[str, Any]) -> FileState:
    backup = _state(tree, original["backup"])
    if backup is None or sha256_hex(backup[0]) != original["sha256"]:
        raise PolicyError(
            "INSTALL_BACKUP_MISSING",
            (original["backup"],),
            f"the backup of `{rel}` is missing or altered, so it cannot be restored",
            hint=f"put the original `{rel}` back by hand, then remove `{STATE_DIR}/`",
        )
    return backup[0], int(original["mode"], 8)


def _matches(state: FileState | None, record: dict[str, Any]) -> bool:
    return state is not None and (sha256_hex(state[0]), mode_text(state[1])) == (
        record["sha256"],
        record["mode"],
    )


def _restore(tree: GenvmTree, rel: str, original: dict[str, Any] | None) -> list[Step]:
    """Steps putting `rel` back as it was before the first install."""
    now = _state(tree, rel)
    if original is None:
        return [] if now is None else [Step("remove", rel, f"remove `{rel}`")]
    if _matches(now, original):
        return []
    data, mode = _backup(tree, rel, original)
    return [Step("restore", rel, f"restore `{rel}` from its backup", data, mode)]


def _place(
    tree: GenvmTree,
    rel: str,
    want: FileState,
    originals: dict[str, Any],
    created: list[str],
    making: set[str],
) -> list[Step]:
    """Steps putting one bundle file in place, backing up what it replaces (rules 2–3)."""
    now = _state(tree, rel)
    if rel not in originals:
        originals[rel] = None
        if now is not None:
            originals[rel] = {
                "sha256": sha256_hex(now[0]),
                "mode": mode_text(now[1]),
                "backup": f"{BACKUP_DIR}/{rel}",
            }
    steps: list[Step] = []
    original = originals[rel]
    if original is not None and _state(tree, original["backup"]) is None:
        if now is None or not _matches(now, original):
            _backup(tree, rel, original)  # raises: neither the original nor its backup is left
        else:
            backup_text = f"back up `{rel}` to `{original['backup']}`"
            steps.append(Step("backup", original["backup"], backup_text, now[0], now[1]))
    if now == want:
        return steps
    for folder in reversed(PurePosixPath(rel).parents[:-1]):
        name = folder.as_posix()
        if name not in making and not (tree.root / name).is_dir():
            making.add(name)
            if not name.startswith(STATE_DIR):
                created.append(name)
            steps.append(Step("mkdir", name, f"create folder `{name}`"))
    verb = "write" if now is None else "replace"
    text = f"{verb} `{rel}` ({len(want[0])} bytes, mode {mode_text(want[1])})"
    return [*steps, Step("write", rel, text, want[0], want[1])]


def _read_state(tree: GenvmTree) -> dict[str, Any] | None:
    manifest = load_manifest(tree.root / MANIFEST_RELPATH, MANIFEST_RELPATH)
    state_dir = tree.root / STATE_DIR
    if manifest is None and state_dir.is_dir():
        if any(not p.name.endswith(TMP_SUFFIX) for p in state_dir.rglob("*")):
            raise PolicyError(
                "INSTALL_FOREIGN_STATE",
                (STATE_DIR,),
                f"`{STATE_DIR}` holds files but no install manifest",
                hint="the installer owns that folder; move its contents away, then run again",
            )
    return manifest


def _manifest(
    tree: GenvmTree,
    bundle: Bundle,
    config: dict[str, Any],
    originals: dict[str, Any],
    created: list[str],
    state: str,
) -> bytes:
    files = {
        r: {"sha256": sha256_hex(d), "mode": mode_text(m)} for r, (d, m) in bundle.files.items()
    }
    return dump_manifest(
        {
            "format": MANIFEST_FORMAT,
            "state": state,
            "line": tree.line,
            "hook": bundle.hook_relpath,
            "config": config,
            "files": files,
            "originals": originals,
            "created_dirs": _sorted(created),
            "metadata": dict(bundle.metadata),
        }
    )


def plan_install(tree: GenvmTree, bundle: Bundle) -> Plan:
    """Plan installing `bundle` (rules 1–3); reads the tree, changes nothing."""
    _check_bundle(bundle)
    previous = _read_state(tree)
    wanted = _sorted(bundle.files)
    originals: dict[str, Any] = dict(previous["originals"]) if previous else {}
    created: list[str] = list(previous["created_dirs"]) if previous else []
    steps = _leftovers(tree, [*wanted, *originals, CONFIG_RELPATH])

    text = read_config_text(tree.config)
    scalar = yamledit.get_scalar(text, KEY)
    desired = tree.script_value(bundle.hook_relpath)
    new_text = text if scalar.value == desired else yamledit.replace_scalar(text, KEY, desired)
    config: dict[str, Any] = (
        dict(previous["config"])
        if previous
        else {
            "path": CONFIG_RELPATH,
            "key": KEY,
            "previous_value": scalar.value,
            "previous_raw": scalar.raw,
            "original_sha256": sha256_hex(text.encode("utf-8")),
        }
    )
    config["installed_value"] = desired
    config["installed_sha256"] = sha256_hex(new_text.encode("utf-8"))

    making = {STATE_DIR}  # made first, before the journal, when absent
    placing = [
        s
        for rel in wanted
        for s in _place(tree, rel, bundle.files[rel], originals, created, making)
    ]
    dropping = [
        s
        for rel in _sorted(originals)
        if rel not in bundle.files
        for s in _restore(tree, rel, originals[rel])
    ]
    journal = _manifest(tree, bundle, config, originals, created, "pending")
    kept = {rel: originals[rel] for rel in wanted}
    final = _manifest(tree, bundle, config, kept, created, "installed")

    if placing or dropping or new_text != text:
        if not (tree.root / STATE_DIR).is_dir():
            steps.append(Step("mkdir", STATE_DIR, f"create folder `{STATE_DIR}`"))
        steps.append(
            Step("journal", MANIFEST_RELPATH, "write the journal (state pending)", journal, 0o600)
        )
        steps += placing
        steps.append(Step("verify", "", "verify the installed files before the switch"))
        if new_text != text:
            steps.append(
                Step(
                    "switch",
                    CONFIG_RELPATH,
                    f"switch `{KEY}` in `{CONFIG_RELPATH}`: `{scalar.value}` -> `{desired}`",
                    new_text.encode("utf-8"),
                    tree.config.stat().st_mode & 0o7777,
                )
            )
        steps += dropping
    if steps or _state(tree, MANIFEST_RELPATH) != (final, 0o600):
        steps.append(
            Step(
                "manifest",
                MANIFEST_RELPATH,
                f"write `{MANIFEST_RELPATH}` (installed)",
                final,
                0o600,
            )
        )
    return Plan(tree, "install", tuple(steps))


def plan_revert(tree: GenvmTree) -> Plan:
    """Plan restoring the tree as it was before the first install (rules 5–6)."""
    manifest = _read_state(tree)
    originals: dict[str, Any] = manifest["originals"] if manifest else {}
    steps = _leftovers(tree, [*originals, CONFIG_RELPATH])
    notes: list[str] = []
    if manifest is None:
        if (tree.root / STATE_DIR).is_dir():
            steps.append(Step("rmdir", STATE_DIR, f"remove folder `{STATE_DIR}`"))
        return Plan(tree, "revert", tuple(steps), ("nothing is installed",))
    steps += _revert_config(tree, manifest["config"], notes)
    for rel in _sorted(originals):
        steps += _restore(tree, rel, originals[rel])
    state_dir = tree.root / STATE_DIR
    inside = sorted(state_dir.rglob("*"), key=lambda p: _key(p.as_posix()), reverse=True)
    for path in inside:
        rel = path.relative_to(tree.root).as_posix()
        if path.is_dir():
            steps.append(Step("rmdir", rel, f"remove folder `{rel}`"))
        elif rel != MANIFEST_RELPATH and not any(s.relpath == rel for s in steps):
            steps.append(Step("remove", rel, f"remove `{rel}`"))
    steps.append(Step("remove", MANIFEST_RELPATH, f"remove `{MANIFEST_RELPATH}`"))
    steps.append(Step("rmdir", STATE_DIR, f"remove folder `{STATE_DIR}`"))
    for name in _sorted(manifest["created_dirs"])[::-1]:
        steps.append(Step("rmdir", name, f"remove folder `{name}` (created by the install)"))
    return Plan(tree, "revert", tuple(steps), tuple(notes))


def _revert_config(tree: GenvmTree, config: dict[str, Any], notes: list[str]) -> list[Step]:
    text = read_config_text(tree.config)
    scalar = yamledit.get_scalar(text, KEY)
    if scalar.value != config["installed_value"]:
        if scalar.value != config["previous_value"]:
            notes.append(f"`{KEY}` is `{scalar.value}`, set since the install; left as it is")
        return []
    restored = yamledit.replace_raw(text, KEY, config["previous_raw"]).encode("utf-8")
    if sha256_hex(text.encode("utf-8")) != config["installed_sha256"]:
        notes.append(
            f"`{CONFIG_RELPATH}` changed since the install: only `{KEY}` is put back, "
            "the other changes stay"
        )
    elif sha256_hex(restored) != config["original_sha256"]:
        raise PolicyError(
            "INSTALL_BACKUP_MISSING",
            (CONFIG_RELPATH, KEY),
            "putting the previous value back does not give the original config bytes",
            hint=f"set `{KEY}` back to `{config['previous_value']}` by hand",
        )
    return [
        Step(
            "switch",
            CONFIG_RELPATH,
            f"switch `{KEY}` back: `{scalar.value}` -> `{config['previous_value']}`",
            restored,
            tree.config.stat().st_mode & 0o7777,
        )
    ]


# -- running -----------------------------------------------------------------


def apply(
    plan: Plan,
    *,
    verify: Verify | None = None,
    out: TextIO = sys.stdout,
    checkpoint: Checkpoint | None = None,
) -> None:
    """Carry out `plan`, reporting each step to `out` (rules 2 and 4).

    `verify` gets the GenVM tree root once the new files are in place and before
    the switch; a `PolicyError` from it undoes this run's changes and is re-raised.
    `checkpoint` is called with a step name before every change.
    """
    run_steps(plan.steps, plan.tree.root, verify=verify, out=out, checkpoint=checkpoint)


def _report(
    plan: Plan, dry_run: bool, verify: Verify | None, out: TextIO, checkpoint: Checkpoint | None
) -> Report:
    for line in plan.tree.describe():
        out.write(f"{line}\n")
    for note in plan.notes:
        out.write(f"note: {note}\n")
    if not plan.steps:
        out.write(f"{plan.action}: nothing to change\n")
    elif dry_run:
        out.write(f"{plan.action} (dry run: these changes would be made, none is):\n")
        for step in plan.steps:
            out.write(f"  {step.text}\n")
    else:
        out.write(f"{plan.action}:\n")
        apply(plan, verify=verify, out=out, checkpoint=checkpoint)
        out.write(f"{plan.action}: done\n")
    switched = any(s.kind == "switch" for s in plan.steps)
    hint = reload_instructions(plan.tree.line) if switched else None
    if hint is not None and not dry_run:
        out.write(f"GenVM reads the script only when it builds its Lua VMs. {hint}\n")
    return Report(plan.tree, tuple(s.text for s in plan.steps), dry_run, hint)


def install(
    path: Path,
    bundle: Bundle,
    *,
    version_dir: str | None = None,
    dry_run: bool = False,
    verify: Verify | None = None,
    out: TextIO = sys.stdout,
    checkpoint: Checkpoint | None = None,
) -> Report:
    """Find the GenVM tree at `path`, then install `bundle` there (or show how, if `dry_run`)."""
    tree = find_tree(path, version_dir)
    return _report(plan_install(tree, bundle), dry_run, verify, out, checkpoint)


def revert(
    path: Path,
    *,
    version_dir: str | None = None,
    dry_run: bool = False,
    out: TextIO = sys.stdout,
    checkpoint: Checkpoint | None = None,
) -> Report:
    """Restore the GenVM tree at `path` as it was before the first install."""
    tree = find_tree(path, version_dir)
    return _report(plan_revert(tree), dry_run, None, out, checkpoint)
