"""Realistic genlayer node trees in a temp dir, bundles to install, and tree snapshots.

Trees follow docs/INSTALL.md §1–2: a node root with version folders, each with
GenVM in `third_party/genvm/`, for the newer line (config/ scripts, lib/genvm-lua,
`${exeDir}`) and the older line (scripts/llm-default.lua, share/lib/genvm/lua,
`${genvmRoot}`). Configs carry the node's greybox script and `meta.greybox`
chains, disabled backends, `${ENV[...]}` keys, an empty key and one literal
key, so tests can prove the installer never shows or copies a key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genvm_policy.core.errors import PolicyError
from genvm_policy.operator.install import SALT_RELPATH, Bundle
from genvm_policy.operator.nodetree import GenvmTree, find_tree
from support.luasandbox import new_state

LITERAL_KEY = "sk-or-v1-LITERAL0KEY0must0never0leak0d1e2f3"
ENV_KEYS = ("${ENV[OPENROUTERKEY]}", "${ENV[HEURISTKEY]}", "${ENV[GEMINIKEY]}")

V2_CONFIG = f"""\
# LLM module config (newer line) on a node running the greybox script.
bind_address: 127.0.0.1:3031

lua_script_path: ${{exeDir}}/../config/genvm-llm-greybox.lua   # switched by the greybox guide
vm_count: 6
lua_path: "${{exeDir}}/../lib/genvm-lua/?.lua"
data_dir: ${{exeDir}}/../data/llm
signer_url: 'http://localhost:9155/genvm/sign'
timeout: 3m

backends:
  openrouter:
    host: https://openrouter.ai/api
    provider: openai-compatible
    key: {ENV_KEYS[0]}
    meta:
      priority: 10
    models:
      deepseek/deepseek-v3.2:
        supports_json: true
        meta:
          greybox: {{text: 1}}
      openai/gpt-5.1-mini:
        supports_json: true
        supports_image: true
        meta:
          greybox: {{text: 2, image: 1}}
  heurist:
    host: https://llm-gateway.heurist.xyz
    provider: openai-compatible
    key: {ENV_KEYS[1]}
    models:
      meta-llama/llama-3.3-70b-instruct:
        supports_json: true
        meta:
          greybox: {{text: 3}}
  direct:
    host: https://api.example.org
    provider: openai-compatible
    key: {LITERAL_KEY}
    models:
      some-model:
        supports_json: true
  local:
    enabled: false
    host: http://127.0.0.1:11434
    provider: ollama
    key: ""
    models:
      llama3: {{}}
  google:
    enabled: false
    host: https://generativelanguage.googleapis.com
    provider: google
    key: {ENV_KEYS[2]}
    models:
      gemini-2.5-flash:
        supports_json: true
        supports_image: true
"""

V1_CONFIG = f"""\
# LLM module config (older line)
bind_address: 127.0.0.1:3031

lua_script_path: ${{genvmRoot}}/scripts/llm-default.lua
vm_count: 6
extra_lua_path: ""
signer_url: "http://localhost:9155/genvm/sign"
signer_headers: {{}}
log_disable: tracing*,polling*
#log_level: info

backends:
  openai:
    host: https://api.openai.com
    provider: openai-compatible
    key: {ENV_KEYS[0]}
    models:
      gpt-4o:
        supports_json: true
        supports_image: true # vision
  direct:
    host: https://api.example.org
    provider: openai-compatible
    key: {LITERAL_KEY}
    models:
      some-model:
        supports_json: true
  atoma:
    enabled: false
    host: https://api.atoma.network
    provider: openai-compatible
    key: {ENV_KEYS[2]}
    models:
      meta-llama/Llama-3.3-70B-Instruct:
        supports_json: true
