"""The build step that puts the Lua runtime, the golden vectors and the examples into the package.

The repository keeps one copy of each, at its top level (`dispatch/`, `vectors/`,
`examples/`). A wheel must carry them, since an operator installs it far from any
checkout, so `build_py` copies the files `DATA` names into `genvm_policy/data/`
of the build; `MANIFEST.in` puts the same folders into the sdist, so a wheel
built from the sdist gets them too. A folder that yields no file stops the
build: a wheel without its runtime must not be made. An editable install
copies nothing: the package finds the repository's folders beside it
(`genvm_policy.resources`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
TARGET = Path("genvm_policy", "data")

# top-level folder -> the files of it the package runs (globs below the folder)
DATA: dict[str, tuple[str, ...]] = {
    "dispatch": ("*.lua", "genvm_policy/*.lua", "vectors/*.lua"),
    "vectors": ("*.cbor", "regressions/*.cbor", "regressions/INDEX"),
    "examples": ("node/*.yaml", "policies/*.yaml", "policies/*.toml"),
}


def data_files() -> list[Path]:
    """Every file `DATA` names, relative to the repository root, in a stable order."""
    found: set[Path] = set()
    for folder, patterns in DATA.items():
        files = {
            p.relative_to(ROOT)
            for pattern in patterns
            for p in (ROOT / folder).glob(pattern)
            if p.is_file()
        }
        if not files:
            raise SystemExit(f"setup.py: `{folder}/` holds none of {', '.join(patterns)}")
        found |= files
    return sorted(found)


class BuildPyWithData(build_py):
    """`build_py` that also copies the runtime, vectors and examples into the package."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for rel in data_files():
            out = Path(self.build_lib) / TARGET / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / rel, out)


setup(cmdclass={"build_py": BuildPyWithData})
