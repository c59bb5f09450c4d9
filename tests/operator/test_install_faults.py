"""Faults on the node's disk during install and revert (docs/INSTALL.md §6, docs/RELIABILITY.md §9).

Real faults, not only unit tests: a small tmpfs filled so that each write of an
install and a revert runs short; EIO and ENOSPC injected at every `write`,
`fsync` and `rename` through the write primitive's seam; kill -9 of the
installer at every step; a tree owned by another uid; every YAML line break;
quoted keys; links out of the tree; two installs at once. After each case the
config parses, is byte-identical to before or carries exactly the one change,
owners and modes are kept, and `status` tells the truth.

Run with `-s` to see the tallies that docs/RELIABILITY.md §9 reports.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.nodefixtures import lua_verify, make_bundle, make_genvm, ram_folder, snapshot

from genvm_policy.core.catalog import Catalog
from genvm_policy.core.errors import PolicyError
from genvm_policy.operator import install_fs, yamledit
from genvm_policy.operator.install import install, revert
from genvm_policy.operator.install_lock import hold
from genvm_policy.operator.install_status import status, status_lines
from genvm_policy.operator.nodetree import find_tree

ROOT = Path(__file__).resolve().parents[2]
KEY = "lua_script_path"


def tree_at(path: Path, line: str = "v2") -> Path:
    return make_genvm(path, line)


@pytest.fixture
def work(tmp_path: Path) -> Iterator[Path]:
    with ram_folder(tmp_path) as folder:
        yield folder


def run_install(root: Path, **kw: Any) -> str:
    out = io.StringIO()
    install(root, make_bundle(find_tree(root), "A"), verify=lua_verify, out=out, **kw)
    return out.getvalue()


def run_revert(root: Path, **kw: Any) -> str:
    out = io.StringIO()
    revert(root, out=out, **kw)
    return out.getvalue()


def owners(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.lstat().st_uid, p.lstat().st_gid)
        for p in root.rglob("*")
    }


def check_config(root: Path, before: bytes) -> str:
    """The config parses and is the original or the original with exactly the one change."""
    tree = find_tree(root)
    now = tree.config.read_bytes()
    yaml.safe_load(now.decode("utf-8"))
    if now == before:
        return "original"
    wanted = tree.script_value(tree.hook_relpath)
    assert now.decode() == yamledit.replace_scalar(before.decode(), KEY, wanted)
    return "switched"


def check_truth(root: Path, config: str) -> str:
    """`status` agrees with what is on disk."""
    report = status(root)
    if report.state == "installed":
        assert report.intact and report.hook_active and config == "switched"
    if report.state == "not installed":
        assert config == "original"
    return report.state


# -- the write primitive's seam ------------------------------------------------


class Faults:
    """Counts calls through `install_fs.SEAM` and fails the `at`-th call of `op`."""

    def __init__(self, op: str = "", at: int = -1, code: int = errno.EIO) -> None:
        self.op, self.at, self.code = op, at, code
        self.calls: Counter[str] = Counter()
        self.fired = False

    def wrap(self, op: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            index = self.calls[op]
            self.calls[op] += 1
            if op == self.op and index == self.at:
                self.fired = True
                raise OSError(self.code, os.strerror(self.code))
            return real(*args)

        return call


@pytest.fixture
def seam(monkeypatch: pytest.MonkeyPatch) -> Callable[[Faults], None]:
    real = (os.write, os.fsync, os.replace)

    def use(faults: Faults) -> None:
        monkeypatch.setattr(install_fs.SEAM, "write", faults.wrap("write", real[0]))
        monkeypatch.setattr(install_fs.SEAM, "fsync", faults.wrap("fsync", real[1]))
        monkeypatch.setattr(install_fs.SEAM, "replace", faults.wrap("replace", real[2]))

    return use


def test_eio_and_enospc_at_every_write_fsync_and_rename(
    work: Path, seam: Callable[[Faults], None]
) -> None:
    tmp_path = work
    template = tree_at(tmp_path / "template")
    probe = Faults()
    seam(probe)
    shutil.copytree(template, tmp_path / "probe", symlinks=True)
    run_install(tmp_path / "probe")
    on_install = dict(probe.calls)
    probe.calls.clear()
    run_revert(tmp_path / "probe")
    on_revert = dict(probe.calls)
    assert on_install["write"] >= 5 and on_install["fsync"] >= 10 and on_install["replace"] >= 5
    tally: Counter[str] = Counter()
    n = 0
    for action, calls in (("install", on_install), ("revert", on_revert)):
        for op, count in sorted(calls.items()):
            for at in range(count):
                for code in (errno.EIO, errno.ENOSPC):
                    root = tmp_path / f"case{n}"
                    n += 1
                    shutil.copytree(template, root, symlinks=True)
                    config_before = find_tree(root).config.read_bytes()
                    if action == "revert":
                        seam(Faults())
                        run_install(root)
                    before = snapshot(root)
                    faults = Faults(op, at, code)
                    seam(faults)
                    with pytest.raises(PolicyError) as err:
                        (run_install if action == "install" else run_revert)(root)
                    seam(Faults())
                    assert faults.fired and err.value.code == "INSTALL_IO", err.value.message
                    assert errno.errorcode[code] in err.value.message
                    assert snapshot(root) == before, f"{action}: {op} #{at} {code}"
                    check_truth(root, check_config(root, config_before))
                    tally[f"{action} {op} {errno.errorcode[code]}"] += 1
                    shutil.rmtree(root)
    print(f"\nseam faults: {n} injected, every one a clear INSTALL_IO, tree unchanged: {tally}")


def test_a_read_back_mismatch_restores_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree_at(tmp_path / "t")
    before = snapshot(root)
    config = find_tree(root).config
    real = os.replace
    flipped: list[Path] = []

    def flip(src: Any, dst: Any) -> None:
        # The disk hands back other bytes than were written, once: one flipped bit.
        if Path(dst) == config and not flipped:
            flipped.append(config)
            data = bytearray(Path(src).read_bytes())
            data[-3] ^= 0x20
            Path(src).write_bytes(bytes(data))
        real(src, dst)

    monkeypatch.setattr(install_fs.SEAM, "replace", flip)
    with pytest.raises(PolicyError) as err:
        run_install(root)
    assert err.value.code == "INSTALL_CONFIG_CHECK"
    assert snapshot(root) == before


# -- a file system that is really full -------------------------------------------


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("skipped: needs root (mounts a small tmpfs)")
    mount = tmp_path / "fs"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def _fill(mount: Path, leave: int) -> None:
    stats = os.statvfs(mount)
    free = stats.f_bavail * stats.f_frsize
    with open(mount / "filler", "wb") as f:
        f.write(b"\0" * max(free - leave, 0))


def _big_tree(path: Path) -> Path:
    """A tree whose config is 28 KB (comments), so that its writes span several pages."""
    root = tree_at(path)
    config = find_tree(root).config
    padding = "".join(f"# operator note {i:05d}: {'x' * 60}\n" for i in range(380))
    config.write_text(padding + config.read_text(), encoding="utf-8")
    return root


def test_a_full_disk_at_every_write_of_install_and_revert(
    tmp_path: Path, small_fs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    template = _big_tree(tmp_path / "template")
    short = Counter[str]()
    real_write = os.write

    def counting(fd: int, data: memoryview) -> int:
        done = real_write(fd, data)
        short["short writes"] += done < len(data)
        return done

    monkeypatch.setattr(install_fs.SEAM, "write", counting)
    page = os.statvfs(small_fs).f_frsize
    outcomes: Counter[str] = Counter()
    for action in ("install", "revert"):
        leave = 0
        while True:
            root = small_fs / "tree"
            shutil.copytree(template, root, symlinks=True)
            config_before = find_tree(root).config.read_bytes()
            if action == "revert":
                run_install(root)
            before = snapshot(root)
            _fill(small_fs, leave)
            try:
                (run_install if action == "install" else run_revert)(root)
                done = True
            except PolicyError as err:
                assert err.code == "INSTALL_IO", err.message
                assert "ENOSPC" in err.message or "EDQUOT" in err.message
                assert snapshot(root) == before, f"{action} with {leave} bytes free"
                check_truth(root, check_config(root, config_before))
                outcomes[f"{action}: clear error, nothing changed"] += 1
                done = False
            (small_fs / "filler").unlink()
            if done:
                outcomes[f"{action}: done"] += 1
                state = check_truth(root, check_config(root, config_before))
                assert state == ("installed" if action == "install" else "not installed")
                shutil.rmtree(root)
                break
            shutil.rmtree(root)
            leave += page
    assert short["short writes"] > 0
    print(f"\nfull tmpfs: {dict(outcomes)}; {short['short writes']} writes came back short")


# -- kill -9 at every step -----------------------------------------------------------

_KILLER = textwrap.dedent(
    """
    import io, os, signal, sys
    sys.path[:0] = [{tests!r}]
    from pathlib import Path
    from support.nodefixtures import make_bundle
    from genvm_policy.operator.install import install, revert
    from genvm_policy.operator.nodetree import find_tree
    root, action, at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    seen = []
    def checkpoint(name):
        seen.append(name)
        if len(seen) - 1 == at:
            os.kill(os.getpid(), signal.SIGKILL)
    if action == "install":
        install(root, make_bundle(find_tree(root), "A"), out=io.StringIO(), checkpoint=checkpoint)
    else:
        revert(root, out=io.StringIO(), checkpoint=checkpoint)
    print(len(seen))
    """
).format(tests=str(ROOT / "tests"))


def _killed(root: Path, action: str, at: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _KILLER, str(root), action, str(at)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_kill_9_at_every_step_then_status_and_revert(work: Path) -> None:
    tmp_path = work
    template = tree_at(tmp_path / "template")
    tally: Counter[str] = Counter()
    for action in ("install", "revert"):
        probe = tmp_path / f"probe-{action}"
        shutil.copytree(template, probe, symlinks=True)
        if action == "revert":
            run_install(probe)
        total = int(_killed(probe, action, -1).stdout)
        for at in range(total):
            root = tmp_path / f"{action}{at}"
            shutil.copytree(template, root, symlinks=True)
            original = snapshot(root)
            config_before = find_tree(root).config.read_bytes()
            if action == "revert":
                run_install(root)
            got = _killed(root, action, at)
            assert got.returncode == -signal.SIGKILL, got.stderr
            state = check_truth(root, check_config(root, config_before))
            tally[f"{action} killed -> status {state}"] += 1
            out = run_revert(root)
            assert "took over a stale lock of pid" in out
            assert snapshot(root) == original, f"revert after kill -9 at {action} step {at}"
            assert status(root).state == "not installed"
            shutil.rmtree(root)
    print(f"\nkill -9: {sum(tally.values())} kills, every revert restored the tree: {dict(tally)}")


# -- ownership -------------------------------------------------------------------------


def test_a_tree_owned_by_another_uid(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("skipped: needs root (chowns a tree to another uid)")
    root = tree_at(tmp_path / "t")
    uid, gid = 4321, 4322
    for path in [root, *root.rglob("*")]:
        os.lchown(path, uid, gid)
    config = find_tree(root).config
    config.chmod(0o640)
    before, before_owners = snapshot(root), owners(root)
    run_install(root)
    for rel, owner in owners(root).items():
        assert owner == (uid, gid), rel
    state = root / "config/genvm-policy"
    assert state.stat().st_mode & 0o777 == 0o700
    assert (state / "salt").stat().st_mode & 0o777 == 0o600
    assert config.stat().st_mode & 0o777 == 0o640
    assert status(root).state == "installed"
    run_revert(root)
    assert snapshot(root) == before and owners(root) == before_owners


# -- the config edit ------------------------------------------------------------------

BREAKS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r", "NEL": "\x85", "LS": "\u2028", "PS": "\u2029"}


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_every_line_break_survives_the_switch(tmp_path: Path, name: str) -> None:
    root = tree_at(tmp_path / "t")
    config = find_tree(root).config
    text = config.read_text(encoding="utf-8")
    # The line of the key ends in this break; the rest of the file keeps LF.
    config.write_bytes(text.replace("   # switched by the greybox guide\n", BREAKS[name]).encode())
    before = snapshot(root)
    config_before = config.read_bytes()
    run_install(root)
    assert check_config(root, config_before) == "switched"
    assert BREAKS[name].encode() in config.read_bytes()
    loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert loaded["vm_count"] == 6 and KEY in loaded
    assert check_truth(root, "switched") == "installed"
    run_revert(root)
    assert snapshot(root) == before


def test_quoted_keys_with_yaml_only_escapes(tmp_path: Path) -> None:
    root = tree_at(tmp_path / "t")
    config = find_tree(root).config
    text = config.read_text(encoding="utf-8")
    text = text.replace("lua_script_path:", '"lua_script\\x5Fpath":')
    text = "\"\\x41\\u0042\\N\": 1\n'it''s': 2\n" + text
    config.write_text(text, encoding="utf-8")
    before = snapshot(root)
    dry = run_install(root, dry_run=True)
    assert "switch `lua_script_path`" in dry and snapshot(root) == before
    run_install(root)
    loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
    assert loaded[KEY].endswith("config/genvm-policy-hook.lua") and loaded["AB\x85"] == 1
    assert status(root).hook_active
    run_revert(root)
    assert snapshot(root) == before


# -- links out of the tree -----------------------------------------------------------


def _outside_link(root: Path, rel: str, outside: Path, *, folder: bool = False) -> None:
    target = root / rel
    if folder:
        outside.mkdir()
    else:
        outside.write_bytes(target.read_bytes() if target.exists() else b"-- theirs\n")
        target.unlink(missing_ok=True)
    target.symlink_to(outside)


@pytest.mark.parametrize(
    "rel", ["config/genvm-module-llm.yaml", "config/genvm-policy-hook.lua", "config/genvm-policy"]
)
def test_links_out_of_the_tree(tmp_path: Path, rel: str) -> None:
    root = tree_at(tmp_path / "t")
    outside = tmp_path / "elsewhere"
    _outside_link(root, rel, outside, folder=rel == "config/genvm-policy")
    before = snapshot(root)  # links are snapshotted as links
    outside_before = outside.read_bytes() if outside.is_file() else None
    config_before = find_tree(root).config.read_bytes()
    with pytest.raises(PolicyError) as err:
        run_install(root)
    assert err.value.code == "INSTALL_SYMLINK" and "--follow-symlinks" in (err.value.hint or "")
    assert snapshot(root) == before
    assert not outside.is_dir() or not any(outside.iterdir())  # no salt went out
    run_install(root, follow_symlinks=True)
    assert (root / rel).is_symlink()
    assert check_config(root, config_before) == "switched"
    assert status(root).state == "installed"
    if outside.is_dir():
        assert (outside / "salt").stat().st_mode & 0o777 == 0o600
    run_revert(root, follow_symlinks=True)
    assert snapshot(root) == before and (root / rel).is_symlink()
    if outside.is_dir():
        assert not any(outside.iterdir())
    else:
        assert outside.read_bytes() == outside_before


# -- one run at a time ---------------------------------------------------------------

_RACER = textwrap.dedent(
    """
    import io, sys, time
    sys.path[:0] = [{tests!r}]
    from pathlib import Path
    from support.nodefixtures import make_bundle
    from genvm_policy.core.errors import PolicyError
    from genvm_policy.operator.install import install
    from genvm_policy.operator.nodetree import find_tree
    root, tag, wait = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    try:
        install(root, make_bundle(find_tree(root), tag), out=io.StringIO(), wait=wait,
                verify=lambda _: time.sleep(1.0))
    except PolicyError as err:
        print(err.code, err.message)
        sys.exit(2)
    print("done", time.monotonic_ns(), tag)
    """
).format(tests=str(ROOT / "tests"))


@pytest.mark.parametrize("wait", [0, 10])
def test_two_installs_started_together(tmp_path: Path, wait: int) -> None:
    root = tree_at(tmp_path / "t")
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(root), tag, str(wait)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for tag in ("A", "B")
    ]
    results = [(p.communicate()[0].strip(), p.returncode, p.pid) for p in runs]
    winners = [r for r in results if r[1] == 0]
    if wait == 0:
        [(_, _, pid)] = winners
        [(refused, code, _)] = [r for r in results if r[1] != 0]
        assert code == 2 and refused.startswith("INSTALL_LOCKED")
        assert f"pid {pid} (started 20" in refused
    else:
        assert len(winners) == 2, results  # the second waited, then installed its own bundle over
    last = max(winners, key=lambda r: int(r[0].split()[1]))[0].split()[-1]
    report = status(root)
    assert report.state == "installed" and report.intact and report.hook_active
    assert report.metadata == make_bundle(find_tree(root), last).metadata
    assert not (root / "config/genvm-policy/lock").exists()


def test_a_damaged_config_is_put_back_whole_by_revert(tmp_path: Path) -> None:
    root = tree_at(tmp_path / "t")
    before = snapshot(root)
    run_install(root)
    config = find_tree(root).config
    # What a short write used to leave: the first 700 bytes, every backend gone.
    config.write_bytes(config.read_bytes()[:700])
    out = run_revert(root)
    assert "its backup is put back" in out
    assert snapshot(root) == before


def test_status_waits_for_the_lock_or_names_its_holder(tmp_path: Path) -> None:
    root = tree_at(tmp_path / "t")
    run_install(root)
    tree = find_tree(root)

    def load(config: str, overlay: str | None) -> Catalog:
        raise AssertionError("the catalog is read only once the lock is taken")

    with hold(root, 0, io.StringIO()):
        with pytest.raises(PolicyError) as err:
            status_lines(tree, None, 0.3, io.StringIO(), "config/genvm-policy/policy.lua", load)
    assert err.value.code == "INSTALL_LOCKED"
    assert f"pid {os.getpid()} (started 20" in err.value.message
    assert "--wait" in (err.value.hint or "")
