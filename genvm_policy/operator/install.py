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
5. The whole LLM config is backed up (mode 0600, in the 0700 state folder,
   the config's owner) right after the journal of the first install, and kept
   until revert; the manifest also keeps the previous value's exact text and
   the file's hash. Revert puts the backup back when the config is as the
   install left it, else puts only the value back and keeps the operator's
   edits.
6. Revert restores every file the installer replaced from its backup, with
   its owner, group and mode, removes every file and folder it created, and
   removes its state folder last but the manifest, so an interrupted revert
   can run again.
7. Every path the run writes is checked for links leading out of the tree
   before anything changes (`install_fs.check_links`).
8. A report says whether anything GenVM reads changed (the config, the hook,
   the compiled policy, the salt): only then is a reload needed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TextIO

from genvm_policy.core.errors import PolicyError
from genvm_policy.operator import yamledit
from genvm_policy.operator.install_config import (
    CONFIG_BACKUP,
    check_edit,
    config_backup,
    revert_config,
)
from genvm_policy.operator.install_fs import (
    LOCK_NAME,
    MANIFEST_FORMAT,
    SWITCH_KEY,
    TMP_SUFFIX,
    Checkpoint,
    FileState,
    Step,
    check_links,
    dump_manifest,
    file_owner,
    file_state,
    leftover_temps,
    load_manifest,
    mode_text,
    run_steps,
    sha256_hex,
)
from genvm_policy.operator.install_lock import hold
from genvm_policy.operator.nodetree import CONFIG_RELPATH, GenvmTree, find_tree, read_config_text
from genvm_policy.operator.reload import reload_instructions

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
    "reads_genvm",
    "reload_step",
    "revert",
]

STATE_DIR = "config/genvm-policy"
MANIFEST_RELPATH = f"{STATE_DIR}/manifest.json"
BACKUP_DIR = f"{STATE_DIR}/backup"
SALT_RELPATH = f"{STATE_DIR}/salt"
KEY = SWITCH_KEY
_PLACES = ("config/", "scripts/")

Verify = Callable[[Path], None]


@dataclass(frozen=True)
class Bundle:
    """What to install: files (path relative to the GenVM tree → bytes and mode)."""

    files: Mapping[str, tuple[bytes, int]]
    hook_relpath: str
    metadata: Mapping[str, Any]
    overlay: Mapping[str, str] | None = None
    """The overlay the catalog was built with: its `path` and `sha256`, for `status`."""


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
    reload_needed: bool = False

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


def _matches(state: FileState | None, record: dict[str, Any], path: Path | None = None) -> bool:
    same = state is not None and (sha256_hex(state[0]), mode_text(state[1])) == (
        record["sha256"],
        record["mode"],
    )
    if same and path is not None and "uid" in record:
        return file_owner(path) == (record["uid"], record["gid"])
    return same


def _recorded_owner(record: dict[str, Any]) -> tuple[int, int] | None:
    return (record["uid"], record["gid"]) if "uid" in record else None


def reads_genvm(step: Step) -> bool:
    """Whether `step` changes a file GenVM reads: the config or a bundle file (rule 8)."""
    if step.kind not in ("write", "switch", "put_back", "restore", "remove"):
        return False
    return step.relpath == CONFIG_RELPATH or not (
        step.relpath == MANIFEST_RELPATH or step.relpath.startswith(BACKUP_DIR + "/")
    )


