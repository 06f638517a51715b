"""Reads of the desk's catalogues: canned responses (scoped) and labels (everyone's).

Both lists are keyset pages (``limit`` at most ``CATALOG_PAGE_MAX``), so ten thousand rows cost
what one page costs. Canned responses follow the inbox rule of chat/selectors/scope.py: an
operator reads the global ones and those of their inboxes (administrators: all); any other is
``NotFound``, whether it exists or not.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData, NotFound
from chat.models import CannedResponse, Label
from chat.selectors.scope import caller_scope

CATALOG_PAGE_DEFAULT = 100
CATALOG_PAGE_MAX = 500

T = TypeVar("T")


@dataclass(frozen=True)
class CatalogPage(Generic[T]):
    rows: list[T]
    next_key: str | None  # an opaque cursor for the next page, or None


def encode_key(text: str, pk: int) -> str:
    raw = json.dumps([text, pk], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_key(value: str | None) -> tuple[str, int] | None:
    if not value:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        text, pk = json.loads(raw)
        if not isinstance(text, str) or not isinstance(pk, int) or isinstance(pk, bool):
            raise ValueError
        return text, pk
    except (ValueError, TypeError):  # binascii.Error and JSONDecodeError are ValueErrors
        raise InvalidData(_("Invalid cursor."), fields={"cursor": [_("Use the 'next' value of the previous page.")]}) from None


def _page(qs: QuerySet[Any], field: str, after: str | None, limit: int) -> CatalogPage[Any]:
    limit = max(1, min(limit, CATALOG_PAGE_MAX))
    key = decode_key(after)
    if key is not None:
        text, pk = key
        qs = qs.filter(Q(**{f"{field}__gt": text}) | Q(**{field: text, "pk__gt": pk}))
    rows = list(qs.order_by(field, "pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return CatalogPage(rows, encode_key(getattr(rows[-1], field), rows[-1].pk) if more and rows else None)


# --- Canned responses ---------------------------------------------------------------------------


def _canned_visible(user: Any) -> QuerySet[CannedResponse]:
    scope = caller_scope(user)
    subquery = scope.inbox_subquery()
    if subquery is None:
        return CannedResponse.objects.all()
    return CannedResponse.objects.filter(Q(inbox__isnull=True) | Q(inbox_id__in=subquery))


def canned_response_list_for_operator(
    *, user: Any, q: str = "", inbox_id: int | None = None, after: str | None = None, limit: int = CATALOG_PAGE_DEFAULT,
) -> CatalogPage[CannedResponse]:
    """The responses the operator may read, by short code. ``q`` matches short code or content
    (case-insensitive). With ``inbox_id``: what the composer offers in that inbox, i.e. its own
    responses and the global ones it does not override with the same short code (NotFound if
    the operator does not see the inbox)."""
    qs = _canned_visible(user)
    if inbox_id is not None:
        if not caller_scope(user).sees_inbox(inbox_id):
            raise NotFound(_("Inbox not found."))
        overridden = CannedResponse.objects.filter(inbox_id=inbox_id, short_code=OuterRef("short_code"))
        qs = qs.filter(Q(inbox_id=inbox_id) | (Q(inbox__isnull=True) & ~Exists(overridden)))
    if q:
        qs = qs.filter(Q(short_code__icontains=q) | Q(content__icontains=q))
    return _page(qs, "short_code", after, limit)


def canned_response_get_for_operator(*, user: Any, response_id: int) -> CannedResponse:
    response = _canned_visible(user).filter(pk=response_id).first()
    if response is None:
        raise NotFound(_("Canned response not found."))
    return response


# --- Labels -------------------------------------------------------------------------------------


def label_list(*, q: str = "", after: str | None = None, limit: int = CATALOG_PAGE_DEFAULT) -> CatalogPage[Label]:
    """Labels by name (every operator reads them all); ``q`` matches name or description."""
    qs = Label.objects.all()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(description__icontains=q))
    return _page(qs, "name", after, limit)


def label_get(*, label_id: int) -> Label:
    label = Label.objects.filter(pk=label_id).first()
    if label is None:
        raise NotFound(_("Label not found."))
    return label
