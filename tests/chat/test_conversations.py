"""Conversation rules: display ids, branch, status, priority, last seen, unread counts."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from chat.errors import InvalidData, NotFound
from chat.models import Conversation, ConversationStatus, Message, MessageDirection, Priority
from chat.services.branches import get_default_branch
from chat.services.conversations import (
    conversation_set_priority,
    conversation_set_status,
    conversation_toggle_status,
    conversation_unread_count,
    conversations_wake_snoozed,
    operator_unread_total,
    touch_assignee_last_seen,
    touch_contact_last_seen,
)
from chat.services.messages import message_create
from tests.concurrency import run_concurrently
from tests.factories import BranchFactory, ContactInboxFactory, InboxFactory, UserFactory, make_conversation

pytestmark = pytest.mark.django_db


def test_display_ids_count_per_branch():
    north, south = BranchFactory(), BranchFactory()
    north_inbox, south_inbox = InboxFactory(branch=north), InboxFactory(branch=south)
    numbers = [make_conversation(contact_inbox=ContactInboxFactory(inbox=north_inbox)).display_id for _ in range(3)]
    assert numbers == [1, 2, 3]
    assert make_conversation(contact_inbox=ContactInboxFactory(inbox=south_inbox)).display_id == 1


def test_conversation_takes_the_inbox_branch_or_the_default_branch():
    branch = BranchFactory()
    assert make_conversation(contact_inbox=ContactInboxFactory(inbox=InboxFactory(branch=branch))).branch_id == branch.pk
    orphan = InboxFactory(branch=None)
    conversation = make_conversation(contact_inbox=ContactInboxFactory(inbox=orphan))
    assert conversation.branch_id == get_default_branch().pk


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_creators_get_unique_display_ids():
    inbox = InboxFactory()
    contact_inboxes = [ContactInboxFactory(inbox=inbox) for _ in range(24)]

    def create(i: int):
        return make_conversation(contact_inbox=contact_inboxes[i]).display_id

    results = run_concurrently(create, 24)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sorted(results) == list(range(1, 25))
    assert Conversation.objects.filter(branch=inbox.branch).values("display_id").distinct().count() == 24


def test_status_change_adds_an_activity_line_and_emits_once(published):
    conversation = make_conversation()
    operator = UserFactory(username="bob")
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED, actor_user=operator)
    activity = Message.objects.get(conversation=conversation, direction=MessageDirection.ACTIVITY)
    assert activity.content == "Conversation was resolved by Bob"
    assert published.types().count("conversation.status_changed") == 1
    # Setting the same status again changes nothing and emits nothing.
    published.clear()
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED, actor_user=operator)
    assert published == []


def test_resolving_clears_waiting_since():
    conversation = make_conversation()
    message_create(conversation_id=conversation.pk, direction="incoming", content="hi", sender_contact=conversation.contact)
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED)
    assert Conversation.objects.get(pk=conversation.pk).waiting_since is None


def test_toggle_status_opens_and_resolves():
    conversation = make_conversation()
    assert conversation_toggle_status(conversation_id=conversation.pk).status == ConversationStatus.RESOLVED
    assert conversation_toggle_status(conversation_id=conversation.pk).status == ConversationStatus.OPEN
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.PENDING)
    assert conversation_toggle_status(conversation_id=conversation.pk).status == ConversationStatus.OPEN


def test_snooze_time_if_given_must_be_in_the_future():
    conversation = make_conversation()
    with pytest.raises(InvalidData):
        conversation_set_status(
            conversation_id=conversation.pk,
            status=ConversationStatus.SNOOZED,
            snoozed_until=timezone.now() - timedelta(minutes=1),
        )
    with pytest.raises(InvalidData):
        conversation_set_status(conversation_id=conversation.pk, status="archived")
    with pytest.raises(NotFound):
        conversation_set_status(conversation_id=987654, status=ConversationStatus.OPEN)


def test_snoozed_conversation_wakes_at_snoozed_until(published):
    conversation = make_conversation()
    until = timezone.now() + timedelta(hours=1)
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.SNOOZED, snoozed_until=until)
    assert conversations_wake_snoozed(now=until - timedelta(seconds=1)) == []
    assert conversations_wake_snoozed(now=until) == [conversation.pk]
    after = Conversation.objects.get(pk=conversation.pk)
    assert after.status == ConversationStatus.OPEN and after.snoozed_until is None
    assert conversations_wake_snoozed(now=until + timedelta(hours=1)) == []


def test_snooze_until_the_next_reply(published):
    """DESIGN §11: snoozed without snoozed_until waits for the contact; the worker never wakes it."""
    conversation = make_conversation()
    operator = UserFactory(username="bob")
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.SNOOZED, actor_user=operator)
    after = Conversation.objects.get(pk=conversation.pk)
    assert after.status == ConversationStatus.SNOOZED and after.snoozed_until is None
    assert Message.objects.get(conversation=conversation, direction=MessageDirection.ACTIVITY).content == (
        "Conversation was snoozed until the next reply by Bob")
    changed = [e for e in published if e.type == "conversation.status_changed"]
    assert len(changed) == 1
    assert changed[0].payload["status"] == "snoozed" and changed[0].payload["snoozed_until"] is None
    # The same request again is a no-op; a timed snooze on top of it is a change (and back).
    published.clear()
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.SNOOZED, actor_user=operator)
    assert published == []
    # The worker's wake-up never picks it, however late.
    assert conversations_wake_snoozed(now=timezone.now() + timedelta(days=3650)) == []
    assert Conversation.objects.get(pk=conversation.pk).status == ConversationStatus.SNOOZED
    # An operator's reply does not wake it either; the contact's next message does.
    message_create(conversation_id=conversation.pk, direction="outgoing", content="we are on it", sender_user=operator)
    assert Conversation.objects.get(pk=conversation.pk).status == ConversationStatus.SNOOZED
    published.clear()
    message_create(conversation_id=conversation.pk, direction="incoming", content="any news?",
                   sender_contact=conversation.contact)
    after = Conversation.objects.get(pk=conversation.pk)
    assert after.status == ConversationStatus.OPEN and after.snoozed_until is None
    assert "conversation.status_changed" in published.types()


def test_a_timed_snooze_can_become_a_snooze_until_the_next_reply():
    conversation = make_conversation()
    until = timezone.now() + timedelta(hours=1)
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.SNOOZED, snoozed_until=until)
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.SNOOZED)
    assert Conversation.objects.get(pk=conversation.pk).snoozed_until is None
    assert conversations_wake_snoozed(now=until + timedelta(hours=1)) == []


def test_priority_change_adds_activity_and_emits_update(published):
    conversation = make_conversation()
    conversation_set_priority(conversation_id=conversation.pk, priority=Priority.HIGH)
    assert Conversation.objects.get(pk=conversation.pk).priority == Priority.HIGH
    assert "conversation.updated" in published.types()
    assert Message.objects.filter(conversation=conversation, content__startswith="Priority set to high").exists()
    with pytest.raises(InvalidData):
        conversation_set_priority(conversation_id=conversation.pk, priority="extreme")


def test_last_seen_is_written_at_most_once_per_15_seconds(published):
    conversation = make_conversation()
    assert touch_assignee_last_seen(conversation_id=conversation.pk) is True
    first = Conversation.objects.get(pk=conversation.pk).agent_last_seen_at
    assert first is not None
    assert touch_assignee_last_seen(conversation_id=conversation.pk) is False
    assert Conversation.objects.get(pk=conversation.pk).agent_last_seen_at == first
    # The two sides are throttled separately.
    assert touch_contact_last_seen(conversation_id=conversation.pk) is True
    assert published.types().count("conversation.read") == 2


def test_unread_count_follows_reads():
    conversation = make_conversation()
    operator = UserFactory()
    Conversation.objects.filter(pk=conversation.pk).update(assignee=operator)
    for text in ("a", "b"):
        message_create(conversation_id=conversation.pk, direction="incoming", content=text, sender_contact=conversation.contact)
    assert conversation_unread_count(conversation_id=conversation.pk) == 2
    assert operator_unread_total(user_id=operator.pk) == 2
    touch_assignee_last_seen(conversation_id=conversation.pk)
    assert conversation_unread_count(conversation_id=conversation.pk) == 0


def test_operator_unread_total_is_cached_and_invalidated_by_new_messages(django_capture_on_commit_callbacks):
    conversation = make_conversation()
    operator = UserFactory()
    Conversation.objects.filter(pk=conversation.pk).update(assignee=operator)
    assert operator_unread_total(user_id=operator.pk) == 0
    # A write that bypasses the services is not seen while the cache holds (30 s).
    Message.objects.create(conversation=conversation, direction="incoming", content="raw", sender_contact=conversation.contact)
    assert operator_unread_total(user_id=operator.pk) == 0
    with django_capture_on_commit_callbacks(execute=True):
        message_create(conversation_id=conversation.pk, direction="incoming", content="x", sender_contact=conversation.contact)
    assert operator_unread_total(user_id=operator.pk) == 2
    assert cache.get(f"unread:user:{operator.pk}") == 2