def _restore(tree: GenvmTree, rel: str, original: dict[str, Any] | None) -> list[Step]:
    """Steps putting `rel` back as it was before the first install."""
    now = _state(tree, rel)
    if original is None:
        return [] if now is None else [Step("remove", rel, f"remove `{rel}`")]
    if _matches(now, original, tree.root / rel):
        return []
    data, mode = _backup(tree, rel, original)
    owner = _recorded_owner(original)
    return [Step("restore", rel, f"restore `{rel}` from its backup", data, mode, owner)]


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
        owner = file_owner(tree.root / rel)
        if now is not None and owner is not None:
            originals[rel] = {
                "sha256": sha256_hex(now[0]),
                "mode": mode_text(now[1]),
                "backup": f"{BACKUP_DIR}/{rel}",
                "uid": owner[0],
                "gid": owner[1],
            }
    steps: list[Step] = []
    original = originals[rel]
    if original is not None and _state(tree, original["backup"]) is None:
        if now is None or not _matches(now, original):
            _backup(tree, rel, original)  # raises: neither the original nor its backup is left
        else:
            backup_text = f"back up `{rel}` to `{original['backup']}`"
            owner = file_owner(tree.root / rel)
            steps.append(Step("backup", original["backup"], backup_text, now[0], now[1], owner))
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
        if any(_ours(tree, p) for p in state_dir.rglob("*")):
            raise PolicyError(
                "INSTALL_FOREIGN_STATE",
                (STATE_DIR,),
                f"`{STATE_DIR}` holds files but no install manifest",
                hint="the installer owns that folder; move its contents away, then run again",
            )
    return manifest


def _ours(tree: GenvmTree, path: Path) -> bool:
    """Whether `path` in the state folder is more than a crash leftover or the lock."""
    lock = tree.root / STATE_DIR / LOCK_NAME
    return not path.name.endswith(TMP_SUFFIX) and path != lock


def _state_dir_new(tree: GenvmTree) -> bool:
    """Whether the state folder is absent, or there only for this run's lock."""
    state_dir = tree.root / STATE_DIR
    return not state_dir.is_dir() or all(p.name == LOCK_NAME for p in state_dir.iterdir())


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
            "overlay": None if bundle.overlay is None else dict(bundle.overlay),
        }
    )


def plan_install(tree: GenvmTree, bundle: Bundle, *, follow_symlinks: bool = False) -> Plan:
    """Plan installing `bundle` (rules 1–3, 5, 7); reads the tree, changes nothing."""
    _check_bundle(bundle)
    check_links(tree.root, [CONFIG_RELPATH, STATE_DIR, *bundle.files], follow_symlinks)
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
            "backup": CONFIG_BACKUP,
        }
    )
    if new_text != text:
        check_edit(text, new_text, desired)
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
        if _state_dir_new(tree):
            steps.append(Step("mkdir", STATE_DIR, f"create folder `{STATE_DIR}`"))
        steps.append(
            Step("journal", MANIFEST_RELPATH, "write the journal (state pending)", journal, 0o600)
        )
        steps += config_backup(tree, config, text)
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


def plan_revert(tree: GenvmTree, *, follow_symlinks: bool = False) -> Plan:
    """Plan restoring the tree as it was before the first install (rules 5–7)."""
    manifest = _read_state(tree)
    relpaths = [] if manifest is None else list(manifest["originals"])
    check_links(tree.root, [CONFIG_RELPATH, STATE_DIR, *relpaths], follow_symlinks)
    originals: dict[str, Any] = manifest["originals"] if manifest else {}
    steps = _leftovers(tree, [*originals, CONFIG_RELPATH])
    notes: list[str] = []
    if manifest is None:
        if not _state_dir_new(tree):
            steps.append(Step("rmdir", STATE_DIR, f"remove folder `{STATE_DIR}`"))
        return Plan(tree, "revert", tuple(steps), ("nothing is installed",))
    if manifest["state"] != "pending":
        # From here on the install is neither whole nor gone: `status` must say so.
        journal = dump_manifest({**manifest, "state": "pending"})
        text = "write the journal (state pending: a revert is under way)"
        steps.append(Step("journal", MANIFEST_RELPATH, text, journal, 0o600))
    steps += revert_config(tree, manifest["config"], notes)
    for rel in _sorted(originals):
        steps += _restore(tree, rel, originals[rel])
    state_dir = tree.root / STATE_DIR
    inside = sorted(state_dir.rglob("*"), key=lambda p: _key(p.as_posix()), reverse=True)
    for path in inside:
        rel = path.relative_to(tree.root).as_posix()
        if not _ours(tree, path) and not path.name.endswith(TMP_SUFFIX):
            continue  # the lock: released, and removed, when the run ends
        if path.is_dir():
            steps.append(Step("rmdir", rel, f"remove folder `{rel}`"))
        elif rel != MANIFEST_RELPATH and not any(s.relpath == rel for s in steps):
            steps.append(Step("remove", rel, f"remove `{rel}`"))
    steps.append(Step("remove", MANIFEST_RELPATH, f"remove `{MANIFEST_RELPATH}`"))
    steps.append(Step("rmdir", STATE_DIR, f"remove folder `{STATE_DIR}`"))
    for name in _sorted(manifest["created_dirs"])[::-1]:
        steps.append(Step("rmdir", name, f"remove folder `{name}` (created by the install)"))
    return Plan(tree, "revert", tuple(steps), tuple(notes))


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


