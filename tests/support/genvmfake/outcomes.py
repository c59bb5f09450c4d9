"""Scripted provider outcomes and the results the fake reports (GENVM.md §4, §5).

Rules:
1. Error outcomes are GenVM's request-path kinds, all fatal, with their `ctx` fields
   (`status` a float); `traceback=True` adds a traceback string as `causes[2]`.
2. A `CallResult` carries what GenVM would answer plus everything the call did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .host import LogRecord

__all__ = [
    "CallResult",
    "Deserializing",
    "ModuleDoesNotStart",
    "Outcome",
    "PlainError",
    "ProviderCall",
    "ReadingBody",
    "SendingRequest",
    "StatusNotOk",
    "Success",
]


@dataclass(frozen=True)
class Success:
    """A provider answer; unset fields take defaults derived from the request."""

    text: str | None = None
    json: Any = None
    result: bool | None = None
    tokens: int = 7
    consumed_gen: int = 0  # what the newest V2 answer reports as spent (a `rat`)


@dataclass(frozen=True)
class StatusNotOk:
    """Fatal `STATUS_NOT_OK` with a float `ctx.status`; `headers` as (name, value) pairs."""

    status: int
    body: str = ""
    traceback: bool = False
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ReadingBody:
    """Fatal `READING_BODY` (an unparsable reply, e.g. an HTML 503), with its status."""

    status: int
    rust_error: str = "error decoding response body"
    traceback: bool = False


@dataclass(frozen=True)
class SendingRequest:
    """Fatal `SENDING_REQUEST` (network failure or send timeout)."""

    rust_error: str = "error sending request: operation timed out"
    traceback: bool = False


@dataclass(frozen=True)
class Deserializing:
    """Fatal `DESERIALIZING` (the model's reply did not decode)."""

    rust_error: str = "expected value at line 1 column 1"
    traceback: bool = False


@dataclass(frozen=True)
class PlainError:
    """A non-module error: `as_user_error` gives nil for it."""

    message: str = "running in provider: connection reset"


Outcome = Success | StatusNotOk | ReadingBody | SendingRequest | Deserializing | PlainError


@dataclass
class ProviderCall:
    """One `exec_prompt_in_provider` call: who asked, what was sent, what came back."""

    session: int | None
    raw: Any
    request: dict[str, Any] | None
    outcome: str


@dataclass
class CallResult:
    """What GenVM would send back for one entry-point call (or Setup/Teardown)."""

    kind: str  # "ok" | "user_error" | "fatal_error"
    data: Any = None
    consumed_gen: int | None = None
    causes: list[str] = field(default_factory=list)
    ctx: dict[str, Any] = field(default_factory=dict)
    message: str = ""
    requests: list[ProviderCall] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    sleeps: list[Any] = field(default_factory=list)
    http: list[Any] = field(default_factory=list)


class ModuleDoesNotStart(Exception):
    """The hook failed to load, or lacks `ExecPrompt`/`ExecPromptTemplate`."""
