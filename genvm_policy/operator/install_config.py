"""The LLM config's part of install and revert: its whole backup, the switch check, the put-back.

Spec: docs/INSTALL.md §3 (rule 5, the check), §4 (the whole-config backup) and
§7 (revert, step 2).

Rules:
1. The whole config is backed up (mode 0600, owned like the config) right
   after the journal of the first install, while it is still the original.
2. A switch is checked before it is written: read with the YAML loader, the
   new text must differ from the old only in `lua_script_path`.
3. Revert puts the whole backup back when the config is as the install left
   it, or damaged (cut short, top-level keys lost, unparseable); otherwise it
   puts only the previous value back and keeps the operator's edits.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from genvm_policy.core.errors import PolicyError
from genvm_policy.operator import yamledit
from genvm_policy.operator.install_fs import (
    STATE_NAME,
    SWITCH_KEY,
    Step,
    file_owner,
    file_state,
    sha256_hex,
)
from genvm_policy.operator.nodetree import CONFIG_RELPATH, GenvmTree, read_config_text

__all__ = ["CONFIG_BACKUP", "check_edit", "config_backup", "revert_config"]

CONFIG_BACKUP = f"config/{STATE_NAME}/backup/{CONFIG_RELPATH}"
KEY = SWITCH_KEY


def _state(tree: GenvmTree, rel: str) -> tuple[bytes, int] | None:
    return file_state(tree.root / rel)


def check_edit(text: str, new_text: str, desired: str) -> None:
    """Refuse a switch whose text changes more than the value, before it is written (rule 2)."""
    problem = yamledit.one_change(text, new_text, KEY, desired)
    if problem is not None:
        raise PolicyError(
            "INSTALL_CONFIG_CHECK",
            (CONFIG_RELPATH, KEY),
            f"switching `{KEY}` would change more than that value: {problem}",
            hint="nothing was changed; check the file with a YAML linter and fix it by hand",
        )


def config_backup(tree: GenvmTree, config: dict[str, Any], text: str) -> list[Step]:
    """The whole-config backup step (rule 1), while the config is still the original."""
    if config.get("backup") != CONFIG_BACKUP or _state(tree, CONFIG_BACKUP) is not None:
        return []
    data = text.encode("utf-8")
    if sha256_hex(data) != config["original_sha256"]:
        return []  # switched before a crash: revert puts the value back instead
    owner = file_owner(tree.config)
    return [Step("backup", CONFIG_BACKUP, f"back up `{CONFIG_RELPATH}` whole", data, 0o600, owner)]


def _from_backup(tree: GenvmTree, config: dict[str, Any], why: str) -> list[Step] | None:
    """The step putting the whole-config backup back, when it is intact (rule 3)."""
    backup = _state(tree, config.get("backup") or CONFIG_BACKUP)
    if backup is None or sha256_hex(backup[0]) != config["original_sha256"]:
        return None
    mode = tree.config.stat().st_mode & 0o7777
    text = f"put `{CONFIG_RELPATH}` back from its backup ({why})"
    return [Step("put_back", CONFIG_RELPATH, text, backup[0], mode)]


def _damage(tree: GenvmTree, config: dict[str, Any], text: str) -> str | None:
    """Why the config looks damaged rather than edited (cut short, keys lost), or None."""
    backup = _state(tree, config.get("backup") or CONFIG_BACKUP)
    if backup is None:
        return None
    original = backup[0].decode("utf-8", "replace")
    installed = yamledit.replace_scalar(original, KEY, config["installed_value"])
    if text != installed and installed.startswith(text):
        return f"cut short at {len(text.encode('utf-8'))} bytes"
    return yamledit.damage(original, text)


def revert_config(tree: GenvmTree, config: dict[str, Any], notes: list[str]) -> list[Step]:
    """The steps putting the config back as before the first install (rule 3)."""
    text = read_config_text(tree.config)
    try:
        scalar = yamledit.get_scalar(text, KEY)
    except PolicyError as err:
        whole = _from_backup(tree, config, "it is damaged")
        if whole is None:
            raise
        notes.append(f"`{CONFIG_RELPATH}` no longer reads ({err.message}); its backup is put back")
        return whole
    why = _damage(tree, config, text)
    if why is not None and (whole := _from_backup(tree, config, "it is damaged")) is not None:
        notes.append(f"`{CONFIG_RELPATH}` is damaged ({why}); its backup is put back")
        return whole
    if sha256_hex(text.encode("utf-8")) == config["installed_sha256"]:
        whole = _from_backup(tree, config, "")
        if whole is not None:
            return [
                replace(
                    whole[0],
                    text=f"switch `{KEY}` back: `{scalar.value}` -> `{config['previous_value']}` "
                    f"(`{CONFIG_RELPATH}` put back whole from its backup)",
                )
            ]
    if scalar.value != config["installed_value"]:
        if scalar.value != config["previous_value"]:
            notes.append(f"`{KEY}` is `{scalar.value}`, set since the install; left as it is")
        return []
    restored = yamledit.replace_raw(text, KEY, config["previous_raw"]).encode("utf-8")
    if sha256_hex(text.encode("utf-8")) != config["installed_sha256"]:
        notes.append(
            f"`{CONFIG_RELPATH}` changed since the install: only `{KEY}` is put back, "
            "the other changes stay"
        )
    elif sha256_hex(restored) != config["original_sha256"]:
        raise PolicyError(
            "INSTALL_BACKUP_MISSING",
            (CONFIG_RELPATH, KEY),
            "putting the previous value back does not give the original config bytes",
            hint=f"set `{KEY}` back to `{config['previous_value']}` by hand",
        )
    return [
        Step(
            "switch",
            CONFIG_RELPATH,
            f"switch `{KEY}` back: `{scalar.value}` -> `{config['previous_value']}`",
            restored,
            tree.config.stat().st_mode & 0o7777,
        )
    ]
