"""File-system primitives of the installer: atomic writes, file states, the manifest file.

Spec: docs/INSTALL.md §4 (On-disk layout) and §6 (Atomicity and recovery).

Rules:
1. Every write goes through one primitive, `atomic_write`: the whole buffer is
   written to a temporary file in the target's own folder, named
   `.<name>.genvm-policy-tmp` (looping on short writes), which gets its owner
   and mode and is fsynced; it then replaces the target with a rename and the
   folder is fsynced. On any error (ENOSPC, EDQUOT, EIO, EROFS, EACCES …) the
   temporary file is removed, the target is left byte for byte as it was, and
   the error names the file and the cause. A reader sees the whole old file or
   the whole new one.
2. A crash can leave only such temporary files behind; their fixed name lets
   the next install or revert find and remove them.
3. Each change made by `run_steps` is recorded with what was there before
   (bytes, mode, owner), so a refused step or a failed verification undoes the
   run, newest change first.
4. The manifest is JSON with sorted keys and no time stamps, so the same
   install writes the same bytes and a repeated install changes nothing.
5. A replaced file keeps its owner and group; a new file or folder takes those
   of the tree's `config/` folder, the user GenVM runs as.
6. Writes go to the real file behind a link, so a link stays a link; a link
   leading out of the GenVM tree is refused unless the operator allows it.
7. After the `lua_script_path` switch the config is read back and compared,
   through the YAML loader, with the one before; anything but the one change
   puts the previous bytes back and stops. A config put back whole from its
   backup (`put_back`) is read back and compared with the backup.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from genvm_policy.core.errors import PolicyError
from genvm_policy.operator import yamledit

__all__ = [
    "LOCK_NAME",
    "MANIFEST_FORMAT",
    "SEAM",
    "STATE_NAME",
    "SWITCH_KEY",
    "TMP_SUFFIX",
    "Checkpoint",
    "FileState",
    "Owner",
    "Seam",
    "Step",
    "atomic_write",
    "check_links",
    "dump_manifest",
    "file_owner",
    "file_state",
    "io_error",
    "leftover_temps",
    "load_manifest",
    "make_dir",
    "mode_text",
    "real_path",
    "remove_file",
    "run_steps",
    "sha256_hex",
    "write_all",
]

MANIFEST_FORMAT = "genvm-policy-install/1"
TMP_SUFFIX = ".genvm-policy-tmp"
STATE_NAME = "genvm-policy"
LOCK_NAME = "lock"
SWITCH_KEY = "lua_script_path"

FileState = tuple[bytes, int]
"""A regular file's bytes and permission bits."""

Owner = tuple[int, int]
"""A file's (uid, gid)."""

Checkpoint = Callable[[str], None]
"""Called with a step name before each change; tests raise from it to simulate a crash."""


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256 of `data` (file integrity, not a spec identity)."""
    return hashlib.sha256(data).hexdigest()


def mode_text(mode: int) -> str:
    """Permission bits as four octal digits, e.g. `0644`."""
    return f"{mode:04o}"


_IO_HINTS = {
    errno.ENOSPC: "free space on that file system, then run again",
    errno.EDQUOT: "the disk quota is used up; free space or raise the quota, then run again",
    errno.EROFS: "that file system is mounted read-only; remount it read-write, then run again",
    errno.EACCES: "run as the user that owns the GenVM tree, or as root",
    errno.EPERM: "run as the user that owns the GenVM tree, or as root",
    errno.EIO: "the disk reported an I/O error; check it (dmesg, SMART) before running again",
}


def io_error(path: Path, err: OSError, doing: str, after: str = "") -> PolicyError:
    """`INSTALL_IO` naming the file, the cause (with its errno name) and what to do."""
    name = errno.errorcode.get(err.errno or 0, "")
    cause = (err.strerror or str(err)) + (f" ({name})" if name else "")
    return PolicyError(
        "INSTALL_IO",
        (str(path),),
        f"cannot {doing} `{path}`: {cause}{after}",
        hint=_IO_HINTS.get(err.errno or 0, "check ownership and free space, then run again"),
    )


def file_state(path: Path) -> FileState | None:
    """The file's bytes and mode, or None when nothing is there."""
    try:
        if not path.is_file():
            return None
        return path.read_bytes(), path.stat().st_mode & 0o7777
    except OSError as err:
        raise io_error(path, err, "read") from None


