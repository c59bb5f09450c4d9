"""`genvm-policy vectors generate|verify|tables`: the golden vectors and the shared tables.

Shell module (reads and writes files, drives Lua); spec: docs/VECTORS.md
("Commands", "Regressions"). `generate [DIR]` rewrites `DIR/<kind>.cbor` for
every kind from the reference and copies the frozen `regressions/` of the
package's vectors into DIR unchanged (never regenerated; nothing to copy when
DIR is that folder). `verify [--runtime R] [DIR]` replays every `*.cbor` file
of DIR and of `DIR/regressions/`, after checking that folder against its
`INDEX` (each breach one failed case), prints each failure with its case name
and first differing field, and prints `N passed, M failed` as its last line;
exit 0 only when nothing failed and at least one case ran, else 1. Without DIR,
`verify` replays the golden vectors the package carries
(`genvm_policy.resources`), so it works from any folder.
`tables [--check] [ROOT]` writes the shared tables of the checkout ROOT
(`dispatch/genvm_policy/tables.lua`, the hook's `hooktables.lua` and the
generated regions of `docs/SPEC.md`) from the reference; `--check` writes
nothing and exits 1 when any is out of date.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path
from typing import Any

from genvm_policy.cli.commands.helptext import teach
from genvm_policy.core.errors import PolicyError
from genvm_policy.node import hooktables, runtimes
from genvm_policy.resources import resource
from genvm_policy.vectors import KINDS, Report, build, regressions, tables, verify_file, write_file
from genvm_policy.vectors.verify import Runner, python_runner

__all__ = ["RUNTIMES", "register"]

RUNTIMES = ("python", "lua53", "lua54", "lua", "lua-standalone", "mlua", "all")
"""The `--runtime` choices; `lua` is `lua53`, `all` every runtime in turn; `mlua` is
GenVM's own embedding (mlua 0.10.3, Lua 5.3) running the same `verify.lua`."""

ALL = ("python", "lua53", "lua54", "lua-standalone", "mlua")
DEFAULT_DIR = Path("vectors")
"""Where `generate` writes without DIR: `vectors/` of the working folder (a checkout)."""
VERIFIER = runtimes.DISPATCH / "vectors" / "verify.lua"
_SUMMARY = re.compile(r"(\d+) passed, (\d+) failed")
_NOT_RUN = re.compile(r"(\d+) cases of reference-only kinds not run")


def register(sub: argparse._SubParsersAction[Any]) -> None:
    """Add `vectors generate` and `vectors verify` to the CLI."""
    parser = sub.add_parser(
        "vectors",
        help="generate or verify the golden vectors",
        **teach(
            "The golden vectors are the contract between the Python reference and the Lua "
            "runtime GenVM runs: every runtime must give the same bytes for every case. "
            "`verify` replays them; `generate` rewrites them from the reference.",
            "genvm-policy vectors verify --runtime all",
            "genvm-policy vectors generate vectors",
        ),
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    gen = actions.add_parser(
        "generate",
        help="rewrite every vector file from the reference",
        **teach(
            "Rewrite DIR/<kind>.cbor for every vector kind from the Python reference "
            "(docs/VECTORS.md) and copy the frozen regressions/ into DIR unchanged. The bytes "
            "are the same on every run; a change to an existing vector is a change of the spec.",
            "genvm-policy vectors generate            # into ./vectors",
            "genvm-policy vectors generate /tmp/vectors",
        ),
    )
    gen.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=DEFAULT_DIR,
        metavar="DIR",
        help="the folder to write (default: ./vectors)",
    )
    gen.set_defaults(handler=_generate)
    ver = actions.add_parser(
        "verify",
        help="replay the vector files in a runtime",
        **teach(
            "Replay every DIR/*.cbor and DIR/regressions/*.cbor in the runtime asked for "
            "(the regressions checked against their INDEX first) and print each failing case "
            "with its first differing field, then `N passed, M failed`. Without DIR the "
            "golden vectors that come with genvm-policy are replayed. Exit 0 only when "
            "nothing failed.",
            "genvm-policy vectors verify --runtime all",
            "genvm-policy vectors verify --runtime lua53 ./my-vectors",
        ),
    )
    ver.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default="python",
        help="python (default), lua53/lua (lupa's Lua 5.3, as GenVM embeds it), lua54, "
        "lua-standalone (Debian's lua5.3), mlua (mlua 0.10.3, GenVM's own embedding, built "
        "from dispatch/mlua-host), or all of them in turn",
    )
    ver.add_argument(
        "dir",
        nargs="?",
        type=Path,
        default=None,
        metavar="DIR",
        help="the folder of vector files (default: the golden vectors of the package)",
    )
    ver.set_defaults(handler=_verify)
    tab = actions.add_parser(
        "tables",
        help="write the shared tables (Lua runtime, spec) from the reference",
        **teach(
            "Write dispatch/genvm_policy/tables.lua, the hook's hooktables.lua and the "
            "generated tables of docs/SPEC.md "
            "(the op grammar, fields, parameters, limits, failure classes, statuses, error "
            "codes) from the Python reference's tables, in the checkout ROOT. Run it after "
            "changing one of those tables; --check only says whether they are up to date.",
            "genvm-policy vectors tables",
            "genvm-policy vectors tables --check",
        ),
    )
    tab.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 when a generated file differs from the reference",
    )
    tab.add_argument(
        "root",
        nargs="?",
        type=Path,
        default=Path("."),
        metavar="ROOT",
        help="the checkout to write into (default: the working folder)",
    )
    tab.set_defaults(handler=_tables)


