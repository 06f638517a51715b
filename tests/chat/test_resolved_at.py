"""``Conversation.resolved_at`` (docs/reports.md): written with the status by its one owner
(``status_columns``) on every path, and backfilled by migration 0006 from the activity lines."""
from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from chat.models import Conversation, ConversationStatus, Message, MessageDirection
from chat.services.conversations import (
    activity_add,
    conversation_set_status,
    conversation_toggle_status,
    conversations_wake_snoozed,
)
from chat.services.messages import message_create
from tests.concurrency import run_concurrently
from tests.factories import ContactInboxFactory, make_conversation

pytestmark = pytest.mark.django_db


def resolved_at(conversation: Conversation) -> datetime | None:
    return Conversation.objects.values_list("resolved_at", flat=True).get(pk=conversation.pk)


def test_resolving_records_the_time_and_any_other_status_clears_it():
    conversation = make_conversation()
    assert resolved_at(conversation) is None
    before = timezone.now() - timedelta(seconds=5)
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED)
    first = resolved_at(conversation)
    assert first is not None and before <= first <= timezone.now() + timedelta(seconds=5)
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED)  # no-op
    assert resolved_at(conversation) == first
    for status in (ConversationStatus.PENDING, ConversationStatus.OPEN):
        conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED)
        assert resolved_at(conversation) is not None
        conversation_set_status(conversation_id=conversation.pk, status=status)
        assert resolved_at(conversation) is None, status
    conversation_toggle_status(conversation_id=conversation.pk)  # open -> resolved
    assert resolved_at(conversation) is not None
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.SNOOZED,
                            snoozed_until=timezone.now() + timedelta(hours=1))
    assert resolved_at(conversation) is None


def test_a_visitor_message_reopening_a_resolved_conversation_clears_it():
    visitor = ContactInboxFactory()
    conversation = make_conversation(contact_inbox=visitor)
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED)
    message_create(conversation_id=conversation.pk, direction=MessageDirection.INCOMING, content="back again",
                   sender_contact=visitor.contact)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.resolved_at) == (ConversationStatus.OPEN, None)


def test_a_snooze_ending_leaves_it_empty():
    conversation = make_conversation()
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.SNOOZED,
                            snoozed_until=timezone.now() + timedelta(seconds=30))
    assert conversations_wake_snoozed(now=timezone.now() + timedelta(minutes=1)) == [conversation.pk]
    assert resolved_at(conversation) is None


def test_migration_backfills_from_the_latest_resolve_line():
    migration = importlib.import_module("chat.migrations.0007_reports")
    with_line, without_line, reopened = make_conversation(), make_conversation(), make_conversation()
    for conversation in (with_line, without_line):
        conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED)
    Message.objects.all().delete()  # the lines the service wrote just now
    older = activity_add(conversation=with_line, content="Conversation was resolved by Ann")
    latest = activity_add(conversation=with_line, content="Conversation was resolved by Bob")
    activity_add(conversation=with_line, content="Conversation was reopened by Bob")  # not a resolve line
    Message.objects.filter(pk=older.pk).update(created_at=datetime(2026, 1, 1, 9, tzinfo=UTC))
    Message.objects.filter(pk=latest.pk).update(created_at=datetime(2026, 1, 2, 9, tzinfo=UTC))
    Conversation.objects.filter(pk=without_line.pk).update(last_activity_at=datetime(2026, 1, 3, tzinfo=UTC))
    Conversation.objects.update(resolved_at=None)  # as before the migration

    # The function reads only the editor's connection (a real schema editor cannot open inside
    # the test's transaction on SQLite).
    migration.backfill_resolved_at(apps, SimpleNamespace(connection=connection))

    assert resolved_at(with_line) == datetime(2026, 1, 2, 9, tzinfo=UTC)
    assert resolved_at(without_line) == datetime(2026, 1, 3, tzinfo=UTC)
    assert resolved_at(reopened) is None  # open: nothing to backfill


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_resolves_and_visitor_messages_at_once_keep_resolved_at_with_the_status():
    """Operators resolving while the visitor writes (which reopens): whatever order the locks
    give, ``resolved_at`` is set exactly when the conversation ends resolved, and one resolve
    of two simultaneous ones writes (the other is a no-op)."""
    for round_ in range(6):
        visitor = ContactInboxFactory()
        conversation = make_conversation(contact_inbox=visitor)

        def act(index: int, conversation_id: int = conversation.pk, contact=visitor.contact, round_=round_) -> None:
            if index < 2:
                conversation_set_status(conversation_id=conversation_id, status=ConversationStatus.RESOLVED)
            else:
                message_create(conversation_id=conversation_id, direction=MessageDirection.INCOMING,
                               content=f"still there? {round_}", sender_contact=contact)

        results = run_concurrently(act, 3)
        assert not [r for r in results if isinstance(r, Exception)], results
        conversation.refresh_from_db()
        assert (conversation.status == ConversationStatus.RESOLVED) == (conversation.resolved_at is not None)
        resolves = Message.objects.filter(conversation=conversation, direction=MessageDirection.ACTIVITY,
                                          content__startswith="Conversation was resolved")
        reopens = Message.objects.filter(conversation=conversation, direction=MessageDirection.ACTIVITY,
                                         content__startswith="Conversation was reopened")
        # Each resolve that wrote was followed by a reopen, except perhaps the last.
        assert resolves.count() - reopens.count() == (1 if conversation.status == ConversationStatus.RESOLVED else 0)
