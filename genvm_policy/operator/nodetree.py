"""Find a node's GenVM tree and tell which GenVM line it runs.

Spec: docs/INSTALL.md §1 (Finding the GenVM tree) and §2 (GenVM lines).

Rules:
1. PATH is, in this order of checks, a GenVM tree's LLM config file
   (`<tree>/config/genvm-module-llm.yaml`), a GenVM tree (it holds that
   file), a version folder (it holds `third_party/genvm/` that is a GenVM
   tree) or a node root (one or more children that are version folders).
   Anything else is `NODE_NOT_GENVM`. Every command that reads a node's LLM
   config finds it this way (`find_config`), and also takes any config file
   as it is.
2. In a node root, `--version-dir NAME` picks a version; otherwise a single
   version is taken; otherwise the one the root's `bin` symlink points into;
   otherwise `NODE_VERSION_AMBIGUOUS`, listing the versions.
3. The line is decided by evidence. Older (V1): `share/lib/genvm/lua/`,
   `scripts/llm-default.lua`, the `extra_lua_path` key. Newer (V2): the
   `lua_path` or `data_dir` key, `config/genvm-llm-default.lua`,
   `lib/genvm-lua/`, `bin/genvm-manager`. Evidence for exactly one line
   decides it; none or both is `NODE_LINE_UNKNOWN`. `bin/genvm-modules` is
   no evidence: both lines ship it.
4. Config values are read as text (docs/INSTALL.md §3), never through a YAML
   loader, so provider keys are never parsed, held or shown.
5. `${exeDir}` is the tree's `bin/` and `${genvmRoot}` its parent (the tree
   root). A value with any other `${…}` does not resolve to a path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from genvm_policy.core.errors import PolicyError
from genvm_policy.loaders.sources import FORMATS
from genvm_policy.operator import yamledit

__all__ = [
    "CONFIG_RELPATH",
    "LINES",
    "GenvmTree",
    "find_config",
    "find_tree",
    "read_config_text",
]

CONFIG_RELPATH = "config/genvm-module-llm.yaml"
GENVM_IN_VERSION = Path("third_party") / "genvm"

# line -> (human name, where its hook goes, variable style of lua_script_path)
LINES: dict[str, tuple[str, str, str]] = {
    "v1": ("older GenVM line (v0.1)", "scripts", "${genvmRoot}/"),
    "v2": ("newer GenVM line (v0.2)", "config", "${exeDir}/../"),
}
_FILE_EVIDENCE: dict[str, tuple[str, ...]] = {
    "v1": ("share/lib/genvm/lua", "scripts/llm-default.lua"),
    "v2": ("config/genvm-llm-default.lua", "lib/genvm-lua", "bin/genvm-manager"),
}
_KEY_EVIDENCE: dict[str, tuple[str, ...]] = {
    "v1": ("extra_lua_path",),
    "v2": ("lua_path", "data_dir"),
}
HOOK_NAME = "genvm-policy-hook.lua"


@dataclass(frozen=True)
class GenvmTree:
    """A GenVM tree on disk, its line and the LLM config values the installer needs."""

    root: Path
    line: str
    evidence: tuple[str, ...]
    version_dir: str | None
    lua_script_path: str
    lua_path: str | None

    @property
    def config(self) -> Path:
        """The active LLM module config."""
        return self.root / CONFIG_RELPATH

    @property
    def hook_relpath(self) -> str:
        """Where this line's hook goes, beside the stock default script."""
        return f"{LINES[self.line][1]}/{HOOK_NAME}"

    def script_value(self, relpath: str) -> str:
        """The `lua_script_path` value naming `relpath`, in the line's variable style."""
        return LINES[self.line][2] + relpath

    def resolve(self, value: str) -> Path | None:
        """Expand `${exeDir}` and `${genvmRoot}` (rule 5); None if another variable is left."""
        text = value.replace("${exeDir}", str(self.root / "bin"))
        text = text.replace("${genvmRoot}", str(self.root))
        if "${" in text:
            return None
        return Path(os.path.normpath(text))

    @property
    def active_script(self) -> Path | None:
        """The script GenVM runs now, as a path, if it resolves."""
        return self.resolve(self.lua_script_path)

    def lua_search_path(self) -> list[str]:
        """The Lua module path GenVM builds: V1 built-in then `extra_lua_path`; V2 `lua_path`."""
        parts: list[str] = []
        if self.line == "v1":
            parts.append(str(self.root / "share/lib/genvm/lua/?.lua"))
        for part in (self.lua_path or "").split(";"):
            if part:
                resolved = self.resolve(part)
                parts.append(part if resolved is None else str(resolved))
        return parts

    def describe(self) -> list[str]:
        """Lines for people: what was found, as the installer reports it."""
        active = self.active_script
        shown = "unresolved" if active is None else str(active)
        where = f" (version folder `{self.version_dir}`)" if self.version_dir else ""
        return [
            f"GenVM tree: {self.root}{where}",
            f"GenVM line: {LINES[self.line][0]}; evidence: {', '.join(self.evidence)}",
            f"active script: `{self.lua_script_path}` -> {shown}",
            f"Lua path: {';'.join(self.lua_search_path()) or '(built-in only)'}",
        ]


