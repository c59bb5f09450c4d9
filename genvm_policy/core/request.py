"""The request a policy sees: what the hook knows about one LLM call.

Spec: docs/SPEC.md §6 (Request).

Rules:
1. A request has seven fields, all required in its canonical value: `entry`,
   `format`, `role`, `images`, `prompt_bytes`, `temperature` (milli-units)
   and `max_tokens`. Each has a pinned range (`LIMITS`); anything else is `REQ_FIELD`
   or `NUM_RANGE`.
2. The templates fix the format as GenVM does: `EqComparative` and
   `EqNonComparativeValidator` answer `bool`, `EqNonComparativeLeader` answers
   `text`; a different explicit format is `REQ_FIELD`.
3. Defaults mirror GenVM's transforms: temperature 700; max_tokens 8000 for a
   prompt and 1000 for a template.
4. Derived needs: `json` and `bool` need JSON support; one or more images need
   vision. Nothing else is derived.
5. `role` is this node's part in the transaction as GenVM tells the hook
   (`leader`, `validator`), else `unknown`; default `unknown`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from genvm_policy.core.encoding import Value
from genvm_policy.core.errors import Path, PolicyError
from genvm_policy.core.identity import identity
from genvm_policy.core.numeric import to_int

__all__ = [
    "CLASSES",
    "ENTRIES",
    "FORMATS",
    "LIMITS",
    "ROLES",
    "Request",
    "make_request",
    "request_from_value",
    "request_identity",
    "request_value",
]

ENTRIES: tuple[str, ...] = (
    "prompt",
    "EqComparative",
    "EqNonComparativeLeader",
    "EqNonComparativeValidator",
)
FORMATS: tuple[str, ...] = ("text", "json", "bool")
ROLES: tuple[str, ...] = ("leader", "validator", "unknown")

# Template entry -> the format GenVM's template transform fixes.
TEMPLATE_FORMAT: dict[str, str] = {
    "EqComparative": "bool",
    "EqNonComparativeLeader": "text",
    "EqNonComparativeValidator": "bool",
}

# field -> (lowest, highest) accepted integer.
LIMITS: dict[str, tuple[int, int]] = {
    "images": (0, 16),
    "prompt_bytes": (0, 2**32 - 1),
    "temperature": (0, 2000),
    "max_tokens": (1, 2**32 - 1),
}

DEFAULT_TEMPERATURE = 700
DEFAULT_MAX_TOKENS = {"prompt": 8000, "template": 1000}

CLASSES: tuple[tuple[str, str, str, int], ...] = (
    ("text", "prompt", "text", 0),
    ("json", "prompt", "json", 0),
    ("bool", "prompt", "bool", 0),
    ("text+image", "prompt", "text", 1),
    ("json+image", "prompt", "json", 1),
    ("bool+image", "prompt", "bool", 1),
    ("EqComparative", "EqComparative", "bool", 0),
    ("EqNonComparativeLeader", "EqNonComparativeLeader", "text", 0),
    ("EqNonComparativeValidator", "EqNonComparativeValidator", "bool", 0),
)
"""The request classes of SPEC §9.4, in its order: name, entry, format, images; the rest
GenVM's defaults. Routability decides them at install, the hook at load."""


@dataclass(frozen=True)
class Request:
    """One call as the policy sees it (§6); build it with `make_request`."""

    entry: str
    format: str
    images: int
    prompt_bytes: int
    temperature: int
    max_tokens: int
    role: str = "unknown"

    @property
    def needs_json(self) -> bool:
        """Whether the answer must be JSON (`json` or `bool` format)."""
        return self.format != "text"

    @property
    def needs_image(self) -> bool:
        """Whether the route must accept images."""
        return self.images > 0


def make_request(
    entry: str = "prompt",
    format: str | None = None,
    images: int = 0,
    prompt_bytes: int = 0,
    temperature: int | None = None,
    max_tokens: int | None = None,
    role: str = "unknown",
    path: Path = (),
) -> Request:
    """Check the fields (rules 1-3) and fill GenVM's defaults."""
    if entry not in ENTRIES:
        raise PolicyError(
            "REQ_FIELD",
            (*path, "entry"),
            f"unknown entry point `{entry}`",
            "use one of " + ", ".join(ENTRIES),
        )
    fixed = TEMPLATE_FORMAT.get(entry)
    if format is None:
        format = fixed or "text"
    if format not in FORMATS:
        raise PolicyError(
            "REQ_FIELD",
            (*path, "format"),
            f"unknown response format `{format}`",
            "use text, json or bool",
        )
    if fixed is not None and format != fixed:
        raise PolicyError(
            "REQ_FIELD",
            (*path, "format"),
            f"entry `{entry}` always answers `{fixed}`, not `{format}`",
        )
    if role not in ROLES:
        raise PolicyError(
            "REQ_FIELD",
            (*path, "role"),
            f"unknown role `{role}`",
            "use leader, validator or unknown",
        )
    if temperature is None:
        temperature = DEFAULT_TEMPERATURE
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS["template" if fixed else "prompt"]
    values = {
        "images": images,
        "prompt_bytes": prompt_bytes,
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    for name, value in values.items():
        lo, hi = LIMITS[name]
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise PolicyError(
                "NUM_RANGE",
                (*path, name),
                f"`{name}` must be an integer in {lo} … {hi}",
            )
    return Request(entry, format, images, prompt_bytes, temperature, max_tokens, role)


def request_from_value(value: object, path: Path = ()) -> Request:
    """Read a request from a loaded document (a map); unknown keys are `REQ_FIELD`."""
    if not isinstance(value, Mapping):
        raise PolicyError("REQ_FIELD", path, "a request must be a map of fields")
    known = ("entry", "format", "role", *LIMITS)
    for key in sorted(value, key=lambda k: str(k).encode()):
        if key not in known:
            raise PolicyError(
                "REQ_FIELD",
                (*path, str(key)),
                f"unknown request field `{key}`",
                "use " + ", ".join(known),
            )
    texts: dict[str, str | None] = {}
    for name in ("entry", "format", "role"):
        raw = value.get(name)
        if raw is not None and not isinstance(raw, str):
            raise PolicyError("REQ_FIELD", (*path, name), f"`{name}` must be text")
        texts[name] = raw
    # Only an absent entry defaults (an empty one is `REQ_FIELD`), and the entry,
    # format and role are checked before any number: as the canonical reader does.
    entry = "prompt" if texts["entry"] is None else texts["entry"]
    role = "unknown" if texts["role"] is None else texts["role"]
    make_request(entry, texts["format"], role=role, path=path)
    numbers: dict[str, int | None] = {}
    for name, (lo, hi) in LIMITS.items():
        raw = value.get(name)
        numbers[name] = (
            None
            if raw is None
            else to_int(raw, (*path, name), scale=3 if name == "temperature" else 0, lo=lo, hi=hi)
        )
    return make_request(
        entry=entry,
        format=texts["format"],
        images=numbers["images"] or 0,
        prompt_bytes=numbers["prompt_bytes"] or 0,
        temperature=numbers["temperature"],
        max_tokens=numbers["max_tokens"],
        role=role,
        path=path,
    )


def request_value(request: Request) -> dict[str, Value]:
    """The canonical value of a request (rule 1): a map of all seven fields."""
    return {
        "entry": request.entry,
        "format": request.format,
        "role": request.role,
        "images": request.images,
        "prompt_bytes": request.prompt_bytes,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
    }


def request_identity(request: Request) -> str:
    """`identity("request", request_value(request))` (§3)."""
    return identity("request", request_value(request))
