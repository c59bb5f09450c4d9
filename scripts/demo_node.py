"""The demo's node side: build a sandbox genlayer node tree, or send calls through its hook.

    demo_node.py tree NODE_ROOT CONFIG        write a node root with one GenVM (newer line)
    demo_node.py calls NODE_ROOT LOG          run sample calls through the installed hook

`calls` loads the hook the node's config names in a sandboxed Lua 5.3 state
(`genvm_policy.node.demohost`), scripts the first route of the first call to answer
HTTP 503 (overloaded) and everything else to succeed, and appends each log
record to LOG as GenVM's logger writes it: one JSON object per line, the
message as `script_log: <message>`, the other fields under `log`, a text that
starts with `$` given one more `$`.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from genvm_policy.authoring.catalog_build import build_catalog
from genvm_policy.core.catalog import genvm_view
from genvm_policy.loaders.sources import load_document
from genvm_policy.node.demohost import DemoHost, Outcome
from genvm_policy.operator.nodetree import find_tree

VERSION = "v0.5.7"
GENVM_FILES = {
    "bin/genvm-modules": "#!/bin/sh\n",
    "bin/genvm-manager": "#!/bin/sh\n",
    "config/genvm-llm-default.lua": "-- the stock default script (stand-in)\n",
    "config/genvm-module-web.yaml": "lua_script_path: ${exeDir}/../config/genvm-web-default.lua\n",
    "lib/genvm-lua/lib-genvm.lua": "return {}\n",
    "lib/genvm-lua/lib-llm.lua": "return {}\n",
}
CALLS = (
    ("ExecPrompt", {"prompt": "Is the sky blue? Answer briefly.", "response_format": "text"}),
    ("ExecPrompt", {"prompt": "Give the price of BTC as JSON.", "response_format": "json"}),
    (
        "ExecPromptTemplate",
        {"template": "EqComparative", "leader_answer": "42", "validator_answer": "42",
         "principle": "the same number"},
    ),
)  # fmt: skip  # a table laid out by hand in rows


def make_tree(node_root: Path, config: Path) -> None:
    """A node root with one version folder whose GenVM runs the stock default script."""
    if node_root.exists():
        shutil.rmtree(node_root)
    genvm = node_root / VERSION / "third_party" / "genvm"
    for rel, text in GENVM_FILES.items():
        (genvm / rel).parent.mkdir(parents=True, exist_ok=True)
        (genvm / rel).write_text(text, encoding="utf-8")
    text = config.read_text(encoding="utf-8").replace(
        "genvm-llm-policy.lua", "genvm-llm-default.lua"
    )
    (genvm / "config" / "genvm-module-llm.yaml").write_text(text, encoding="utf-8")
    (genvm / "data" / "llm").mkdir(parents=True)
    (node_root / VERSION / "bin").mkdir(parents=True)
    (node_root / "bin").symlink_to(f"{VERSION}/bin")


def _escape(value: Any) -> Any:
    if isinstance(value, str):
        return "$" + value if value.startswith("$") else value
    if isinstance(value, list):
        return [_escape(v) for v in value]
    if isinstance(value, dict):
        return {k: _escape(v) for k, v in value.items()}
    return value


def log_line(record: dict[str, Any], number: int) -> str:
    """One record as GenVM's logger writes it."""
    fields = {k: v for k, v in record.items() if k not in ("level", "message")}
    entry = {
        "level": record.get("level", "info"),
        "target": "genvm_modules::llm",
        "message": f"script_log: {record.get('message', '<none>')}",
        "log": _escape(dict(sorted(fields.items()))),
        "genvm_id": number,
        "file": "modules/implementation/src/scripting/ctx/dflt.rs:0",
        "ts": str(1_800_000_000_000 + number),
    }
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":"))


def send_calls(node_root: Path, log: Path) -> int:
    """Run `CALLS` through the installed hook; print what happened; write the log."""
    tree = find_tree(node_root)
    hook = tree.active_script
    assert hook is not None
    config = load_document(str(tree.config), what="node config")
    assert isinstance(config, dict), tree.config
    catalog = build_catalog(config)
    host = DemoHost(str(hook), genvm_view(catalog))
    lines = [log_line(r, 0) for r in host.logs]
    for number, (entry, args) in enumerate(CALLS, start=1):
        ctx = host.new_ctx(
            {"tx_id": f"0x{number:064x}", "node_address": "0x" + "ab" * 20}, f"session-{number}"
        )
        if number == 1:
            # The policy's first choice for this call answers 503 once: the cascade moves on.
            probe = DemoHost(str(hook), genvm_view(catalog))
            first = probe.call(
                entry,
                {**args, "images": []},
                probe.new_ctx(
                    {"tx_id": f"0x{number:064x}", "node_address": "0x" + "ab" * 20},
                    f"session-{number}",
                ),
            ).calls[0]
            host.script(*first, Outcome("status", 503, "overloaded"))
        result = host.call(entry, {**args, "images": []}, ctx)
        tried = " -> ".join(f"{p}/{m}" for p, m in result.calls)
        print(
            f"   call {number} {entry} ({args.get('response_format', args.get('template'))}): "
            f"{result.kind}; tried {tried}"
        )
        lines += [log_line(r, number) for r in result.logs]
    log.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    records = [json.loads(line) for line in lines]
    for entry in records:
        if entry["message"] == "script_log: genvm-policy decision":
            rec = entry["log"]
            steps = ", ".join(
                f"{s['provider']}/{s['model']} {s['result']}" for s in rec["attempts"]
            )
            print(
                f"   record: call {rec['material']['call']} of {rec['material']['session']}, "
                f"mode {rec['mode']}, seed {rec['seed'][:19]}…, attempts [{steps}], "
                f"outcome {rec['outcome']['kind']}"
            )
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "tree":
        make_tree(Path(argv[1]), Path(argv[2]))
        return 0
    if len(argv) == 3 and argv[0] == "calls":
        return send_calls(Path(argv[1]), Path(argv[2]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
