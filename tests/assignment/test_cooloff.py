"""Release cool-off (assignment/cooloff.py): an operator who unassigns a conversation is not
handed it straight back by auto-assignment, with real commits (the reactions run as in
production)."""
from __future__ import annotations

import time

import pytest

from assignment.cooloff import cooling_off
from assignment.services import Outcome, assign_conversation, auto_assign_once
from assignment.worker import waiting_tick
from chat.models import Conversation, Event
from tests.concurrency import run_concurrently
from tests.factories import ContactInboxFactory, make_conversation
from tests.presence.helpers import auto_inbox, connect, operators

pytestmark = pytest.mark.django_db(transaction=True)


def new_conversation(inbox):
    return make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))


def assignee_of(conversation):
    return Conversation.objects.get(pk=conversation.pk).assignee_id


def test_an_operator_alone_online_does_not_get_back_what_they_released(tracker):
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    connect(tracker, ann, now=time.time())
    conversation = new_conversation(inbox)
    assert assignee_of(conversation) == ann.pk  # auto-assigned: she is the only one online

    assign_conversation(conversation_id=conversation.pk, assignee_id=None, actor=ann)
    # The release's assignee.changed served the inbox after commit: it stays unassigned.
    assert assignee_of(conversation) is None
    assert Event.objects.filter(type="assignee.changed", conversation_id=conversation.pk).count() == 2
    assert cooling_off(conversation_id=conversation.pk, now=time.time()) == {ann.pk}
    # A retrying trigger (the worker's safety net) holds it back too, and says why.
    assert auto_assign_once(conversation_id=conversation.pk)[0] == Outcome.HELD_BACK
    assert waiting_tick() == 0
    assert assignee_of(conversation) is None
    # Other conversations still reach her, and she may take this one back by hand.
    assert assignee_of(new_conversation(inbox)) == ann.pk
    assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=ann)
    assert assignee_of(conversation) == ann.pk


def test_the_cool_off_skips_only_that_conversation_when_serving_the_waiting_ones(tracker):
    inbox = auto_inbox(max_assignment_limit=1)
    (ann,) = operators(inbox, 1)
    connect(tracker, ann, now=time.time())
    held = new_conversation(inbox)
    waiting = new_conversation(inbox)  # she is full (1): it waits
    assert (assignee_of(held), assignee_of(waiting)) == (ann.pk, None)
    assign_conversation(conversation_id=held.pk, assignee_id=None, actor=ann)
    # Her freed slot goes to the other waiting conversation, not back to the released one.
    assert (assignee_of(held), assignee_of(waiting)) == (None, ann.pk)


def test_someone_else_online_gets_the_released_conversation(tracker):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, now=time.time())
    conversation = new_conversation(inbox)
    assert assignee_of(conversation) == ann.pk
    connect(tracker, bob, now=time.time())
    assign_conversation(conversation_id=conversation.pk, assignee_id=None, actor=ann)
    assert assignee_of(conversation) == bob.pk


def test_after_the_cool_off_the_worker_serves_it_again(tracker, settings):
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    start = time.time()
    connect(tracker, ann, now=start)
    conversation = new_conversation(inbox)
    assign_conversation(conversation_id=conversation.pk, assignee_id=None, actor=ann, now=start)
    assert assignee_of(conversation) is None
    later = start + settings.ASSIGNMENT_RELEASE_COOLOFF_SECONDS + 1
    connect(tracker, ann, now=later)  # still online then (heartbeats)
    assert waiting_tick(now=later) == 1
    assert assignee_of(conversation) == ann.pk


def test_the_cool_off_can_be_turned_off(tracker, settings):
    settings.ASSIGNMENT_RELEASE_COOLOFF_SECONDS = 0
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    connect(tracker, ann, now=time.time())
    conversation = new_conversation(inbox)
    assign_conversation(conversation_id=conversation.pk, assignee_id=None, actor=ann)
    assert assignee_of(conversation) == ann.pk


@pytest.mark.postgres
def test_releases_racing_the_assigners_never_hand_a_conversation_back(tracker):
    """Each operator releases their conversations while other threads serve the inbox: no
    assigner ever sees a released conversation without its cool-off."""
    inbox = auto_inbox(max_assignment_limit=50, assignment_rate_limit=1000)
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, bob, now=time.time())
    conversations = [new_conversation(inbox) for _ in range(12)]
    holders = {c.pk: assignee_of(c) for c in conversations}
    assert set(holders.values()) == {ann.pk, bob.pk}
    users = {ann.pk: ann, bob.pk: bob}
    ids = list(holders)

    def work(index: int) -> None:
        if index < 4:
            for cid in ids[index::4]:
                assign_conversation(conversation_id=cid, assignee_id=None, actor=users[holders[cid]])
        else:
            for cid in ids:
                auto_assign_once(conversation_id=cid)

    results = run_concurrently(work, 8)
    assert not [r for r in results if isinstance(r, Exception)], results
    waiting_tick()
    for cid, holder in holders.items():
        after = Conversation.objects.get(pk=cid).assignee_id
        assert after != holder  # the other operator took it, or it waits
        assert after in (None, ann.pk, bob.pk)
