"""Triggers: reactions to the dispatcher's events, with real commits (as production runs)."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from assignment.services import assign_conversation
from assignment.worker import presence_tick, release_tick, snooze_tick, waiting_tick
from chat.models import Availability, Conversation, ConversationStatus, Message, MessageDirection
from chat.services.conversations import conversation_set_status
from chat.services.inboxes import inbox_member_remove, inbox_members_add
from chat.services.messages import visitor_message_send
from presence import hooks
from tests.factories import ContactInboxFactory, InboxMemberFactory, UserFactory, make_conversation
from tests.presence.helpers import auto_inbox, connect, operators

pytestmark = pytest.mark.django_db(transaction=True)


def now() -> float:
    return time.time()


def new_conversation(inbox):
    return make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))


def assignee_of(conversation):
    return Conversation.objects.get(pk=conversation.pk).assignee_id


def test_new_conversation_is_assigned_at_once_when_someone_is_available(tracker):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, bob, now=now())
    assert [assignee_of(new_conversation(inbox)) for _ in range(4)] == [ann.pk, bob.pk, ann.pk, bob.pk]
    conversation = Conversation.objects.filter(inbox=inbox).order_by("id").first()
    assert Message.objects.filter(conversation=conversation, direction=MessageDirection.ACTIVITY).get().content.endswith("(auto)")


def test_new_conversation_waits_when_nobody_is_available_or_auto_assignment_is_off(tracker):
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    assert assignee_of(new_conversation(inbox)) is None
    manual = auto_inbox(enable_auto_assignment=False)
    InboxMemberFactory(inbox=manual, user=ann)
    connect(tracker, ann, now=now())
    assert assignee_of(new_conversation(manual)) is None


def test_operator_coming_online_gets_the_waiting_ones_oldest_waiting_first(tracker):
    inbox = auto_inbox(max_assignment_limit=2)
    (ann,) = operators(inbox, 1)
    a, b, c = (new_conversation(inbox) for _ in range(3))
    t = timezone.now()
    Conversation.objects.filter(pk=a.pk).update(waiting_since=t - timedelta(minutes=1))
    Conversation.objects.filter(pk=b.pk).update(waiting_since=t - timedelta(minutes=5))
    hooks.operator_socket_opened(user_id=ann.pk, socket_id="tab")
    assert [assignee_of(x) for x in (a, b, c)] == [ann.pk, ann.pk, None]


def test_busy_to_online_serves_the_waiting_ones(tracker):
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    hooks.operator_set_availability(user_id=ann.pk, availability=Availability.BUSY)
    hooks.operator_socket_opened(user_id=ann.pk, socket_id="tab")
    waiting = new_conversation(inbox)
    assert assignee_of(waiting) is None  # busy: nothing new
    hooks.operator_set_availability(user_id=ann.pk, availability=Availability.ONLINE)
    assert assignee_of(waiting) == ann.pk


def test_resolving_frees_capacity_for_the_next_waiting_one(tracker):
    inbox = auto_inbox(max_assignment_limit=1)
    (ann,) = operators(inbox, 1)
    connect(tracker, ann, now=now())
    first, second = new_conversation(inbox), new_conversation(inbox)
    assert (assignee_of(first), assignee_of(second)) == (ann.pk, None)
    conversation_set_status(conversation_id=first.pk, status=ConversationStatus.RESOLVED, actor_user=ann)
    assert assignee_of(second) == ann.pk


def test_unassigning_serves_the_inbox_again(tracker):
    inbox = auto_inbox(max_assignment_limit=1)
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, now=now())
    first, second = new_conversation(inbox), new_conversation(inbox)
    assert (assignee_of(first), assignee_of(second)) == (ann.pk, None)
    connect(tracker, bob, now=now())  # bob comes online: second goes to him
    assert assignee_of(second) == bob.pk
    third = new_conversation(inbox)  # both are full: it waits
    assign_conversation(conversation_id=first.pk, assignee_id=None, actor=ann)
    # Released: the inbox is served at once. Ann has capacity again, but she just let go of
    # `first` (assignment/cooloff.py), so her slot goes to the other waiting one.
    assert (assignee_of(first), assignee_of(third)) == (None, ann.pk)


def test_offline_release_after_the_delay_reassigns_to_someone_online(tracker, settings, published):
    settings.ASSIGNMENT_RELEASE_DELAY_SECONDS = 300
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    t = now()
    connect(tracker, ann, now=t)
    conversation = new_conversation(inbox)
    assert assignee_of(conversation) == ann.pk
    tracker.set_offline(user_id=ann.pk, socket_id=f"{ann.pk}-tab1", now=t + 1)
    assert presence_tick(now=t + 10) == {ann.pk: "offline"}  # offline since t + 10
    connect(tracker, bob, now=t + 5)
    assert release_tick(now=t + 10 + 299) == []
    assert assignee_of(conversation) == ann.pk
    assert release_tick(now=t + 10 + 301) == [conversation.pk]
    assert assignee_of(conversation) == bob.pk
    lines = list(Message.objects.filter(conversation=conversation, direction="activity").values_list("content", flat=True))
    assert any("has been offline for more than 5 minutes" in line for line in lines)
    assert release_tick(now=t + 10 + 400) == []  # idempotent


def test_offline_release_waits_for_someone_online(tracker, settings):
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    t = now()
    connect(tracker, ann, now=t)
    conversation = new_conversation(inbox)
    tracker.set_offline(user_id=ann.pk, socket_id=f"{ann.pk}-tab1", now=t)
    presence_tick(now=t + 6)
    assert release_tick(now=t + 6 + settings.ASSIGNMENT_RELEASE_DELAY_SECONDS) == [conversation.pk]
    assert assignee_of(conversation) is None  # nobody online: it waits


def test_removing_an_operator_from_the_inbox_releases_theirs_there(tracker):
    inbox, other = auto_inbox(), auto_inbox()
    ann, bob = operators(inbox, 2)
    InboxMemberFactory(inbox=other, user=ann)
    connect(tracker, ann, now=now())
    here, there = new_conversation(inbox), new_conversation(other)
    assert (assignee_of(here), assignee_of(there)) == (ann.pk, ann.pk)
    connect(tracker, bob, now=now())
    inbox_member_remove(inbox=inbox, user_id=ann.pk)
    assert (assignee_of(here), assignee_of(there)) == (bob.pk, ann.pk)
    assert Message.objects.filter(conversation=here, content__contains="was removed from the inbox").exists()


def test_adding_a_member_serves_waiting_conversations(tracker):
    inbox = auto_inbox()
    waiting = new_conversation(inbox)
    carl = UserFactory()
    connect(tracker, carl, now=now())
    inbox_members_add(inbox=inbox, user_ids=[carl.pk])
    assert assignee_of(waiting) == carl.pk


def test_snoozed_conversation_wakes_up_and_enters_assignment(tracker):
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    conversation = new_conversation(inbox)
    Conversation.objects.filter(pk=conversation.pk).update(
        status=ConversationStatus.SNOOZED, snoozed_until=timezone.now() + timedelta(minutes=10)
    )
    connect(tracker, ann, now=now())
    assert assignee_of(conversation) is None
    assert snooze_tick(now=now() + 601) == [conversation.pk]
    assert Conversation.objects.get(pk=conversation.pk).status == ConversationStatus.OPEN
    assert assignee_of(conversation) == ann.pk


def test_waiting_tick_assigns_what_triggers_could_not(tracker):
    inbox = auto_inbox(assignment_rate_limit=1)
    (ann,) = operators(inbox, 1)
    t = now()
    connect(tracker, ann, now=t)
    first, second = new_conversation(inbox), new_conversation(inbox)
    assert (assignee_of(first), assignee_of(second)) == (ann.pk, None)  # rate limited
    tracker.heartbeat(user_id=ann.pk, socket_id=f"{ann.pk}-tab1", now=t + 40)
    assert waiting_tick(now=t + 59) == 0
    assert waiting_tick(now=t + 61) == 1
    assert assignee_of(second) == ann.pk


def test_reopened_conversation_without_assignee_is_assigned(tracker):
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    conversation = new_conversation(inbox)  # nobody online: waits
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED)
    connect(tracker, ann, now=now())
    assert assignee_of(conversation) is None  # resolved conversations are not served
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.OPEN)
    assert assignee_of(conversation) == ann.pk


def test_membership_changes_tell_the_widgets_whether_anyone_can_answer(tracker, published):
    inbox = auto_inbox()
    carl = UserFactory()
    connect(tracker, carl, now=now())  # online, but in no inbox yet
    inbox_members_add(inbox=inbox, user_ids=[carl.pk])
    inbox_member_remove(inbox=inbox, user_id=carl.pk)
    widget = [e for e in published.of_type("presence.updated") if e.inbox_id == inbox.pk]
    assert [e.payload for e in widget] == [{"user_id": None, "status": "online"}, {"user_id": None, "status": "offline"}]


# --- Member removal: nothing stays with someone who cannot see it (issue 9) ---------------------


def test_removal_releases_pending_and_snoozed_conversations_and_they_go_to_a_member(tracker, published):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, now=now())
    pending, snoozed = new_conversation(inbox), new_conversation(inbox)
    assert (assignee_of(pending), assignee_of(snoozed)) == (ann.pk, ann.pk)
    conversation_set_status(conversation_id=pending.pk, status=ConversationStatus.PENDING)
    conversation_set_status(conversation_id=snoozed.pk, status=ConversationStatus.SNOOZED,
                            snoozed_until=timezone.now() + timedelta(hours=1))
    connect(tracker, bob, now=now())
    del published[:]
    change = inbox_member_remove(inbox=inbox, user_id=ann.pk)
    assert sorted(change.released) == sorted([pending.pk, snoozed.pk])
    assert (assignee_of(pending), assignee_of(snoozed)) == (None, None)  # not open: not served yet
    released = [e.conversation_id for e in published.of_type("assignee.changed") if e.payload["assignee"] is None]
    assert sorted(released) == sorted([pending.pk, snoozed.pk])
    for conversation in (pending, snoozed):
        assert Message.objects.filter(conversation=conversation, direction=MessageDirection.ACTIVITY,
                                      content__contains="was removed from the inbox").exists()
    conversation_set_status(conversation_id=pending.pk, status=ConversationStatus.OPEN)
    assert assignee_of(pending) == bob.pk  # reopened: auto-assigned to a member


def test_a_resolved_conversation_of_a_removed_member_reopens_to_a_member(tracker, published):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, now=now())
    conversation = new_conversation(inbox)
    assert assignee_of(conversation) == ann.pk
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED)
    inbox_member_remove(inbox=inbox, user_id=ann.pk)
    assert assignee_of(conversation) == ann.pk  # resolved: its history stays as it was
    connect(tracker, bob, now=now())
    del published[:]
    # The customer writes back: the conversation reopens.
    visitor_message_send(contact_inbox_id=conversation.contact_inbox_id, content="hello again")
    assert Conversation.objects.get(pk=conversation.pk).status == ConversationStatus.OPEN
    assert assignee_of(conversation) == bob.pk
    assert Message.objects.filter(conversation=conversation, content__contains="no longer a member").exists()
    assignees = [e.payload["assignee"] and e.payload["assignee"]["id"] for e in published.of_type("assignee.changed")]
    assert assignees == [None, bob.pk]


def test_a_reopened_conversation_of_a_deactivated_operator_is_released(tracker):
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    conversation = new_conversation(inbox)
    Conversation.objects.filter(pk=conversation.pk).update(assignee=ann, status=ConversationStatus.RESOLVED)
    ann.is_active = False
    ann.save(update_fields=["is_active"])
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.OPEN)
    assert assignee_of(conversation) is None