def _io_error(path: Path, err: OSError) -> PolicyError:
    return PolicyError("VEC_IO", (), f"`{path}` cannot be used: {err.strerror or err}")


def _frozen_set(folder: Path) -> tuple[str | None, dict[str, bytes]]:
    """The text of `folder/INDEX` (None when absent) and every other entry's bytes by name."""
    if not folder.is_dir():
        return None, {}
    try:
        index = folder / regressions.INDEX
        text = index.read_text(encoding="utf-8") if index.exists() else None
        files = {p.name: p.read_bytes() for p in folder.iterdir() if p.name != regressions.INDEX}
    except (OSError, UnicodeDecodeError) as err:
        raise PolicyError("VEC_IO", (), f"`{folder}` cannot be read: {err}") from None
    return text, files


def _frozen_source() -> tuple[Path, list[str]]:
    """The package's regressions folder and the names to copy, refused when it breaks its
    `INDEX` (before `generate` writes anything)."""
    source = resource("vectors") / regressions.FOLDER
    index, files = _frozen_set(source)
    broken = regressions.check(index, files)
    if broken:
        raise broken[0]
    return source, [] if index is None else [*sorted(files), regressions.INDEX]


def _copy_regressions(source: Path, names: list[str], directory: Path) -> None:
    """Copy the frozen regressions into `directory/regressions` byte for byte."""
    target = directory / regressions.FOLDER
    if not names or (target.is_dir() and target.resolve() == source.resolve()):
        return
    target.mkdir(exist_ok=True)
    for name in names:
        shutil.copyfile(source / name, target / name)


def _generate(args: argparse.Namespace) -> int:
    directory: Path = args.dir
    total = 0
    source, names = _frozen_source()
    frozen = max(len(names) - 1, 0)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        for kind in KINDS:
            file = build(kind)
            (directory / f"{kind.name}.cbor").write_bytes(write_file(file))
            total += len(file.cases)
        _copy_regressions(source, names, directory)
    except OSError as err:
        raise _io_error(directory, err) from None
    print(f"wrote {len(KINDS)} files, {total} cases to {directory}; {frozen} regressions kept")
    return 0


def _files(directory: Path) -> tuple[list[Path], list[str]]:
    """The vector files of `directory` and its regressions, and each breach of the `INDEX`."""
    if not directory.is_dir():
        raise PolicyError(
            "VEC_IO",
            (),
            f"`{directory}` is not a directory",
            hint="name the folder that holds the vector files (`*.cbor`), or leave DIR out "
            "to replay the golden vectors of the package",
        )
    folder = directory / regressions.FOLDER
    broken = regressions.check(*_frozen_set(folder))
    failures = [f"FAIL {regressions.FOLDER}/{err.path[-1]}: {err.render()}" for err in broken]
    return sorted(directory.glob("*.cbor")) + sorted(folder.glob("*.cbor")), failures


