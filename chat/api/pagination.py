"""Query parameters of paged lists: limits, keyset cursors, integer filters."""
from __future__ import annotations

import base64
import json
from typing import Any, overload

from django.utils.dateparse import parse_datetime
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def limit_param(params: Any, *, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = params.get("limit")
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise InvalidData(_("limit must be an integer."), fields={"limit": [_("An integer.")]}) from None
    if value < 1:
        raise InvalidData(_("limit must be positive."), fields={"limit": [_("At least 1.")]})
    return min(value, maximum)


def int_param(params: Any, name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise InvalidData(format_lazy(_("{name} must be an integer."), name=name), fields={name: [_("An integer.")]}) from None


@overload
def encode_cursor(key: tuple[str, int]) -> str: ...
@overload
def encode_cursor(key: None) -> None: ...
def encode_cursor(key: tuple[str, int] | None) -> str | None:
    """Opaque cursor for a (last_activity_at, id) keyset position."""
    if key is None:
        return None
    raw = json.dumps(list(key), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        at_text, pk = json.loads(raw)
        if not isinstance(at_text, str) or parse_datetime(at_text) is None or not isinstance(pk, int):
            raise ValueError
        return at_text, pk
    except (ValueError, TypeError, json.JSONDecodeError):
        raise InvalidData(_("Invalid cursor."), fields={"cursor": [_("Use the 'next' value of the previous page.")]}) from None
