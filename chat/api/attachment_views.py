"""Attachment download through its signed link (chat/services/attachments.py)."""
from __future__ import annotations

from typing import Any

from django.http import FileResponse, Http404, HttpRequest

from chat.errors import NotFound
from chat.realtime.access import user_for_token
from chat.services.attachments import INLINE_TYPES, attachment_for_download


def _caller(request: HttpRequest) -> Any:
    """The session's user, or the user of an ``Authorization: Token`` header (API clients)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return user
    scheme, _, key = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() == "token" and key.strip():
        return user_for_token(key.strip())
    return None


def attachment_download(request: HttpRequest, pk: int, signature: str) -> FileResponse:
    """Serve one attachment if the caller may read it (chat.services.attachments.
    attachment_for_download); 404 otherwise (no oracle)."""
    try:
        attachment = attachment_for_download(attachment_id=pk, signature=signature, user=_caller(request))
    except NotFound:
        raise Http404 from None
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    name = attachment.file.name
    assert name  # a FieldFile is truthy only when it has a name (checked above)
    inline = attachment.file_type in INLINE_TYPES
    response = FileResponse(
        handle,
        as_attachment=not inline,
        filename=name.rsplit("/", 1)[-1],
        content_type=attachment.file_type if inline else "application/octet-stream",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=86400"
    return response
