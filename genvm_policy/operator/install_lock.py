"""One installer run at a time on a GenVM tree: the lock in the installer's state folder.

Spec: docs/INSTALL.md §6.1 (One run at a time).

Rules:
1. `install`, `revert` and `status` hold `config/genvm-policy/lock` for their
   whole run as an exclusive `flock` on that file. The kernel drops a `flock`
   when its process ends, however it ends, so a lock never outlives its holder.
2. The holder writes its pid and the time it took the lock (UTC) into the file,
   so a second run can name it.
3. A second run tries again every 0.1 s for up to `wait` seconds, then stops
   with `INSTALL_LOCKED`, naming the holder.
4. A lock file that names a holder while nobody holds the `flock` is stale (its
   holder died, e.g. kill -9): it is taken over, and the run says whose it was.
5. The state folder is created for the lock when absent (owner of `config/`,
   mode 0700). On release the lock file is removed, then the state folder if
   nothing else is left in it, so a run on a clean tree leaves it clean.
6. A run that only reads (`status`, a dry run) goes on without the lock, with
   a note, when the file system refuses to create it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from genvm_policy.core.errors import PolicyError
from genvm_policy.operator.install_fs import LOCK_NAME, STATE_NAME, file_owner, io_error, make_dir

__all__ = ["LOCK_RELPATH", "hold"]

LOCK_RELPATH = f"config/{STATE_NAME}/{LOCK_NAME}"
_POLL_SECONDS = 0.1


def _holder(fd: int) -> str:
    """The `pid N (started T)` a lock file names, or "" when it names none."""
    try:
        words = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        return ""
    if len(words) != 2 or not words[0].isdigit():
        return ""
    return f"pid {words[0]} (started {words[1]})"


def _open_locked(lock: Path, owner: tuple[int, int] | None) -> int | None:
    """An fd holding the `flock` on the file now at `lock`, or None when another run holds it."""
    while True:
        if not lock.parent.is_dir():
            try:
                make_dir(lock.parent, 0o700, owner)
            except PolicyError:
                if not lock.parent.is_dir():
                    raise
                # another run made the folder between the test and the mkdir: use it
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except FileNotFoundError:
            continue  # the folder went away with a releasing holder: make it again
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        # The holder removed that file as it released it; lock the file now at the path.
        os.close(fd)


def _busy(lock: Path) -> str:
    """The holder the lock file names; a holder that has just taken the `flock` writes its
    name a moment later (rule 2), so an empty file is read again for up to a second."""
    for _ in range(20):
        try:
            fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return "another run"
        try:
            named = _holder(fd)
        finally:
            os.close(fd)
        if named:
            return named
        time.sleep(_POLL_SECONDS / 2)
    return "another run"


def _acquire(root: Path, wait: float, out: TextIO) -> int:
    lock = root / LOCK_RELPATH
    owner = file_owner(root / "config")
    deadline = time.monotonic() + max(wait, 0.0)
    while True:
        fd = _open_locked(lock, owner)
        if fd is not None:
            break
        if time.monotonic() >= deadline:
            raise PolicyError(
                "INSTALL_LOCKED",
                (LOCK_RELPATH,),
                f"{_busy(lock)} holds `{LOCK_RELPATH}`: one install, revert or status at a time",
                hint="wait for it to finish, or pass --wait SECONDS to wait for it",
            )
        time.sleep(_POLL_SECONDS)
    stale = _holder(fd)
    if stale:
        out.write(
            f"note: took over a stale lock of {stale}: that run ended without releasing it; "
            "what it left is reported below\n"
        )
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {stamp}\n".encode("ascii"), 0)
        if owner is not None and owner != file_owner(lock):
            os.fchown(fd, *owner)
    except OSError:
        _release(root, fd)
        raise
    return fd


def _release(root: Path, fd: int) -> None:
    lock = root / LOCK_RELPATH
    with contextlib.suppress(OSError):
        lock.unlink()
    os.close(fd)
    with contextlib.suppress(OSError):
        lock.parent.rmdir()  # only when empty (rule 5)


@contextlib.contextmanager
def hold(root: Path, wait: float, out: TextIO, *, read_only: bool = False) -> Iterator[None]:
    """Hold the tree's installer lock for the `with` block (rules 1–6)."""
    try:
        fd = _acquire(root, wait, out)
    except PolicyError as err:
        if not read_only or err.code != "INSTALL_IO":
            raise
        out.write(f"note: running without the lock: {err.message}\n")
        yield
        return
    except OSError as err:
        if not read_only:
            raise io_error(root / LOCK_RELPATH, err, "take the lock") from None
        out.write(f"note: running without the lock: {err.strerror or err}\n")
        yield
        return
    try:
        yield
    finally:
        _release(root, fd)
