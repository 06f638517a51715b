"""Attachments: the upload policy (one owner, whatever the transport) and signed links.

**Policy.** ``attachment_policy_check`` is called by the message service (``message_create``
and ``visitor_message_send``), so an upload over the widget socket (base64), widget REST or
operator REST (multipart) meets the same rules before anything is stored: at most
MESSAGE_MAX_ATTACHMENTS files; each at most ATTACHMENT_MAX_BYTES; a declared ``content_type``
that is a clean token (no control characters, at most 100 characters, ``type/subtype``) and in
the allow-list (SVG, HTML and executables are left out on purpose: script or code in an
upload); a file name without control characters whose extension, if it has one, belongs to
the declared type. Transports only parse: they never check a type or a size themselves.

**Links.** A message payload carries each attachment's link, and only callers allowed to see
the message receive the payload (operators of the inbox; the visitor, for non-private
messages). The link is ``/attachments/<id>/<signature>/``: unguessable without SECRET_KEY, so
stored file names (which are guessable) are never served directly. It does not expire: it
lives in history and in replayed events, like the message that carries it. A private note's
link is not a capability on its own: ``attachment_for_download`` also wants an operator (session
or token) who sees the conversation now, so a note's file never reaches a visitor or a former
member even if its link leaked.
"""
from __future__ import annotations

import mimetypes
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.text import format_lazy, get_valid_filename
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidAttachment, Message, NotFound, TooManyAttachments

_SIGNER_SALT = "chat.attachment"

# Served inline (the browser may render them); anything else downloads as a file.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})

# Overridable in settings (ATTACHMENT_MAX_BYTES, ATTACHMENT_ALLOWED_TYPES).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_ALLOWED_TYPES = (
    "image/png", "image/jpeg", "image/gif", "image/webp",
    "application/pdf", "text/plain", "text/csv",
    "audio/mpeg", "audio/ogg", "audio/wav", "video/mp4", "video/webm",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)
# Extensions of the default types, fixed here: the platform's mime.types differ between
# machines (".wav" is audio/x-wav on some), and a policy must not.
_EXTENSIONS = {
    "image/png": {".png"},
    "image/jpeg": {".jpg", ".jpeg", ".jpe"},
    "image/gif": {".gif"},
    "image/webp": {".webp"},
    "application/pdf": {".pdf"},
    "text/plain": {".txt", ".text", ".log"},
    "text/csv": {".csv"},
    "audio/mpeg": {".mp3", ".mpga"},
    "audio/ogg": {".ogg", ".oga", ".opus"},
    "audio/wav": {".wav"},
    "video/mp4": {".mp4", ".m4v"},
    "video/webm": {".webm"},
    "application/zip": {".zip"},
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {".docx"},
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {".xlsx"},
}
MAX_CONTENT_TYPE_LENGTH = 100  # Attachment.file_type
MAX_NAME_LENGTH = 100
# RFC 6838 restricted names; parameters after ";" are dropped before the allow-list.
_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AcceptedAttachment:
    """An upload the policy accepted: the file, its normalized type and its size."""

    file: Any
    content_type: str
    size: int


def max_bytes() -> int:
    return int(getattr(settings, "ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def allowed_types() -> tuple[str, ...]:
    return tuple(getattr(settings, "ATTACHMENT_ALLOWED_TYPES", DEFAULT_ALLOWED_TYPES))


def _refuse(name: Message, why: Message) -> InvalidAttachment:
    """``name: why.``; ``why`` is translated."""
    message = format_lazy("{}: {}.", name, why)
    return InvalidAttachment(message, fields={"attachments": [message]})


def _clean_type(raw: Any, name: str) -> str:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_CONTENT_TYPE_LENGTH or _CONTROL.search(raw):
        raise _refuse(name, _("content_type must be a media type of at most 100 characters"))
    declared = raw.split(";", 1)[0].strip().lower()
    if not _TOKEN.match(declared):
        raise _refuse(name, _("content_type is not a media type"))
    if declared not in allowed_types():
        raise _refuse(name, format_lazy(_("type {type} is not accepted"), type=declared))
    return declared


def _extension_matches(name: str, declared: str) -> bool:
    extension = posixpath.splitext(name)[1].lower()
    if not extension:
        return True
    known = _EXTENSIONS.get(declared) or set(mimetypes.guess_all_extensions(declared))
    return extension in known


def _storage_name(name: str) -> str:
    base = posixpath.basename(name.replace("\\", "/")).strip()
    try:
        return get_valid_filename(base)
    except SuspiciousFileOperation:  # "", ".", ".." and the like
        return "attachment"


def attachment_policy_check(files: Sequence[Any]) -> list[AcceptedAttachment]:
    """The uploads of one message, checked: TooManyAttachments or InvalidAttachment, else each
    file with its normalized content type and size."""
    if len(files) > settings.MESSAGE_MAX_ATTACHMENTS:
        raise TooManyAttachments(
            format_lazy(_("At most {count} attachments per message."), count=settings.MESSAGE_MAX_ATTACHMENTS),
            fields={"attachments": [format_lazy(_("At most {count}."), count=settings.MESSAGE_MAX_ATTACHMENTS)]},
        )
    limit = max_bytes()
    accepted = []
    for upload in files:
        raw_name = getattr(upload, "name", None) or "file"
        if not isinstance(raw_name, str) or _CONTROL.search(raw_name) or len(raw_name) > MAX_NAME_LENGTH:
            raise _refuse(_("attachment"), format_lazy(
                _("the name must be at most {count} characters, no control characters"), count=MAX_NAME_LENGTH))
        name = _storage_name(raw_name)
        upload.name = name  # what storage will write: never empty, ".", ".." or a path
        size = getattr(upload, "size", None)
        if not isinstance(size, int) or size > limit:
            raise _refuse(name, format_lazy(_("larger than {count} bytes"), count=limit))
        declared = _clean_type(getattr(upload, "content_type", None), name)
        if not _extension_matches(name, declared):
            raise _refuse(name, format_lazy(_("the extension does not match the type {type}"), type=declared))
        accepted.append(AcceptedAttachment(upload, declared, size))
    return accepted


def _signature(attachment_id: int) -> str:
    return signing.Signer(salt=_SIGNER_SALT).signature(str(attachment_id))


def attachment_url(attachment_id: int) -> str:
    """The signed download path of one attachment."""
    return reverse("attachment-download", kwargs={"pk": attachment_id, "signature": _signature(attachment_id)})


def attachment_signature_valid(attachment_id: int, signature: str) -> bool:
    return constant_time_compare(_signature(attachment_id), signature)


def attachment_for_download(*, attachment_id: int, signature: str, user: Any) -> Any:
    """The attachment a signed link names, if this caller may read it now; else NotFound (no
    oracle: a wrong signature, a deleted file and a private note for a stranger look alike)."""
    from chat.models import Attachment, Conversation
    from chat.selectors.scope import conversation_visible_q

    if not attachment_signature_valid(attachment_id, signature):
        raise NotFound(_("No such attachment."))
    attachment = Attachment.objects.select_related("message").filter(pk=attachment_id).first()
    if attachment is None or not attachment.file:
        raise NotFound(_("No such attachment."))
    if attachment.message.private:
        operator = user is not None and user.is_authenticated and user.is_active
        visible = operator and Conversation.objects.filter(
            conversation_visible_q(user_id=user.pk), pk=attachment.message.conversation_id).exists()
        if not visible:
            raise NotFound(_("No such attachment."))
    return attachment