def read_config_text(config: Path) -> str:
    """Read the LLM config as UTF-8 text (for the text editor; never parsed as YAML)."""
    try:
        return config.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise PolicyError(
            "NODE_CONFIG_UNREADABLE", (str(config),), "the LLM config is not UTF-8 text"
        ) from None
    except OSError as err:
        raise PolicyError(
            "NODE_CONFIG_UNREADABLE",
            (str(config),),
            f"cannot read the LLM config: {err.strerror or err}",
        ) from None


def _is_tree(path: Path) -> bool:
    return (path / CONFIG_RELPATH).is_file()


def _versions(node_root: Path) -> list[str]:
    try:
        children = sorted(os.listdir(node_root), key=lambda n: n.encode("utf-8"))
    except OSError:
        return []
    return [n for n in children if n != "bin" and _is_tree(node_root / n / GENVM_IN_VERSION)]


def _pick_version(node_root: Path, versions: list[str], version_dir: str | None) -> str:
    listed = ", ".join(f"`{v}`" for v in versions)
    if version_dir is not None:
        if version_dir not in versions:
            raise PolicyError(
                "NODE_VERSION_UNKNOWN",
                ("--version-dir",),
                f"`{version_dir}` is not a version folder of `{node_root}`",
                hint=f"version folders with a GenVM tree: {listed or 'none'}",
            )
        return version_dir
    if len(versions) == 1:
        return versions[0]
    link = node_root / "bin"
    if link.is_symlink():
        target = Path(os.path.realpath(link))
        for name in versions:
            if target.is_relative_to(Path(os.path.realpath(node_root / name))):
                return name
    raise PolicyError(
        "NODE_VERSION_AMBIGUOUS",
        ("--version-dir",),
        f"`{node_root}` holds several versions ({listed}) and none is named",
        hint="pass --version-dir NAME, or point the node's `bin` link at the active version",
    )


def _tree_of_config(path: Path) -> tuple[Path, str | None] | None:
    """The tree (and version folder) whose LLM config is the file `path`, if it is one."""
    root = path.parent.parent
    if root / CONFIG_RELPATH != path:
        return None
    version = root.parent.parent
    return root, version.name if version / GENVM_IN_VERSION == root and version.name else None


