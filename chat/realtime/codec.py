"""Frames on the wire (DESIGN.md §7): one JSON object each, encoded with orjson.

Durable events are encoded once per audience (operators, widgets) and the same text is written
to every socket of that audience; commands are decoded into ``Command`` or an ``AppError``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import AppError, ErrorCode, InvalidData, InvalidFrame
from chat.events import EventType
from chat.models import Event
from chat.payloads import widget_conversation_view
from chat.validation import clean_json

# Code of the reply to a command that failed in an unexpected way (a bug, a service not
# available): the client sees a stable code, never a traceback.
INTERNAL_ERROR = str(ErrorCode.INTERNAL_ERROR)
INTERNAL_ERROR_MESSAGE = _("The server could not do this; try again later.")

# Events whose payload is a whole conversation: the widget sees widget_conversation_view().
_CONVERSATION_PAYLOAD_TYPES = frozenset(
    {EventType.CONVERSATION_CREATED, EventType.CONVERSATION_UPDATED, EventType.CONVERSATION_STATUS_CHANGED}
)


def dumps(obj: Any) -> str:
    return orjson.dumps(obj).decode()


def event_object(event: Event, *, widget: bool = False) -> dict[str, Any]:
    """``{"type", "id", "conversation_id", "data"}``: the event as the socket sends it."""
    payload = event.payload
    if widget and event.type in _CONVERSATION_PAYLOAD_TYPES:
        payload = widget_conversation_view(payload)
    return {"type": event.type, "id": event.id, "conversation_id": event.conversation_id, "data": payload}


def operator_event_frame(event: Event) -> str:
    return dumps(event_object(event))


def widget_event_frame(event: Event) -> str:
    return dumps(event_object(event, widget=True))


def reply_ok(ref: Any, data: dict[str, Any] | None = None) -> str:
    return dumps({"type": "reply", "ref": ref, "ok": True, "data": data or {}})


def reply_error(ref: Any, error: dict[str, Any]) -> str:
    return dumps({"type": "reply", "ref": ref, "ok": False, "error": error})


def reply_app_error(ref: Any, exc: AppError) -> str:
    return reply_error(ref, exc.as_dict())


PONG = dumps({"type": "pong"})


@dataclass(frozen=True)
class Command:
    type: str
    ref: Any = None
    data: dict[str, Any] = field(default_factory=dict)


class FrameError(Exception):
    """A frame that is not a command; ``ref`` is set when it could be read."""

    def __init__(self, error: AppError, ref: Any = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.ref = ref


def decode_command(text: str) -> Command:
    """Parse ``{"type", "ref"?, "data"?}``, or raise FrameError (invalid_frame / invalid_data)."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameError(InvalidFrame(_("The frame is not valid JSON."))) from None
    if not isinstance(obj, dict):
        raise FrameError(InvalidFrame(_("The frame is not a JSON object.")))
    ref = obj.get("ref")
    if ref is not None and not isinstance(ref, (str, int)) or isinstance(ref, bool):
        raise FrameError(InvalidFrame(_("ref must be a string or an integer.")))
    kind = obj.get("type")
    if not isinstance(kind, str) or not kind:
        raise FrameError(InvalidFrame(_("The frame has no type.")), ref)
    data = obj.get("data", {})
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrameError(InvalidData(_("data must be an object."), fields={"data": [_("Must be an object.")]}), ref)
    return Command(kind, ref, data)


# --- Reading command data ---------------------------------------------------------------------

_MISSING: Any = object()


def field_value(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, required: bool = True,
                default: Any = None, nullable: bool = False) -> Any:
    """One typed field of a command's ``data``, or InvalidData naming it."""
    value = data.get(name, _MISSING)
    if value is _MISSING:
        if required:
            raise InvalidData(format_lazy(_("{name} is required."), name=name), fields={name: [_("This field is required.")]})
        return default
    if value is None and (nullable or not required):
        return None if nullable else default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python, never in the protocol.
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        names = " | ".join(k.__name__ for k in kinds)  # Python's type names, not words
        raise InvalidData(format_lazy(_("{name} must be {types}."), name=name, types=names),
                          fields={name: [format_lazy(_("Must be {types}."), types=names)]})
    # The same hygiene as REST bodies (chat/validation.py): no control characters but tab and
    # line breaks, integers within 64 bits.
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        clean_json(value, field=name)
    return value
