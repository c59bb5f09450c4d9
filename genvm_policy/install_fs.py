"""File-system primitives of the installer: atomic writes, file states, the manifest file.

Spec: docs/INSTALL.md §4 (On-disk layout) and §6 (Atomicity and recovery).

Rules:
1. Every write goes to a temporary file in the target's own folder, named
   `.<name>.genvm-policy-tmp`, is flushed and fsynced, gets its final mode,
   and then replaces the target with `os.replace`; the folder is fsynced
   after. A reader sees the whole old file or the whole new one.
2. A crash can leave only such temporary files behind; their fixed name lets
   the next install or revert find and remove them.
3. Each change made by `run_steps` is recorded with what was there before,
   so a failed verification can undo the run, newest change first.
4. The manifest is JSON with sorted keys and no time stamps, so the same
   install writes the same bytes and a repeated install changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from genvm_policy.errors import PolicyError

__all__ = [
    "MANIFEST_FORMAT",
    "TMP_SUFFIX",
    "Checkpoint",
    "FileState",
    "Step",
    "atomic_write",
    "dump_manifest",
    "file_state",
    "leftover_temps",
    "load_manifest",
    "mode_text",
    "remove_file",
    "run_steps",
    "sha256_hex",
]

MANIFEST_FORMAT = "genvm-policy-install/1"
TMP_SUFFIX = ".genvm-policy-tmp"

FileState = tuple[bytes, int]
"""A regular file's bytes and permission bits."""

Checkpoint = Callable[[str], None]
"""Called with a step name before each change; tests raise from it to simulate a crash."""


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of `data` (file integrity, not a spec identity)."""
    return hashlib.sha256(data).hexdigest()


def mode_text(mode: int) -> str:
    """Permission bits as four octal digits, e.g. `0644`."""
    return f"{mode:04o}"


def _io_error(path: Path, err: OSError, doing: str) -> PolicyError:
    return PolicyError(
        "INSTALL_IO",
        (str(path),),
        f"cannot {doing} `{path}`: {err.strerror or err}",
        hint="check ownership and free space; run as the user that owns the GenVM tree",
    )


def file_state(path: Path) -> FileState | None:
    """The file's bytes and mode, or None when nothing is there."""
    try:
        if not path.is_file():
            return None
        return path.read_bytes(), path.stat().st_mode & 0o7777
    except OSError as err:
        raise _io_error(path, err, "read") from None


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: Path, data: bytes, mode: int, label: str, checkpoint: Checkpoint | None
) -> None:
    """Replace `path` by `data` with `mode` (rule 1); `checkpoint` runs before the rename."""
    tmp = path.parent / f".{path.name}{TMP_SUFFIX}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if checkpoint is not None:
            checkpoint(f"rename {label}")
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        raise _io_error(path, err, "write") from None


def remove_file(path: Path) -> None:
    """Remove one file (absent is fine) and fsync its folder."""
    try:
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
    except OSError as err:
        raise _io_error(path, err, "remove") from None


def leftover_temps(folders: list[Path]) -> list[Path]:
    """Temporary files a crash left in `folders` (rule 2), in bytes order."""
    found: set[Path] = set()
    for folder in folders:
        if folder.is_dir():
            found.update(p for p in folder.iterdir() if p.name.endswith(TMP_SUFFIX))
    return sorted(found, key=lambda p: str(p).encode("utf-8"))


def dump_manifest(manifest: dict[str, Any]) -> bytes:
    """The manifest's canonical bytes (rule 4)."""
    text = json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def load_manifest(path: Path, relpath: str) -> dict[str, Any] | None:
    """Read the manifest, None if absent; an unreadable or foreign one is `INSTALL_MANIFEST`."""
    state = file_state(path)
    if state is None:
        return None
    try:
        value = json.loads(state[0].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        value = None
    if not isinstance(value, dict) or value.get("format") != MANIFEST_FORMAT:
        raise PolicyError(
            "INSTALL_MANIFEST",
            (relpath,),
            f"the install manifest is not a `{MANIFEST_FORMAT}` document",
            hint="it was changed by hand or by another tool; restore it or remove the folder",
        )
    for key in ("state", "line", "hook", "config", "files", "originals", "created_dirs"):
        if key not in value:
            raise PolicyError(
                "INSTALL_MANIFEST", (relpath, key), f"the install manifest lacks `{key}`"
            )
    return value


@dataclass(frozen=True)
class Step:
    """One change on disk; `text` is the line reported for it."""

    kind: str
    relpath: str
    text: str
    data: bytes = b""
    mode: int = 0


_Undo = tuple[Path, FileState | None, bool]  # (path, prior file state, is a created folder)


def _mkdir(path: Path, undo: list[_Undo]) -> None:
    for folder in [*reversed(path.parents), path]:
        if not folder.is_dir():
            try:
                folder.mkdir(mode=0o700 if folder.name == "genvm-policy" else 0o755)
            except OSError as err:
                raise PolicyError(
                    "INSTALL_IO", (str(folder),), f"cannot create `{folder}`: {err.strerror or err}"
                ) from None
            undo.append((folder, None, True))


def _run(
    step: Step, root: Path, undo: list[_Undo], checkpoint: Checkpoint | None, out: TextIO
) -> None:
    path = root / step.relpath
    if step.kind == "mkdir":
        _mkdir(path, undo)
    elif step.kind == "rmdir":
        try:
            path.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            out.write(
                f"  note: `{step.relpath}` is not empty (files added by hand); left in place\n"
            )
    elif step.kind in ("clean", "remove"):
        undo.append((path, file_state(path), False))
        remove_file(path)
    else:
        if step.kind == "backup":
            _mkdir(path.parent, undo)
        undo.append((path, file_state(path), False))
        atomic_write(path, step.data, step.mode, step.relpath, checkpoint)


def _rollback(undo: list[_Undo]) -> None:
    for path, prior, is_dir in reversed(undo):
        if is_dir:
            path.rmdir()
        elif prior is None:
            remove_file(path)
        else:
            atomic_write(path, prior[0], prior[1], str(path), None)


def run_steps(
    steps: Sequence[Step],
    root: Path,
    *,
    verify: Callable[[Path], None] | None,
    out: TextIO,
    checkpoint: Checkpoint | None,
) -> None:
    """Carry out `steps` under `root` in order (rule 3); a failed `verify` step undoes them."""
    undo: list[_Undo] = []
    for step in steps:
        if checkpoint is not None:
            checkpoint(f"{step.kind} {step.relpath}".rstrip())
        out.write(f"  {step.text}\n")
        if step.kind != "verify":
            _run(step, root, undo, checkpoint, out)
            continue
        if verify is None:
            out.write("    (no verification was asked for)\n")
            continue
        try:
            verify(root)
        except PolicyError:
            out.write("  verification failed: undoing this run's changes; nothing was switched\n")
            _rollback(undo)
            raise
        out.write("    verified\n")