Reload = Callable[[GenvmTree], str]
"""Restarts GenVM's LLM module and returns what confirmed it (the CLI's `--reload`)."""


def reload_step(tree: GenvmTree, needed: bool, reload: Reload | None, out: TextIO) -> str | None:
    """Reload when a file GenVM reads changed (rule 8), or print the exact next step."""
    if not needed:
        out.write("reload: nothing GenVM reads changed, so nothing is reloaded\n")
        return None
    hint = reload_instructions(tree.line)
    if reload is None:
        out.write(f"reload: GenVM reads these files only when it builds its Lua VMs. {hint}\n")
        return hint
    out.write(f"reload: {reload(tree)}\n")
    return None


def _report(
    plan: Plan,
    dry_run: bool,
    verify: Verify | None,
    out: TextIO,
    checkpoint: Checkpoint | None,
    reload: Reload | None,
) -> Report:
    for line in plan.tree.describe():
        out.write(f"{line}\n")
    for note in plan.notes:
        out.write(f"note: {note}\n")
    needed = any(reads_genvm(s) for s in plan.steps)
    if not plan.steps:
        out.write(f"{plan.action}: nothing to change, so nothing changed\n")
    elif dry_run:
        out.write(f"{plan.action} (dry run: these changes would be made, none is):\n")
        for step in plan.steps:
            out.write(f"  {step.text}\n")
        return Report(plan.tree, tuple(s.text for s in plan.steps), dry_run, None, needed)
    else:
        out.write(f"{plan.action}:\n")
        apply(plan, verify=verify, out=out, checkpoint=checkpoint)
        out.write(f"{plan.action}: done\n")
    hint = reload_step(plan.tree, needed, reload, out)
    return Report(plan.tree, tuple(s.text for s in plan.steps), dry_run, hint, needed)


def install(
    path: Path,
    bundle: Bundle,
    *,
    version_dir: str | None = None,
    dry_run: bool = False,
    verify: Verify | None = None,
    out: TextIO = sys.stdout,
    checkpoint: Checkpoint | None = None,
    wait: float = 0,
    follow_symlinks: bool = False,
    reload: Reload | None = None,
) -> Report:
    """Find the GenVM tree at `path`, then install `bundle` there (or show how, if `dry_run`).

    The whole run holds the tree's lock (`install_lock`), waiting up to `wait` seconds.
    """
    tree = find_tree(path, version_dir)
    check_links(tree.root, [STATE_DIR], follow_symlinks)
    with hold(tree.root, wait, out, read_only=dry_run):
        plan = plan_install(tree, bundle, follow_symlinks=follow_symlinks)
        return _report(plan, dry_run, verify, out, checkpoint, reload)


def revert(
    path: Path,
    *,
    version_dir: str | None = None,
    dry_run: bool = False,
    out: TextIO = sys.stdout,
    checkpoint: Checkpoint | None = None,
    wait: float = 0,
    follow_symlinks: bool = False,
    reload: Reload | None = None,
) -> Report:
    """Restore the GenVM tree at `path` as it was before the first install, under the lock."""
    tree = find_tree(path, version_dir)
    check_links(tree.root, [STATE_DIR], follow_symlinks)
    with hold(tree.root, wait, out, read_only=dry_run):
        plan = plan_revert(tree, follow_symlinks=follow_symlinks)
        return _report(plan, dry_run, None, out, checkpoint, reload)
