"""Attachment download through its signed link (chat/services/attachments.py)."""
from __future__ import annotations

from django.http import FileResponse, Http404, HttpRequest

from chat.models import Attachment
from chat.services.attachments import INLINE_TYPES, attachment_signature_valid


def attachment_download(request: HttpRequest, pk: int, signature: str) -> FileResponse:
    """Serve one attachment if the link's signature matches; 404 otherwise (no oracle)."""
    if not attachment_signature_valid(pk, signature):
        raise Http404
    attachment = Attachment.objects.filter(pk=pk).first()
    if attachment is None or not attachment.file:
        raise Http404
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
