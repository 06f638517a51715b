"""Attachments inside a socket frame (widget and operator ``message.create``): parsing only.

The shape is ``[{"name", "content_type", "data": base64}]``, bounded by WS_MAX_FRAME_BYTES; the
message service applies the attachment policy (chat/services/attachments.py) to what comes out.
"""
from __future__ import annotations

import base64
import binascii
import contextlib
from typing import Any

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidAttachment, InvalidData


def decode_attachments(value: Any) -> list[SimpleUploadedFile]:
    """``[{"name", "content_type", "data": base64}]`` → uploaded files (bounded by the frame
    size). Parsing only: the message service applies the attachment policy."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidData(_("attachments must be a list."), fields={"attachments": [_("Must be a list.")]})
    files = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("data"), str):
            raise InvalidAttachment(_("Each attachment needs name, content_type and base64 data."))
        name, content_type = item.get("name", "attachment"), item.get("content_type")
        if not isinstance(name, str) or not isinstance(content_type, str):
            raise InvalidAttachment(_("An attachment's name and content_type are strings."))
        try:
            content = base64.b64decode(item["data"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidAttachment(_("Attachment data is not base64.")) from None
        upload = SimpleUploadedFile("attachment", content, content_type=content_type)
        with contextlib.suppress(SuspiciousFileOperation):  # "", "..": stays "attachment"
            upload.name = name  # as sent, the policy judges it
        files.append(upload)
    return files
