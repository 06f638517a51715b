"""Input hygiene: the rules every edge applies to what a client sends (docs/architecture.md,
"Input hygiene"). Pure functions, no I/O; they raise ``chat.errors.InvalidData``.

* **Text** (message content, names, attribute values, every string of a JSON body or a socket
  frame): control characters are *refused*, never silently stripped, except tab, line feed and
  carriage return, which text may hold. NUL can never be stored (PostgreSQL refuses it in text
  and jsonb), and a lone UTF-16 surrogate cannot be encoded: both are refused too.
* **Tokens and identifiers** (widget token, ``?token=``, ``?q=``, ``echo_id``): no control
  character at all, bounded length.
* **JSON**: at most ``MAX_JSON_DEPTH`` levels of arrays/objects (a 50,000-deep body would
  otherwise exhaust the parser's recursion), integers within 64 bits, only finite numbers.
* **Times**: ISO 8601; a well-formed but impossible one (``2026-13-45T99:99:99Z``) is refused
  like a malformed one; a time without offset is UTC.
"""
from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData, Message

MAX_JSON_DEPTH = 32
MAX_TOKEN_LENGTH = 255
MAX_QUERY_LENGTH = 200
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1

_NOT_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_NOT_TOKEN = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def _invalid(field: str, why: Message) -> InvalidData:
    """``field: why.``, and ``Why.`` under the field; ``why`` is translated (lower case)."""
    return InvalidData(format_lazy("{}: {}.", field, why),
                       fields={field: [format_lazy("{}.", capfirst(why))]})  # type: ignore[type-var]


def text_is_clean(value: str) -> bool:
    """No control character but tab, line feed and carriage return; no lone surrogate."""
    return _NOT_TEXT.search(value) is None


def token_is_clean(value: str, *, max_length: int = MAX_TOKEN_LENGTH) -> bool:
    return len(value) <= max_length and _NOT_TOKEN.search(value) is None


def clean_text(value: str, *, field: str) -> str:
    if not text_is_clean(value):
        raise _invalid(field, _("control characters are not allowed"))
    return value


def clean_token(value: str, *, field: str, max_length: int = MAX_TOKEN_LENGTH) -> str:
    if not token_is_clean(value, max_length=max_length):
        raise _invalid(field, format_lazy(_("at most {max_length} characters, no control characters"), max_length=max_length))
    return value


def clean_json(value: Any, *, field: str = "body", max_depth: int = MAX_JSON_DEPTH) -> Any:
    """A decoded JSON value whose depth, strings (keys too) and numbers meet the rules.
    Iterative, so that a deep value cannot exhaust the interpreter's stack here either."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if not text_is_clean(item):
                raise _invalid(field, _("control characters are not allowed"))
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not _INT_MIN <= item <= _INT_MAX:
                raise _invalid(field, _("integers must fit in 64 bits"))
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise _invalid(field, _("numbers must be finite"))
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                raise _invalid(field, format_lazy(_("nested deeper than {max_depth} levels"), max_depth=max_depth))
            if isinstance(item, dict):
                for key, child in item.items():
                    stack.append((key, depth))
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)
    return value


def parse_time(value: Any, *, field: str) -> datetime | None:
    """An ISO 8601 time (UTC when it has no offset), None for None; InvalidData otherwise."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 64:
        raise _invalid(field, _("must be an ISO 8601 time"))
    try:
        parsed = parse_datetime(value.strip())
    except (ValueError, OverflowError):  # well-formed but impossible: month 13, hour 99
        parsed = None
    if parsed is None:
        raise _invalid(field, _("must be an ISO 8601 time"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def query_text(params: Any, name: str, *, max_length: int = MAX_QUERY_LENGTH) -> str:
    """A free-text query parameter (``?q=``): stripped, bounded, no control characters."""
    value = params.get(name) or ""
    if not isinstance(value, str):
        raise _invalid(name, _("must be text"))
    value = value.strip()
    if len(value) > max_length or _NOT_TOKEN.search(value):
        raise _invalid(name, format_lazy(_("at most {max_length} characters, no control characters"), max_length=max_length))
    return value
