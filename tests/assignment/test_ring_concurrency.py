"""Ring mode under concurrency, on PostgreSQL: exactly one accept wins; an accept racing the
timeout, a manual assignment or a second worker never leaves two owners or an offer ended twice."""
from __future__ import annotations

import time
from collections import Counter

import pytest

from assignment.offers import offer_accept, offers_expire_due
from assignment.services import assign_conversation
from chat.errors import Conflict, PermissionDenied
from chat.models import Conversation, ConversationOffer, Event, OfferState
from tests.factories import ContactInboxFactory, make_conversation
from tests.presence.helpers import auto_inbox, connect, operators, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def ring_inbox(**kwargs):
    kwargs.setdefault("assignment_rate_limit", 1000)
    return auto_inbox(assignment_mode="ring", ring_timeout_seconds=30, **kwargs)


def new_conversation(inbox):
    return make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))


def offer_of(conversation) -> ConversationOffer:
    return ConversationOffer.objects.filter(conversation=conversation).order_by("id").first()


def withdrawn_count(conversation, user) -> int:
    return Event.objects.filter(type="conversation.offer_withdrawn", conversation=conversation, user=user).count()


def assigned_events(conversation) -> list[int | None]:
    rows = Event.objects.filter(type="assignee.changed", conversation=conversation).order_by("id")
    return [(r.payload["assignee"] or {}).get("id") for r in rows]


def test_many_tabs_of_the_offered_operator_accepting_at_once_all_answer_ok_one_assignment(tracker):
    inbox = ring_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, bob, now=time.time())
    for _ in range(5):
        conversation = new_conversation(inbox)
        owner = ann if offer_of(conversation).user_id == ann.pk else bob
        results = run_concurrently(lambda i, c=conversation, o=owner: offer_accept(conversation_id=c.pk, actor=o), 6)
        assert [type(r).__name__ for r in results] == ["Conversation"] * 6, results
        assert {r.assignee_id for r in results} == {owner.pk}
        assert assigned_events(conversation) == [owner.pk]
        assert offer_of(conversation).state == OfferState.ACCEPTED
        assert withdrawn_count(conversation, owner) == 0


def test_accept_racing_the_timeout_has_exactly_one_outcome(tracker):
    inbox = ring_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, bob, now=time.time())
    outcomes = Counter()
    for _ in range(12):
        conversation = new_conversation(inbox)
        offer = offer_of(conversation)
        owner = ann if offer.user_id == ann.pk else bob
        at = offer.expires_at.timestamp()

        def act(index: int, conversation=conversation, owner=owner, at=at):
            if index == 0:  # just in time, by its own clock
                return offer_accept(conversation_id=conversation.pk, actor=owner, now=at - 0.001)
            return offers_expire_due(now=at)  # a worker that sees it due

        accept, expired = run_concurrently(act, 2)
        offer.refresh_from_db()
        if isinstance(accept, Conflict):
            assert offer.state == OfferState.EXPIRED and conversation.pk in expired
            assert assigned_events(conversation) == [] and withdrawn_count(conversation, owner) == 1
            outcomes["expired"] += 1
        else:
            assert not isinstance(accept, Exception), accept
            assert offer.state == OfferState.ACCEPTED and conversation.pk not in expired
            assert assigned_events(conversation) == [owner.pk] and withdrawn_count(conversation, owner) == 0
            outcomes["accepted"] += 1
        Conversation.objects.filter(pk=conversation.pk).update(status="resolved")
    assert sum(outcomes.values()) == 12


def test_two_workers_expiring_at_once_end_each_offer_once(tracker):
    inbox = ring_inbox()
    ops = operators(inbox, 4)
    connect(tracker, *ops, now=time.time())
    conversations = [new_conversation(inbox) for _ in range(4)]
    firsts = {c.pk: offer_of(c) for c in conversations}
    due = max(o.expires_at.timestamp() for o in firsts.values())
    results = run_concurrently(lambda i: offers_expire_due(now=due), 3)
    assert not [r for r in results if isinstance(r, Exception)], results
    # Each first offer expired once (some workers may have skipped locked rows: the others did them).
    for conversation in conversations:
        first = firsts[conversation.pk]
        first.refresh_from_db()
        assert first.state == OfferState.EXPIRED
        assert withdrawn_count(conversation, first.user) == 1
    assert sorted(sum(results, [])) == sorted(c.pk for c in conversations)


def test_accept_racing_an_agent_taking_it_has_one_owner(tracker):
    inbox = ring_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, now=time.time())  # Bob is offline: every offer rings Ann
    for _ in range(10):
        conversation = new_conversation(inbox)
        assert offer_of(conversation).user_id == ann.pk

        def act(index: int, conversation=conversation):
            if index == 0:
                return offer_accept(conversation_id=conversation.pk, actor=ann)
            return assign_conversation(conversation_id=conversation.pk, assignee_id=bob.pk, actor=bob)

        accept, take = run_concurrently(act, 2)
        owner = Conversation.objects.get(pk=conversation.pk).assignee_id
        if isinstance(accept, Conflict):
            assert owner == bob.pk and not isinstance(take, Exception)
            assert offer_of(conversation).state == OfferState.WITHDRAWN
            assert withdrawn_count(conversation, ann) == 1
        else:
            assert owner == ann.pk and isinstance(take, PermissionDenied), (accept, take)
            assert offer_of(conversation).state == OfferState.ACCEPTED
        assert len(assigned_events(conversation)) == 1
        Conversation.objects.filter(pk=conversation.pk).update(status="resolved")


def test_concurrent_new_conversations_never_ring_an_operator_past_capacity(tracker):
    inbox = ring_inbox(max_assignment_limit=2, assignment_rate_limit=1000)
    ops = operators(inbox, 3)
    connect(tracker, *ops, now=time.time())
    contact_inboxes = [ContactInboxFactory(inbox=inbox) for _ in range(12)]

    def create(index: int) -> list[int]:
        return [make_conversation(contact_inbox=ci).pk for ci in contact_inboxes[index::4]]

    results = run_concurrently(create, 4)
    assert not [r for r in results if isinstance(r, Exception)], results
    pending = Counter(ConversationOffer.objects.filter(inbox=inbox, state=OfferState.PENDING).values_list("user_id", flat=True))
    assert pending == {op.pk: 2 for op in ops}
    ringing = ConversationOffer.objects.filter(inbox=inbox, state=OfferState.PENDING).values_list("conversation_id", flat=True)
    assert len(set(ringing)) == 6  # one pending offer per conversation