def _replay(files: list[Path], runner: Runner, family: str) -> Report:
    report = Report()
    for path in files:
        try:
            data = path.read_bytes()
        except OSError as err:
            raise _io_error(path, err) from None
        name = path.name
        if path.parent.name == regressions.FOLDER:
            name = f"{regressions.FOLDER}/{name}"
        report.add(verify_file(name, data, runner, family))
    return report


def _standalone(files: list[Path], runtime: str) -> Report:
    """Replay with `dispatch/vectors/verify.lua` under `lua5.3` or the mlua binary,
    reading the script's own summary line."""
    report = Report()
    paths = [str(p.resolve()) for p in files]
    try:
        if runtime == "mlua":
            run = runtimes.run_mlua(["vectors", str(runtimes.DISPATCH), *paths])
        else:
            run = runtimes.run_standalone(VERIFIER, paths)
    except runtimes.MissingInterpreter as err:
        report.failed = 1
        report.failures.append(f"FAIL {runtime}: {err}")
        return report
    lines = run.stdout.splitlines()
    summary = _SUMMARY.fullmatch(lines[-1]) if lines else None
    report.failures = [line for line in lines if line.startswith("FAIL ")]
    if summary is None or run.returncode not in (0, 1):
        report.failed = 1
        detail = (run.stderr.strip().splitlines() or ["no summary line"])[-1]
        report.failures.append(f"FAIL {runtime}: the verifier stopped: {detail}")
        return report
    report.passed, report.failed = int(summary.group(1)), int(summary.group(2))
    skipped = [_NOT_RUN.fullmatch(line) for line in lines]
    report.not_run = sum(int(m.group(1)) for m in skipped if m)
    return report


def _run(runtime: str, files: list[Path]) -> Report:
    if runtime == "python":
        return _replay(files, python_runner, "python")
    if runtime in ("lua-standalone", "mlua"):
        return _standalone(files, runtime)
    return _replay(files, runtimes.vector_runner(runtime), "lua")


def _verify(args: argparse.Namespace) -> int:
    files, broken = _files(resource("vectors") if args.dir is None else args.dir)
    chosen = {"all": ALL, "lua": ("lua53",)}.get(args.runtime, (args.runtime,))
    total = Report(failed=len(broken), failures=broken)
    for line in broken:
        print(line)
    for runtime in chosen:
        report = _run(runtime, files)
        for line in report.failures:
            print(line)
        if len(chosen) > 1 or report.not_run:
            note = f", {report.not_run} reference-only not run" if report.not_run else ""
            print(f"{runtime}: {report.passed} passed, {report.failed} failed{note}")
        total.add(report)
    print(f"{total.passed} passed, {total.failed} failed")
    return 0 if total.ok else 1


def _tables(args: argparse.Namespace) -> int:
    root: Path = args.root
    lua_path, spec_path = root / tables.LUA_PATH, root / tables.SPEC_PATH
    try:
        spec = spec_path.read_text(encoding="utf-8")
        wanted = {
            lua_path: tables.lua_source(),
            root / hooktables.LUA_PATH: hooktables.lua_source(),
            spec_path: tables.spec_text(spec),
        }
        stale = [
            p
            for p, text in wanted.items()
            if not p.exists() or p.read_text(encoding="utf-8") != text
        ]
        if not args.check:
            for path in stale:
                part = path.with_name(path.name + ".part")
                part.write_text(wanted[path], encoding="utf-8")
                part.replace(path)
    except OSError as err:
        raise _io_error(root, err) from None
    except ValueError as err:
        raise PolicyError(
            "VEC_TABLES", (), str(err).lower(), "restore the marker lines of docs/SPEC.md"
        ) from None
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path}")
    if not stale:
        print("the shared tables are up to date")
    return 1 if args.check and stale else 0