"""

_V2_FILES = {
    "bin/genvm-modules": ("#!/bin/sh\n", 0o755),
    "bin/genvm-manager": ("#!/bin/sh\n", 0o755),
    "config/genvm-module-llm.yaml": (V2_CONFIG, 0o644),
    "config/genvm-modules-llm-release.yaml": (V2_CONFIG, 0o644),
    "config/genvm-module-web.yaml": (
        "lua_script_path: ${exeDir}/../config/genvm-web-default.lua\n",
        0o644,
    ),
    "config/genvm-manager.yaml": ("port: 3999\n", 0o644),
    "config/genvm-llm-default.lua": ("-- stock default script stand-in\n", 0o644),
    "config/genvm-llm-greybox.lua": ("-- node greybox script stand-in\n", 0o644),
    "lib/genvm-lua/lib-genvm.lua": ("return {}\n", 0o644),
    "lib/genvm-lua/lib-llm.lua": ("return {}\n", 0o644),
    "data/llm/.keep": ("", 0o644),
}
_V1_FILES = {
    "bin/genvm-modules": ("#!/bin/sh\n", 0o755),
    "bin/genvm": ("#!/bin/sh\n", 0o755),
    "config/genvm-module-llm.yaml": (V1_CONFIG, 0o640),
    "share/lib/genvm/lua/lib-genvm.lua": ("return {}\n", 0o644),
    "share/lib/genvm/lua/lib-llm.lua": ("return {}\n", 0o644),
    "scripts/llm-default.lua": ("-- stock default script stand-in\n", 0o644),
}


def make_genvm(root: Path, line: str) -> Path:
    """Write a GenVM tree of `line` ("v1" or "v2") at `root`; return `root`."""
    for rel, (text, mode) in (_V2_FILES if line == "v2" else _V1_FILES).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(mode)
    return root


def make_node(base: Path, versions: dict[str, str], link: str | None = None) -> Path:
    """A node root with version folders `{name: line}` and optionally `bin` -> `<link>/bin`."""
    base.mkdir(parents=True, exist_ok=True)
    (base / ".env").write_text(f"OPENROUTERKEY={LITERAL_KEY}\n", encoding="utf-8")
    for name, line in versions.items():
        (base / name / "bin").mkdir(parents=True)
        (base / name / "bin" / "genlayernode").write_text("#!/bin/sh\n", encoding="utf-8")
        make_genvm(base / name / "third_party" / "genvm", line)
    if link is not None:
        os.symlink(f"{link}/bin", base / "bin")
    return base


def snapshot(root: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every path below `root`: kind, bytes (files) or link target, and mode."""
    out: dict[str, tuple[str, bytes, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path).encode(), 0)
            elif path.is_dir():
                out[rel] = ("dir", b"", st.st_mode & 0o7777)
            else:
                out[rel] = ("file", path.read_bytes(), st.st_mode & 0o7777)
    return out


def mtimes(root: Path) -> dict[str, int]:
    """Modification times (ns) of every file below `root`."""
    return {
        p.relative_to(root).as_posix(): p.lstat().st_mtime_ns
        for p in root.rglob("*")
        if p.is_file()
    }


def make_bundle(tree: GenvmTree, tag: str, *, extra: bool = False, broken: bool = False) -> Bundle:
    """A bundle like the builder's: a self-contained hook reading the salt at a fixed path."""
    salt_path = tree.root / SALT_RELPATH
    hook = f"""-- genvm-policy hook, test bundle {tag}
local SALT_PATH = "{salt_path}"
local function read_salt()
  local f = io.open(SALT_PATH, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
HOOK_TAG = "{tag}"
HOOK_SALT_LEN = #(read_salt() or "")
function ExecPrompt(ctx, args, remaining_gen) return {{data = HOOK_TAG, consumed_gen = 0}} end
function ExecPromptTemplate(ctx, args, remaining_gen) return {{data = true, consumed_gen = 0}} end
"""
    if broken:
        hook += "this is not lua\n"
    files: dict[str, tuple[bytes, int]] = {
        tree.hook_relpath: (hook.encode("utf-8"), 0o644),
        SALT_RELPATH: (hashlib.sha256(b"salt").digest(), 0o600),
    }
    if extra:
        files["config/genvm-policy/policy.cbor"] = (f"policy {tag}".encode(), 0o644)
    metadata: dict[str, Any] = {
        "hook_version": "1",
        "policy_identity": "sha256:" + hashlib.sha256(tag.encode()).hexdigest(),
        "catalog_identity": "sha256:" + "c" * 64,
        "genvm_view_identity": "sha256:" + "d" * 64,
    }
    return Bundle(files, tree.hook_relpath, metadata)


def lua_verify(root: Path) -> None:
    """Load the installed hook in a fresh Lua 5.3 sandbox and call it, as a verifier would."""
    hook_rel = find_tree(root).hook_relpath
    lua = new_state("lua53")
    try:
        lua.execute((root / hook_rel).read_text(encoding="utf-8"))
        answer = lua.eval("ExecPrompt({}, {prompt = 'hi'}, 0)")
        salt_len = lua.eval("HOOK_SALT_LEN")
    except Exception as err:
        raise PolicyError("INSTALL_VERIFY", (hook_rel,), f"the hook does not load: {err}") from None
    if salt_len != 32 or answer["data"] != lua.eval("HOOK_TAG"):
        raise PolicyError("INSTALL_VERIFY", (hook_rel,), "the hook does not answer as expected")


@contextlib.contextmanager
def ram_folder(tmp_path: Path) -> Iterator[Path]:
    """A fresh folder on a RAM file system when there is one, else `tmp_path`.

    Installer tests fsync thousands of times; on a busy disk that costs seconds, on
    tmpfs nothing, through the same system calls.
    """
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="genvm-policy-test-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder)
