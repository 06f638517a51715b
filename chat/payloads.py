"""Wire shapes of objects, built once and used by events, socket replies and the REST API.

DESIGN.md §8 fixes the message shape and the conversation keys outside clients rely on.
"""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import connection
from django.db.models import QuerySet, TextField
from django.db.models.expressions import RawSQL

from chat.models import Contact, Conversation, ConversationOffer, Label, Message
from chat.services.attachments import attachment_url


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, or None."""
    if value is None:
        return None
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def user_summary(user: AbstractUser | None) -> dict[str, Any] | None:
    if user is None:
        return None
    profile = getattr(user, "operator_profile", None)
    name = (profile.display_name if profile else "") or user.get_full_name() or user.get_username()
    return {"id": user.pk, "name": name, "username": user.get_username()}


def contact_summary(contact: Contact) -> dict[str, Any]:
    return {
        "id": contact.pk,
        "name": contact.name,
        "display_name": contact.display_name,
        "email": contact.email,
        "phone": contact.phone,
        "identifier": contact.identifier,
        "blocked": contact.blocked,
    }


def message_payload(message: Message) -> dict[str, Any]:
    """The message shape of DESIGN.md §8 (plus content type, attributes and attachments)."""
    if message.sender_user_id is not None:
        sender: dict[str, Any] | None = {"type": "user", **(user_summary(message.sender_user) or {})}
    elif message.sender_contact_id is not None:
        contact = message.sender_contact
        assert contact is not None  # its id is set, and the foreign key guarantees the row
        sender = {"type": "contact", "id": message.sender_contact_id, "name": contact.name}
    else:
        sender = None
    attachments = []
    if message.pk is not None:
        attachments = [
            {"id": a.pk, "file_type": a.file_type, "size": a.size, "url": attachment_url(a.pk) if a.file else None,
             "name": (a.file.name or "").rsplit("/", 1)[-1]}
            for a in message.attachments.all()
        ]
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "content": message.content,
        "content_type": message.content_type,
        "content_attributes": message.content_attributes,
        "direction": message.direction,
        "private": message.private,
        "echo_id": message.echo_id,
        "source_id": message.source_id,
        "sender": sender,
        "attachments": attachments,
        "created_at": iso(message.created_at),
    }


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    """The conversation as operators see it."""
    return {
        "id": conversation.pk,
        "display_id": conversation.display_id,
        "status": conversation.status,
        "priority": conversation.priority,
        "assignee": user_summary(conversation.assignee),
        "inbox": conversation.inbox_id,
        "branch": conversation.branch_id,
        "contact": contact_summary(conversation.contact),
        "contact_inbox": conversation.contact_inbox_id,
        "identifier": conversation.identifier,
        "waiting_since": iso(conversation.waiting_since),
        "first_reply_created_at": iso(conversation.first_reply_created_at),
        "last_activity_at": iso(conversation.last_activity_at),
        "contact_last_seen_at": iso(conversation.contact_last_seen_at),
        "agent_last_seen_at": iso(conversation.agent_last_seen_at),
        "snoozed_until": iso(conversation.snoozed_until),
        "additional_attributes": conversation.additional_attributes,
        "custom_attributes": conversation.custom_attributes,
        "created_at": iso(conversation.created_at),
        "labels": conversation_label_names(conversation),
    }


def conversation_label_names(conversation: Conversation) -> list[str]:
    """The conversation's label names, sorted (operators only: the widget view leaves them out).
    Reads the names read with the conversation (``with_label_names``) or the prefetched labels
    when the caller got them (the list: one query per page)."""
    if hasattr(conversation, LABEL_NAMES):
        names = getattr(conversation, LABEL_NAMES)
        return sorted(json.loads(names)) if names else []
    return sorted(label.name for label in conversation.labels.all())


LABEL_NAMES = "label_names_json"


def with_label_names(queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """The conversations with their label names read in the same statement (a JSON array, a
    subquery per row): a payload built from one then needs no query for its labels. Sorted in
    Python (``conversation_label_names``), as the database's collation may sort otherwise."""
    table = connection.ops.quote_name(Conversation._meta.db_table)
    labels = Conversation._meta.get_field("labels")
    quote = connection.ops.quote_name
    through, own, other = quote(labels.m2m_db_table()), quote(labels.m2m_column_name()), quote(labels.m2m_reverse_name())
    aggregate = "json_agg(l.name)::text" if connection.vendor == "postgresql" else "json_group_array(l.name)"
    sql = (f"SELECT {aggregate} FROM {quote(Label._meta.db_table)} AS l JOIN {through} AS cl "
           f"ON cl.{other} = l.id WHERE cl.{own} = {table}.id")
    return queryset.annotate(**{LABEL_NAMES: RawSQL(sql, (), output_field=TextField())})


# What a widget may see of a conversation payload (its own conversation).
_WIDGET_CONVERSATION_KEYS = ("id", "display_id", "status", "inbox", "last_activity_at", "created_at", "agent_last_seen_at")


def widget_conversation_view(payload: dict[str, Any]) -> dict[str, Any]:
    """Project an operator conversation payload to what the visitor may see."""
    view = {key: payload.get(key) for key in _WIDGET_CONVERSATION_KEYS}
    assignee = payload.get("assignee")
    view["assignee"] = {"id": assignee["id"], "name": assignee["name"]} if assignee else None
    return view


def offer_payload(offer: ConversationOffer, *, conversation: Conversation) -> dict[str, Any]:
    """``conversation.offered`` data, and each row of ``GET /api/v1/offers/``."""
    return {
        "conversation_id": offer.conversation_id,
        "expires_at": iso(offer.expires_at),
        "timeout_seconds": round((offer.expires_at - offer.created_at).total_seconds()),
        "display_id": conversation.display_id,
        "inbox": conversation.inbox_id,
        "contact": contact_summary(conversation.contact),
    }
