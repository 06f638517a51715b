"""Application errors: one hierarchy, one stable ``code`` each.

Services raise these; the socket consumers turn them into ``reply`` frames with ``ok: false``
and the REST exception handler into ``{"error": {"code", "message", "fields"}}`` with the
class's HTTP status. Codes are part of the wire contract (DESIGN.md §7): never rename one.

Messages are for people and translated (docs/i18n.md): every message, the class defaults and
those given at a raise, is marked with ``gettext_lazy`` (``_``; ``format_lazy`` for values), so
it is rendered in the reader's language where it leaves the server (``as_dict``, under the
language the transport activated from ``chat.i18n``). ``tests/test_i18n_server.py`` fails on an
unmarked message and on one without a Russian translation.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.utils.encoding import force_str
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

# A message for people: a lazily translated string (or, from outside code, plain text).
Message = str | Promise


class ErrorCode(StrEnum):
    INVALID_FRAME = "invalid_frame"
    UNKNOWN_COMMAND = "unknown_command"
    INVALID_DATA = "invalid_data"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    NOT_AUTHENTICATED = "not_authenticated"
    FLOOD_LIMITED = "flood_limited"
    CONTENT_TOO_LONG = "content_too_long"
    TOO_MANY_ATTACHMENTS = "too_many_attachments"
    CONTACT_BLOCKED = "contact_blocked"
    RATE_LIMITED = "rate_limited"
    RESYNC_REQUIRED = "resync_required"
    CONFLICT = "conflict"
    INVALID_ATTACHMENT = "invalid_attachment"
    # An unexpected server failure (logged); the client may retry. Never carries details.
    INTERNAL_ERROR = "internal_error"
    # PostgreSQL or Redis is out of reach (DESIGN §13): retry later; never an auth failure.
    UNAVAILABLE = "unavailable"


class AppError(Exception):
    """Base of every error a client may see. Subclasses set ``code`` and ``http_status``."""

    code: ErrorCode = ErrorCode.INVALID_DATA
    http_status: int = 400
    default_message: Message = _("The request is invalid.")

    def __init__(self, message: Message | None = None, *, fields: dict[str, Any] | None = None) -> None:
        self.message: Message = message if isinstance(message, Promise) else (message or self.default_message)
        self.fields = fields or {}
        super().__init__(self.message)

    def __str__(self) -> str:
        return force_str(self.message)

    def as_dict(self) -> dict[str, Any]:
        """``{"code", "message", "fields"?}`` in the active language (chat.i18n)."""
        body: dict[str, Any] = {"code": str(self.code), "message": force_str(self.message)}
        if self.fields:
            body["fields"] = rendered(self.fields)
        return body


def rendered(value: Any) -> Any:
    """``value`` with every lazily translated string rendered in the active language."""
    if isinstance(value, Promise):
        return force_str(value)
    if isinstance(value, dict):
        return {key: rendered(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rendered(item) for item in value]
    return value


class InvalidFrame(AppError):
    code = ErrorCode.INVALID_FRAME
    default_message = _("The frame is not a JSON object.")


class UnknownCommand(AppError):
    code = ErrorCode.UNKNOWN_COMMAND
    default_message = _("Unknown command.")


class InvalidData(AppError):
    code = ErrorCode.INVALID_DATA


class NotFound(AppError):
    code = ErrorCode.NOT_FOUND
    http_status = 404
    default_message = _("Not found.")


class PermissionDenied(AppError):
    code = ErrorCode.PERMISSION_DENIED
    http_status = 403
    default_message = _("You may not do this.")


class NotAuthenticated(AppError):
    code = ErrorCode.NOT_AUTHENTICATED
    http_status = 401
    default_message = _("Authentication required.")


class FloodLimited(AppError):
    code = ErrorCode.FLOOD_LIMITED
    http_status = 429
    default_message = _("Too many messages; wait a moment.")


class RateLimited(AppError):
    code = ErrorCode.RATE_LIMITED
    http_status = 429
    default_message = _("Too many requests; slow down.")


class ContentTooLong(AppError):
    code = ErrorCode.CONTENT_TOO_LONG
    default_message = _("The message is too long.")


class TooManyAttachments(AppError):
    code = ErrorCode.TOO_MANY_ATTACHMENTS
    default_message = _("Too many attachments.")


class InvalidAttachment(AppError):
    code = ErrorCode.INVALID_ATTACHMENT
    default_message = _("The attachment is not accepted.")


class ContactBlocked(AppError):
    code = ErrorCode.CONTACT_BLOCKED
    http_status = 403
    default_message = _("This contact is blocked.")


class ResyncRequired(AppError):
    code = ErrorCode.RESYNC_REQUIRED
    http_status = 409
    default_message = _("Too many events were missed; reload through the REST API.")


class Conflict(AppError):
    code = ErrorCode.CONFLICT
    http_status = 409
    default_message = _("The request conflicts with the current state.")


class Unavailable(AppError):
    """A service the request needs (PostgreSQL, Redis) is out of reach; retry with backoff."""

    code = ErrorCode.UNAVAILABLE
    http_status = 503
    default_message = _("The service is temporarily unavailable; try again shortly.")
