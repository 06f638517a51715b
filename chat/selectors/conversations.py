"""Conversation reads for operators: the list (filters, keyset pages), one conversation, tab counts.

Each row carries ``unread_count`` and ``last_message``, computed by correlated subqueries in the
one query that reads the page, so a page costs the same number of queries whatever its size.

Order and pages: ``last_activity_at`` desc, then ``id`` desc, read by keyset (the last row's
``(last_activity_at, id)`` is the cursor). ``last_activity_at`` only moves forward, so a
conversation that gets a new message while a client walks the pages moves *above* the cursor:
the walk never returns a conversation twice, and never skips one that did not change. The ones
that changed during the walk are reported by the events after the first page's
``last_event_id`` (``message.created`` etc.), which the client applies to its list.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    ExpressionWrapper,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
)
from django.db.models.functions import Cast, Coalesce, JSONObject, Substr
from django.utils.dateparse import parse_datetime
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData, NotFound
from chat.models import Conversation, ConversationStatus, Message, MessageDirection, Priority
from chat.payloads import conversation_payload, iso
from chat.selectors.scope import caller_scope
from chat.selectors.search import conversations_matching_q

# The list shows the start of the last message; the full text is in the history.
LAST_MESSAGE_PREVIEW_CHARS = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

STATUS_CHOICES = (*ConversationStatus.values, "all")


@dataclass(frozen=True)
class ConversationFilters:
    status: str = ConversationStatus.OPEN  # or "all"
    assignee: str = "all"  # "me" | "unassigned" | "all" | a user id
    inbox_id: int | None = None
    branch_id: int | None = None
    priority: str | None = None
    contact_id: int | None = None
    q: str = ""
    label: str | None = None  # a label name (normalized by chat.services.labels.label_clean_name)


@dataclass(frozen=True)
class ConversationPage:
    rows: list[dict[str, Any]]
    next_key: tuple[str, int] | None  # opaque position of the last row


def _unread_subquery() -> Coalesce:
    unread = (
        Message.objects.filter(
            conversation_id=OuterRef("pk"),
            direction=MessageDirection.INCOMING,
            created_at__gt=Coalesce(OuterRef("agent_last_seen_at"), Value(_EPOCH)),
        )
        .order_by()
        .values("conversation_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(unread, output_field=IntegerField()), Value(0))


def _last_message_subquery() -> Subquery:
    # Private notes are included (operators see them everywhere), flagged "private"; activity
    # lines ("Resolved by Ann") are not: the preview shows what was said.
    latest = (
        Message.objects.filter(conversation_id=OuterRef("pk"))
        .exclude(direction=MessageDirection.ACTIVITY)
        .order_by("-id")
        .values(
            json=JSONObject(
                id="id",
                content=Substr("content", 1, LAST_MESSAGE_PREVIEW_CHARS),
                created_at="created_at",
                direction="direction",
                private="private",
                # Deleted (chat/services/message_delete.py): the preview says so, not a blank.
                deleted=ExpressionWrapper(Q(content_attributes__deleted=True), output_field=BooleanField()),
            )
        )[:1]
    )
    return Subquery(latest)


def _annotated(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    # Labels by one prefetch per page (payload ``labels``), not one query per row.
    return queryset.select_related("assignee__operator_profile", "contact").prefetch_related("labels").annotate(
        unread_count=_unread_subquery(), last_message_json=_last_message_subquery()
    )


def _last_message(value: Any) -> dict[str, Any] | None:
    if not value:
        return None
    created = value.get("created_at")
    when = parse_datetime(created) if isinstance(created, str) else created
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return {
        "id": value.get("id"),
        "content": value.get("content") or "",
        "created_at": iso(when.astimezone(UTC)) if when else None,
        "direction": value.get("direction"),
        "private": bool(value.get("private")),
        "deleted": bool(value.get("deleted")),  # true/false on PostgreSQL, 1/0 on SQLite
    }


def conversation_row(conversation: Conversation) -> dict[str, Any]:
    """The list and detail shape: the socket's conversation payload + unread_count + last_message."""
    row = conversation_payload(conversation)
    row["unread_count"] = int(getattr(conversation, "unread_count", 0) or 0)
    row["last_message"] = _last_message(getattr(conversation, "last_message_json", None))
    return row


