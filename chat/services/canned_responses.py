"""Canned responses (DESIGN.md §11, docs/desk.md "Canned responses"): administration.

A response is global (``inbox`` null) or belongs to one inbox; ``short_code`` is unique within
its scope (the partial unique indexes of the model decide between two creators at once: the
loser gets ``Conflict``, 409, never a 500). Reads are chat/selectors/canned_responses.py's.

Input rules: ``short_code`` trimmed and lower-cased, 1-100 letters, digits, ``-``, ``_`` or
``.`` (what follows the ``/`` in the composer: no spaces, never markup); ``content`` 1-10,000
characters, not blank, no control characters but tab and line breaks (chat.validation).
"""
from __future__ import annotations

import unicodedata
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import Conflict, InvalidData, NotFound
from chat.models import CannedResponse, Inbox
from chat.validation import clean_text

SHORT_CODE_MAX_LENGTH = 100
CONTENT_MAX_LENGTH = 10_000


def canned_clean_short_code(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidData(_("short_code must be text."), fields={"short_code": [_("Text.")]})
    code = unicodedata.normalize("NFC", value.strip()).lower().lstrip("/")
    if not 1 <= len(code) <= SHORT_CODE_MAX_LENGTH:
        raise InvalidData(format_lazy(_("short_code must be 1 to {max_length} characters."), max_length=SHORT_CODE_MAX_LENGTH),
                          fields={"short_code": [format_lazy(_("1 to {max_length} characters."), max_length=SHORT_CODE_MAX_LENGTH)]})
    if not all(ch.isalnum() or ch in "-_." for ch in code):
        raise InvalidData(_("short_code may hold only letters, digits, '-', '_' and '.'."),
                          fields={"short_code": [_("Only letters, digits, '-', '_' and '.' (no spaces).")]})
    return code


def canned_clean_content(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidData(_("content must be text."), fields={"content": [_("Text.")]})
    if not value.strip():
        raise InvalidData(_("content may not be blank."), fields={"content": [_("Not blank.")]})
    if len(value) > CONTENT_MAX_LENGTH:
        raise InvalidData(_("content is too long."), fields={"content": [format_lazy(_("At most {max_length} characters."), max_length=CONTENT_MAX_LENGTH)]})
    return clean_text(value, field="content")


def canned_clean_inbox(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not Inbox.objects.filter(pk=value).exists():
        raise InvalidData(_("No such inbox."), fields={"inbox": [_("An inbox id, or null for every inbox.")]})
    return value


def _duplicate(code: str, inbox_id: int | None) -> Conflict:
    if inbox_id is not None:
        return Conflict(format_lazy(_("/{code} already exists in this inbox."), code=code),
                        fields={"short_code": [_("Already used in this inbox.")]})
    return Conflict(format_lazy(_("/{code} already exists in the global responses."), code=code),
                    fields={"short_code": [_("Already used in the global responses.")]})


def canned_response_create(*, short_code: Any, content: Any, inbox_id: Any = None) -> CannedResponse:
    """A new response; ``Conflict`` if its scope has the code already (also under a race)."""
    code = canned_clean_short_code(short_code)
    text = canned_clean_content(content)
    inbox = canned_clean_inbox(inbox_id)
    try:
        with transaction.atomic():
            return CannedResponse.objects.create(short_code=code, content=text, inbox_id=inbox)
    except IntegrityError:
        raise _duplicate(code, inbox) from None


_UNSET: Any = object()


def canned_response_update(*, response_id: int, short_code: Any = _UNSET, content: Any = _UNSET,
                           inbox_id: Any = _UNSET) -> CannedResponse:
    """Change what is given (moving it to another scope too); ``Conflict`` on a taken code."""
    changes: dict[str, Any] = {}
    if short_code is not _UNSET:
        changes["short_code"] = canned_clean_short_code(short_code)
    if content is not _UNSET:
        changes["content"] = canned_clean_content(content)
    if inbox_id is not _UNSET:
        changes["inbox_id"] = canned_clean_inbox(inbox_id)
    with transaction.atomic():
        response = CannedResponse.objects.select_for_update(no_key=True).filter(pk=response_id).first()
        if response is None:
            raise NotFound(_("Canned response not found."))
        for key, value in changes.items():
            setattr(response, key, value)
        if changes:
            try:
                with transaction.atomic():
                    response.save(update_fields=[*changes, "updated_at"])
            except IntegrityError:
                raise _duplicate(response.short_code, response.inbox_id) from None
        return response


def canned_response_delete(*, response_id: int) -> None:
    if not CannedResponse.objects.filter(pk=response_id).delete()[0]:
        raise NotFound(_("Canned response not found."))
