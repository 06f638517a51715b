"""Attachment links: capability URLs signed with the secret key.

A message payload carries each attachment's link, and only callers allowed to see the message
receive the payload (operators of the inbox; the visitor, for non-private messages). The link
is ``/attachments/<id>/<signature>/``: unguessable without SECRET_KEY, so stored file names
(which are guessable) are never served directly. It does not expire: it lives in history and
in replayed events, like the message that carries it.
"""
from __future__ import annotations

from django.core import signing
from django.urls import reverse
from django.utils.crypto import constant_time_compare

_SIGNER_SALT = "chat.attachment"

# Served inline (the browser may render them); anything else downloads as a file.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _signature(attachment_id: int) -> str:
    return signing.Signer(salt=_SIGNER_SALT).signature(str(attachment_id))


def attachment_url(attachment_id: int) -> str:
    """The signed download path of one attachment."""
    return reverse("attachment-download", kwargs={"pk": attachment_id, "signature": _signature(attachment_id)})


def attachment_signature_valid(attachment_id: int, signature: str) -> bool:
    return constant_time_compare(_signature(attachment_id), signature)