def _visible(user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(caller_scope(user).inbox_q())


def _filtered(user: Any, filters: ConversationFilters, *, with_status: bool = True,
              with_assignee: bool = True) -> QuerySet[Conversation]:
    qs = _visible(user)
    if with_status and filters.status != "all":
        if filters.status not in ConversationStatus.values:
            raise InvalidData(_("Unknown status."), fields={"status": [format_lazy(_("One of {choices}."), choices=", ".join(STATUS_CHOICES))]})
        qs = qs.filter(status=filters.status)
    if with_assignee:
        qs = qs.filter(_assignee_q(user, filters.assignee))
    if filters.inbox_id is not None:
        qs = qs.filter(inbox_id=filters.inbox_id)
    if filters.branch_id is not None:
        qs = qs.filter(branch_id=filters.branch_id)
    if filters.priority:
        if filters.priority not in Priority.values:
            raise InvalidData(_("Unknown priority."), fields={"priority": [format_lazy(_("One of {choices}."), choices=", ".join(Priority.values))]})
        qs = qs.filter(priority=filters.priority)
    if filters.contact_id is not None:
        qs = qs.filter(contact_id=filters.contact_id)
    if filters.label:
        qs = qs.filter(Exists(
            Conversation.labels.through.objects.filter(conversation_id=OuterRef("pk"), label__name=filters.label)
        ))
    return qs


def _assignee_q(user: Any, assignee: str) -> Q:
    if assignee in ("", "all"):
        return Q()
    if assignee == "me":
        return Q(assignee_id=user.pk)
    if assignee == "unassigned":
        return Q(assignee_id__isnull=True)
    try:
        return Q(assignee_id=int(assignee))
    except (TypeError, ValueError):
        raise InvalidData(_("Unknown assignee filter."), fields={"assignee": [_("me, unassigned, all or a user id.")]}) from None


def _keyset(qs: QuerySet[Conversation], after: tuple[str, int] | None) -> QuerySet[Conversation]:
    """Rows strictly after the cursor in (last_activity_at desc, id desc) order.

    SQLite stores datetimes as text and orders them as text; values written by the database
    (``Now()``: milliseconds) and by Python (microseconds) differ in length, so there the key is
    the stored text itself, compared as text, exactly as ORDER BY sees it.
    """
    if connection.vendor == "sqlite":
        qs = qs.annotate(activity_key=Cast("last_activity_at", TextField()))
        if after is not None:
            text, pk = after
            qs = qs.filter(Q(activity_key__lt=text) | Q(activity_key=text, id__lt=pk))
        return qs
    if after is not None:
        text, pk = after
        at = parse_datetime(text)
        if at is None:
            raise InvalidData(_("Invalid cursor."), fields={"cursor": [_("Use the 'next' value of the previous page.")]})
        # The redundant ``<=`` bounds the index range scan; the OR picks the exact position.
        qs = qs.filter(Q(last_activity_at__lte=at) & (Q(last_activity_at__lt=at) | Q(last_activity_at=at, id__lt=pk)))
    return qs


def _key(conversation: Conversation) -> tuple[str, int]:
    text = getattr(conversation, "activity_key", None)
    return (text if text is not None else conversation.last_activity_at.isoformat(), conversation.pk)


def conversation_list_for_operator(
    *, user: Any, filters: ConversationFilters, after: tuple[str, int] | None = None, limit: int = 25
) -> ConversationPage:
    """One page of the conversations the operator may see, newest activity first; ``after`` is
    the previous page's ``next_key``."""
    qs = _keyset(_filtered(user, filters), after)
    if filters.q:
        # Exactly the first limit + 1 matches in page order (chat.selectors.search).
        qs = qs.filter(conversations_matching_q(q=filters.q, candidates=qs, limit=limit + 1))
    rows = list(_annotated(qs).order_by("-last_activity_at", "-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return ConversationPage([conversation_row(c) for c in rows], _key(rows[-1]) if more and rows else None)


def conversation_get_for_operator(*, user: Any, conversation_id: int) -> Conversation:
    """One conversation the operator may see (annotated like the list), or NotFound."""
    conversation = _annotated(_visible(user).filter(pk=conversation_id)).first()
    if conversation is None:
        raise NotFound(_("Conversation not found."))
    return conversation


def conversation_check_visible(*, user: Any, conversation_id: int) -> None:
    """NotFound unless the operator may see the conversation (before acting on it)."""
    if not _visible(user).filter(pk=conversation_id).exists():
        raise NotFound(_("Conversation not found."))


def conversation_counts_for_operator(*, user: Any, filters: ConversationFilters) -> dict[str, int]:
    """The tab counts for a status (and inbox etc.): mine, unassigned, all; one query."""
    qs = _filtered(user, filters, with_assignee=False)
    if filters.q:
        qs = qs.filter(conversations_matching_q(q=filters.q))
    # Count inbox_id (never null), not id: every column used is then in the (inbox, status,
    # assignee) index, so PostgreSQL answers from the index alone (index-only scan).
    return qs.aggregate(
        mine=Count("inbox_id", filter=Q(assignee_id=user.pk)),
        unassigned=Count("inbox_id", filter=Q(assignee_id__isnull=True)),
        all=Count("inbox_id"),
    )


__all__ = [
    "ConversationFilters",
    "ConversationPage",
    "conversation_row",
    "conversation_list_for_operator",
    "conversation_get_for_operator",
    "conversation_check_visible",
    "conversation_counts_for_operator",
    "STATUS_CHOICES",
]

