"""Attachment uploads: count, size and type checked before anything is stored."""
from __future__ import annotations

import mimetypes
from collections.abc import Sequence

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from chat.errors import InvalidAttachment, TooManyAttachments

# Overridable in settings; SVG and HTML are left out on purpose (script in an upload).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_ALLOWED_TYPES = (
    "image/png", "image/jpeg", "image/gif", "image/webp",
    "application/pdf", "text/plain", "text/csv",
    "audio/mpeg", "audio/ogg", "audio/wav", "video/mp4", "video/webm",
    "application/zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
)


def max_bytes() -> int:
    return int(getattr(settings, "ATTACHMENT_MAX_BYTES", DEFAULT_MAX_BYTES))


def allowed_types() -> tuple[str, ...]:
    return tuple(getattr(settings, "ATTACHMENT_ALLOWED_TYPES", DEFAULT_ALLOWED_TYPES))


def check_uploads(files: Sequence[UploadedFile]) -> list[UploadedFile]:
    """TooManyAttachments or InvalidAttachment (size, declared type, or a name whose extension
    says another type), else the files."""
    if len(files) > settings.MESSAGE_MAX_ATTACHMENTS:
        raise TooManyAttachments(
            f"At most {settings.MESSAGE_MAX_ATTACHMENTS} attachments per message.",
            fields={"attachments": [f"At most {settings.MESSAGE_MAX_ATTACHMENTS}."]},
        )
    limit = max_bytes()
    types = allowed_types()
    for upload in files:
        name = upload.name or "file"
        if upload.size is None or upload.size > limit:
            raise InvalidAttachment(f"{name} is larger than {limit} bytes.", fields={"attachments": [f"{name}: too large."]})
        declared = (upload.content_type or "").split(";")[0].strip().lower()
        guessed = (mimetypes.guess_type(name)[0] or "").lower()
        if declared not in types or (guessed and guessed != declared):
            raise InvalidAttachment(
                f"{name}: type {declared or 'unknown'} is not accepted.", fields={"attachments": [f"{name}: type not accepted."]}
            )
    return list(files)