def _locate(path: Path, version_dir: str | None) -> tuple[Path, str | None]:
    if path.is_file():
        found = _tree_of_config(path)
        if found is None:
            raise PolicyError(
                "NODE_NOT_GENVM",
                (str(path),),
                f"`{path}` is a file, not a GenVM tree's `{CONFIG_RELPATH}`",
                "give the node root (e.g. /opt/genlayer-node), one version folder of it, "
                "a GenVM tree or its config file",
            )
        if version_dir is not None:
            raise PolicyError(
                "NODE_VERSION_UNKNOWN",
                ("--version-dir",),
                f"`{path}` is the config of one GenVM tree, so `--version-dir` does not apply",
                hint="drop --version-dir, or give the node root as PATH",
            )
        return found
    if not path.exists():
        raise PolicyError(
            "NODE_NOT_GENVM",
            (str(path),),
            f"`{path}` does not exist",
            "give the node root (e.g. /opt/genlayer-node), one version folder of it, "
            "a GenVM tree or its config file",
        )
    if version_dir is None and _is_tree(path):
        return path, None
    if version_dir is None and _is_tree(path / GENVM_IN_VERSION):
        return path / GENVM_IN_VERSION, path.name
    versions = _versions(path)
    if versions:
        name = _pick_version(path, versions, version_dir)
        return path / name / GENVM_IN_VERSION, name
    if version_dir is not None and (_is_tree(path) or _is_tree(path / GENVM_IN_VERSION)):
        raise PolicyError(
            "NODE_VERSION_UNKNOWN",
            ("--version-dir",),
            f"`{path}` is a single GenVM installation, so `--version-dir` does not apply",
            hint="drop --version-dir, or give the node root as PATH",
        )
    raise PolicyError(
        "NODE_NOT_GENVM",
        (str(path),),
        f"`{path}` is neither a node root, a version folder nor a GenVM tree",
        hint=f"expected `{CONFIG_RELPATH}` in PATH, in PATH/third_party/genvm/, "
        "or in <VERSION>/third_party/genvm/ below PATH",
    )


def _line(root: Path, text: str) -> tuple[str, tuple[str, ...]]:
    found: dict[str, list[str]] = {}
    for line in ("v1", "v2"):
        marks = [f"`{rel}`" for rel in _FILE_EVIDENCE[line] if (root / rel).exists()]
        marks += [f"key `{k}`" for k in _KEY_EVIDENCE[line] if yamledit.find_scalar(text, k)]
        if marks:
            found[line] = marks
    if len(found) == 1:
        line = next(iter(found))
        return line, tuple(found[line])
    seen = "; ".join(f"{LINES[k][0]}: {', '.join(v)}" for k, v in sorted(found.items()))
    raise PolicyError(
        "NODE_LINE_UNKNOWN",
        (str(root),),
        "cannot tell which GenVM line this tree runs"
        + (f": evidence for both ({seen})" if found else ": no evidence for either"),
        hint="see docs/INSTALL.md §2 for the files and keys each line has",
    )


def find_tree(path: Path, version_dir: str | None = None) -> GenvmTree:
    """Find the GenVM tree at or below `path` (rules 1–2) and read its line and config."""
    root, version = _locate(path, version_dir)
    text = read_config_text(root / CONFIG_RELPATH)
    line, evidence = _line(root, text)
    script = yamledit.get_scalar(text, "lua_script_path").value
    lua_key = "extra_lua_path" if line == "v1" else "lua_path"
    lua = yamledit.find_scalar(text, lua_key)
    return GenvmTree(root, line, evidence, version, script, None if lua is None else lua.value)


def find_config(path: Path) -> tuple[Path, str | None]:
    """The LLM config that `path` names (rule 1), and how it was found.

    A file is the config itself (the second value is None), and so is a
    missing path named like a source file, which the reader then reports. A
    GenVM tree, a version folder or a node root gives its active tree's
    config and a phrase saying where that is, for the command to tell which
    file it read.
    """
    if path.is_file() or (not path.exists() and path.suffix.lower() in FORMATS):
        return path, None
    try:
        root, version = _locate(path, None)
    except PolicyError as err:
        if err.code != "NODE_VERSION_AMBIGUOUS":
            raise
        raise PolicyError(
            err.code,
            (str(path),),
            err.message,
            "give the version folder itself (`PATH/NAME`), or point the node's `bin` link "
            "at the active version",
        ) from None
    where = f"found from `{path}`" + (f", version `{version}`" if version else "")
    return root / CONFIG_RELPATH, where