def file_owner(path: Path) -> Owner | None:
    """The (uid, gid) of what is at `path` (through links), or None when nothing is there."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as err:
        raise io_error(path, err, "read") from None
    return st.st_uid, st.st_gid


class Seam:
    """The system calls of `atomic_write`, in one place so that tests can make each one fail."""

    def __init__(self) -> None:
        self.write: Callable[[int, memoryview], int] = os.write
        self.fsync: Callable[[int], None] = os.fsync
        self.replace: Callable[[Path, Path], None] = os.replace


SEAM = Seam()
"""The seam every installer write goes through (rule 1)."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        SEAM.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """Write all of `data` to `fd` through the seam, looping on short writes (rule 1)."""
    view = memoryview(data)
    while view:
        done = SEAM.write(fd, view)
        if done <= 0:
            raise OSError(errno.EIO, "the file system took no bytes")
        view = view[done:]


def atomic_write(
    path: Path,
    data: bytes,
    mode: int,
    label: str,
    checkpoint: Checkpoint | None,
    owner: Owner | None = None,
) -> None:
    """Replace `path` by `data` with `mode` and `owner` (rules 1 and 5).

    `checkpoint` runs before the rename. On any error the temporary file is
    removed and `path` is left as it was; the error names the file and the cause.
    """
    tmp = path.parent / f".{path.name}{TMP_SUFFIX}"
    fd = -1
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        write_all(fd, data)
        st = os.fstat(fd)
        if owner is not None and owner != (st.st_uid, st.st_gid):
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
        SEAM.fsync(fd)
        os.close(fd)
        fd = -1
        if checkpoint is not None:
            checkpoint(f"rename {label}")
        SEAM.replace(tmp, path)
    except OSError as err:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise io_error(path, err, "write", "; it was left as it was") from None
    try:
        _fsync_dir(path.parent)
    except OSError as err:
        raise io_error(path.parent, err, "sync the folder of", " after replacing a file") from None


def remove_file(path: Path) -> None:
    """Remove one file (absent is fine) and fsync its folder."""
    try:
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
    except OSError as err:
        raise io_error(path, err, "remove") from None


def make_dir(path: Path, mode: int, owner: Owner | None) -> None:
    """Create one folder with `mode` and `owner` (rule 5) and fsync its parent."""
    try:
        path.mkdir(mode=mode)
    except OSError as err:
        raise io_error(path, err, "create the folder") from None
    try:
        if owner is not None and owner != file_owner(path):
            os.chown(path, *owner)
        os.chmod(path, mode)
        _fsync_dir(path.parent)
    except OSError as err:
        with contextlib.suppress(OSError):
            path.rmdir()
        raise io_error(path, err, "create the folder") from None


def real_path(root: Path, rel: str) -> Path:
    """Where `rel` below `root` really is: every link followed, so writes go through links."""
    return Path(os.path.realpath(root / rel))


def check_links(root: Path, rels: Iterable[str], follow: bool) -> None:
    """Refuse a path that is, or lies below, a link leading out of `root` (rule 6)."""
    top = Path(os.path.realpath(root))
    for rel in rels:
        real = real_path(root, rel)
        if follow or real == top or real.is_relative_to(top):
            continue
        raise PolicyError(
            "INSTALL_SYMLINK",
            (rel,),
            f"`{rel}` is a link that leads out of the GenVM tree, to `{real}`",
            hint="pass --follow-symlinks to write through the link (the link is kept), "
            "or replace the link by the file itself",
        )


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
    """One change on disk; `text` is the line reported for it.

    `owner` is the (uid, gid) to give the file; None keeps the owner of the file
    replaced, or gives a new file the owner of the tree's `config/` folder.
    """

    kind: str
    relpath: str
    text: str
    data: bytes = b""
    mode: int = 0
    owner: Owner | None = None


@dataclass(frozen=True)
class _Undo:
    path: Path
    prior: FileState | None
    owner: Owner | None
    folder: str = ""  # "made" or "removed" for a folder this run created or removed
    mode: int = 0


def _new_owner(root: Path) -> Owner | None:
    return file_owner(root / "config")


def _mkdir(root: Path, path: Path, undo: list[_Undo]) -> None:
    for folder in [*reversed(path.parents), path]:
        if not folder.is_dir():
            mode = 0o700 if folder.name == STATE_NAME else 0o755
            make_dir(folder, mode, _new_owner(root))
            undo.append(_Undo(folder, None, None, "made"))


def _check_switch(path: Path, before: bytes, wanted: bytes) -> None:
    """Re-read the switched config and compare it with the YAML loader (rule 7)."""
    after = file_state(path)
    data = b"" if after is None else after[0]
    value = yamledit.get_scalar(wanted.decode("utf-8"), SWITCH_KEY).value
    try:
        problem = yamledit.one_change(
            before.decode("utf-8", "replace"), data.decode("utf-8"), SWITCH_KEY, value
        )
    except UnicodeDecodeError:
        problem = "it is no longer UTF-8 text"
    if data != wanted and problem is None:
        problem = "its bytes are not the ones written"
    if problem is not None:
        raise PolicyError(
            "INSTALL_CONFIG_CHECK",
            (str(path), SWITCH_KEY),
            f"read back after the switch, `{path}` is wrong: {problem}",
            hint="the previous config was put back; check the disk, then run again",
        )


def _run(
    step: Step, root: Path, undo: list[_Undo], checkpoint: Checkpoint | None, out: TextIO
) -> None:
    path = real_path(root, step.relpath)
    if step.kind == "mkdir":
        _mkdir(root, path, undo)
    elif step.kind == "rmdir":
        if (root / step.relpath).is_symlink():
            out.write(f"  note: `{step.relpath}` is a link; kept, as it was before the install\n")
            return
        try:
            mode = path.stat().st_mode & 0o7777
            owner = file_owner(path)
            path.rmdir()
            undo.append(_Undo(path, None, owner, "removed", mode))
        except FileNotFoundError:
            pass
        except OSError:
            if {p.name for p in path.iterdir()} - {LOCK_NAME}:
                out.write(
                    f"  note: `{step.relpath}` is not empty (files added by hand); left in place\n"
                )
    elif step.kind in ("clean", "remove"):
        undo.append(_Undo(path, file_state(path), file_owner(path)))
        remove_file(path)
    else:
        if step.kind == "backup":
            _mkdir(root, path.parent, undo)
        prior = file_state(path)
        prior_owner = file_owner(path) if prior is not None else None
        undo.append(_Undo(path, prior, prior_owner))
        owner = step.owner or prior_owner or _new_owner(root)
        atomic_write(path, step.data, step.mode, step.relpath, checkpoint, owner)
        if step.kind in ("switch", "put_back") and prior is not None:
            # A whole-config put back is compared with itself: the file before may be damaged.
            before = step.data if step.kind == "put_back" else prior[0]
            try:
                _check_switch(path, before, step.data)
            except PolicyError:
                undo.pop()
                atomic_write(path, prior[0], prior[1], step.relpath, None, prior_owner)
                raise


def _rollback(undo: list[_Undo], out: TextIO) -> None:
    left: list[str] = []
    for item in reversed(undo):
        try:
            if item.folder == "made":
                item.path.rmdir()
            elif item.folder == "removed":
                make_dir(item.path, item.mode, item.owner)
            elif item.prior is None:
                remove_file(item.path)
            else:
                atomic_write(item.path, *item.prior, str(item.path), None, item.owner)
        except (PolicyError, OSError):
            left.append(str(item.path))
    if left:
        out.write(
            f"  could not undo every change ({', '.join(left)}): "
            "`status` shows what is left and `revert` takes it off\n"
        )
    else:
        out.write("  every change of this run was undone; the tree is as it was\n")


def run_steps(
    steps: Sequence[Step],
    root: Path,
    *,
    verify: Callable[[Path], None] | None,
    out: TextIO,
    checkpoint: Checkpoint | None,
) -> None:
    """Carry out `steps` under `root` in order (rule 3); any refused step undoes the run."""
    undo: list[_Undo] = []
    try:
        for step in steps:
            if checkpoint is not None:
                checkpoint(f"{step.kind} {step.relpath}".rstrip())
            out.write(f"  {step.text}\n")
            if step.kind != "verify":
                _run(step, root, undo, checkpoint, out)
            elif verify is None:
                out.write("    (no verification was asked for)\n")
            else:
                try:
                    verify(root)
                except PolicyError:
                    out.write("  verification failed: nothing was switched\n")
                    raise
                out.write("    verified\n")
    except PolicyError:
        _rollback(undo, out)
        raise
