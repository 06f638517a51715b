"""Ring mode (assignment/offers.py): offers instead of assignments, accept, decline, timeout,
withdrawal, rounds, capacity and rate limits, with real commits (the reactions run after them)."""
from __future__ import annotations

import time

import pytest

from assignment.offers import offer_accept, offer_decline, offers_pending_for
from assignment.policy import PastOffer, ring_turn
from assignment.services import assign_conversation
from assignment.worker import offers_tick, waiting_tick
from chat.activity import render_activity
from chat.errors import Conflict, NotFound
from chat.models import (
    Availability,
    Conversation,
    ConversationOffer,
    ConversationStatus,
    Event,
    Message,
    MessageDirection,
    OfferState,
    Role,
)
from chat.payloads import user_summary
from chat.realtime.scopes import OperatorScope
from chat.services.agents import agent_update
from chat.services.conversations import conversation_set_status
from chat.services.inboxes import inbox_member_remove, inbox_update
from presence import hooks
from tests.factories import ContactInboxFactory, UserFactory, make_conversation
from tests.presence.helpers import auto_inbox, connect, operators

pytestmark = pytest.mark.django_db(transaction=True)


class Clock:
    def __init__(self) -> None:
        self.t = float(int(time.time()))

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> float:
        self.t += seconds
        return self.t


@pytest.fixture
def clock(monkeypatch, settings) -> Clock:
    """Everything that reads the clock itself (reactions, the worker, services) reads this."""
    settings.RING_ROUND_COOLDOWN_SECONDS = 20
    c = Clock()
    monkeypatch.setattr("presence.clock.now", c)
    return c


def ring_inbox(**kwargs):
    kwargs.setdefault("assignment_mode", "ring")
    kwargs.setdefault("ring_timeout_seconds", 10)
    return auto_inbox(**kwargs)


def new_conversation(inbox):
    return make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))


def offers_of(conversation) -> list[tuple[int, str]]:
    return list(ConversationOffer.objects.filter(conversation=conversation).order_by("id").values_list("user_id", "state"))


def pending_user(conversation) -> int | None:
    offer = ConversationOffer.objects.filter(conversation=conversation, state=OfferState.PENDING).first()
    return offer.user_id if offer else None


def assignee_of(conversation) -> int | None:
    return Conversation.objects.get(pk=conversation.pk).assignee_id


def personal(published, event_type, user) -> list:
    return [e for e in published.of_type(event_type) if e.user_id == user.pk]


@pytest.fixture
def team(clock, tracker):
    inbox = ring_inbox()
    ann, bob, cat = operators(inbox, 3)
    connect(tracker, ann, bob, cat, now=clock.t)
    return inbox, ann, bob, cat


# --- Offering ----------------------------------------------------------------------------------


def test_a_new_conversation_is_offered_in_turn_not_assigned(team, published):
    inbox, ann, bob, cat = team
    first, second = new_conversation(inbox), new_conversation(inbox)
    assert (assignee_of(first), assignee_of(second)) == (None, None)
    assert (pending_user(first), pending_user(second)) == (ann.pk, bob.pk)  # the rotation still rotates
    offered = published.of_type("conversation.offered")
    assert [(e.user_id, e.conversation_id, e.audience) for e in offered] == [
        (ann.pk, first.pk, "operators"), (bob.pk, second.pk, "operators")]
    data = offered[0].payload
    assert data["conversation_id"] == first.pk and data["timeout_seconds"] == 10 and data["inbox"] == inbox.pk
    assert data["expires_at"].endswith("Z") and data["contact"]["id"] == first.contact_id
    assert not published.of_type("assignee.changed")


def test_accept_assigns_to_the_offered_operator_and_a_repeat_answers_the_same(team, published):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    accepted = offer_accept(conversation_id=conversation.pk, actor=ann)
    assert accepted.assignee_id == ann.pk
    assert offers_of(conversation) == [(ann.pk, "accepted")]
    assert [e.payload["assignee"]["id"] for e in published.of_type("assignee.changed")] == [ann.pk]
    again = offer_accept(conversation_id=conversation.pk, actor=ann)  # the other tab
    assert again.assignee_id == ann.pk
    assert len(published.of_type("assignee.changed")) == 1
    assert not published.of_type("conversation.offer_withdrawn")


def test_the_accepted_offers_activity_line_is_data_each_reader_renders(team):
    inbox, ann, _bob, _cat = team
    conversation = new_conversation(inbox)
    offer_accept(conversation_id=conversation.pk, actor=ann)
    line = Message.objects.filter(conversation=conversation, direction=MessageDirection.ACTIVITY).latest("id")
    data = line.content_attributes["activity"]
    name = user_summary(ann)["name"]
    assert data["kind"] == "accepted_offer" and data["assignee"] == {"id": ann.pk, "name": name}
    assert data["actor"] == {"type": "user", "id": ann.pk, "name": name}
    assert line.content == f"Assigned to {name} (accepted the offer)"  # the server's language
    assert render_activity(data, "ru") == f"Диалог назначен на {name} (предложение принято)"


def test_only_the_offered_operator_may_accept_or_decline(team):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    outsider = UserFactory()
    admin = UserFactory(is_superuser=True)
    for user in (bob, outsider, admin):
        with pytest.raises(NotFound):
            offer_accept(conversation_id=conversation.pk, actor=user)
        with pytest.raises(NotFound):
            offer_decline(conversation_id=conversation.pk, actor=user)
    with pytest.raises(NotFound):
        offer_accept(conversation_id=999_999, actor=ann)
    assert pending_user(conversation) == ann.pk


def test_decline_offers_it_to_the_next_and_a_late_accept_is_a_conflict(team, published):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    assert offer_decline(conversation_id=conversation.pk, actor=ann) == "declined"
    assert pending_user(conversation) == bob.pk
    withdrawn = personal(published, "conversation.offer_withdrawn", ann)
    assert [e.payload for e in withdrawn] == [{"conversation_id": conversation.pk, "reason": "declined"}]
    assert offer_decline(conversation_id=conversation.pk, actor=ann) == "declined"  # repeat: idempotent
    with pytest.raises(Conflict):
        offer_accept(conversation_id=conversation.pk, actor=ann)
    assert pending_user(conversation) == bob.pk and assignee_of(conversation) is None


def test_when_everyone_declined_it_waits_then_a_new_round_asks_again(team, clock, published):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    for user in (ann, bob, cat):
        offer_decline(conversation_id=conversation.pk, actor=user)
    assert pending_user(conversation) is None and assignee_of(conversation) is None
    clock.advance(10)
    waiting_tick()
    assert pending_user(conversation) is None  # within the cooldown (20 s)
    other = new_conversation(inbox)  # another conversation is still served meanwhile
    assert pending_user(other) is not None
    offer_decline(conversation_id=other.pk, actor=next(u for u in (ann, bob, cat) if u.pk == pending_user(other)))
    clock.advance(11)
    waiting_tick()
    assert pending_user(conversation) in {ann.pk, bob.pk, cat.pk}
    assert ConversationOffer.objects.filter(conversation=conversation, state="pending").get().round == 2


def test_the_only_operator_declines_then_someone_new_comes_online(clock, tracker, published):
    inbox = ring_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, now=clock.t)
    conversation = new_conversation(inbox)
    offer_decline(conversation_id=conversation.pk, actor=ann)
    assert pending_user(conversation) is None
    hooks.operator_socket_opened(user_id=bob.pk, socket_id="bob-tab")  # presence.updated online
    assert pending_user(conversation) == bob.pk
    assert offers_of(conversation) == [(ann.pk, "declined"), (bob.pk, "pending")]


# --- Timeouts ----------------------------------------------------------------------------------


def test_timeout_expires_the_offer_and_offers_it_to_the_next(team, clock, published):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    clock.advance(9.9)
    assert offers_tick() == []
    clock.advance(0.1)
    assert offers_tick() == [conversation.pk]
    assert offers_of(conversation) == [(ann.pk, "expired"), (bob.pk, "pending")]
    assert [e.payload["reason"] for e in personal(published, "conversation.offer_withdrawn", ann)] == ["timeout"]
    assert offers_tick() == []  # nothing twice


def test_accept_exactly_at_expiry_is_a_conflict_and_expires_it(team, clock, published):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    clock.advance(10)  # expires_at exactly; the worker has not run yet
    with pytest.raises(Conflict):
        offer_accept(conversation_id=conversation.pk, actor=ann)
    assert offers_of(conversation) == [(ann.pk, "expired"), (bob.pk, "pending")]
    assert assignee_of(conversation) is None
    assert len(personal(published, "conversation.offer_withdrawn", ann)) == 1


def test_accept_just_before_expiry_wins(team, clock):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    clock.advance(9.999)
    assert offer_accept(conversation_id=conversation.pk, actor=ann).assignee_id == ann.pk
    clock.advance(1)
    assert offers_tick() == []


# --- Withdrawals -------------------------------------------------------------------------------


def test_the_offered_operator_going_offline_withdraws_it(team, published):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    hooks.operator_set_availability(user_id=ann.pk, availability=Availability.OFFLINE)
    assert offers_of(conversation) == [(ann.pk, "withdrawn"), (bob.pk, "pending")]
    assert [e.payload["reason"] for e in personal(published, "conversation.offer_withdrawn", ann)] == ["offline"]
    with pytest.raises(Conflict):
        offer_accept(conversation_id=conversation.pk, actor=ann)


def test_manual_assignment_during_a_ring_withdraws_it(team, published):
    inbox, ann, bob, cat = team
    (sue,) = operators(inbox, 1, role=Role.SUPERVISOR)
    conversation = new_conversation(inbox)
    assign_conversation(conversation_id=conversation.pk, assignee_id=bob.pk, actor=sue)
    assert offers_of(conversation) == [(ann.pk, "withdrawn")]
    assert [e.payload["reason"] for e in personal(published, "conversation.offer_withdrawn", ann)] == ["assigned"]
    with pytest.raises(Conflict):
        offer_accept(conversation_id=conversation.pk, actor=ann)
    assert assignee_of(conversation) == bob.pk


def test_assigning_the_ringing_conversation_to_its_operator_at_capacity_is_allowed(clock, tracker):
    inbox = ring_inbox(max_assignment_limit=1)
    ann, sue = operators(inbox, 1)[0], operators(inbox, 1, role=Role.SUPERVISOR)[0]
    connect(tracker, ann, now=clock.t)
    conversation = new_conversation(inbox)
    assert pending_user(conversation) == ann.pk
    # Her offer of this very conversation does not count twice against her one slot.
    assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=sue)
    assert assignee_of(conversation) == ann.pk
    assert offer_accept(conversation_id=conversation.pk, actor=ann).assignee_id == ann.pk  # a late click: ok


def test_resolving_during_a_ring_withdraws_it(team, published):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED, actor_user=bob)
    assert offers_of(conversation) == [(ann.pk, "withdrawn")]
    assert [e.payload["reason"] for e in personal(published, "conversation.offer_withdrawn", ann)] == ["closed"]


def test_removal_from_the_inbox_withdraws_it(team, published):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    inbox_member_remove(inbox=inbox, user_id=ann.pk)
    assert offers_of(conversation) == [(ann.pk, "withdrawn"), (bob.pk, "pending")]
    withdrawn = personal(published, "conversation.offer_withdrawn", ann)
    assert [e.payload for e in withdrawn] == [{"conversation_id": conversation.pk, "reason": "removed"}]
    # She no longer sees the inbox, yet the withdrawal is hers to see (her personal stream).
    row = Event.objects.get(pk=withdrawn[0].id)
    assert OperatorScope(ann.pk, frozenset()).sees(row)
    assert list(OperatorScope(ann.pk, frozenset()).visible(Event.objects.filter(pk=row.pk))) == [row]
    assert not OperatorScope(cat.pk, frozenset({inbox.pk})).sees(row)
    with pytest.raises(NotFound):
        offer_accept(conversation_id=conversation.pk, actor=ann)


def test_deactivating_the_offered_operator_withdraws_it(team, published):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    agent_update(user=ann, is_active=False)
    assert offers_of(conversation) == [(ann.pk, "withdrawn"), (bob.pk, "pending")]
    assert [e.payload["reason"] for e in personal(published, "conversation.offer_withdrawn", ann)] == ["removed"]
    assert pending_user(new_conversation(inbox)) in (bob.pk, cat.pk)  # she is offered nothing new


def test_demoting_the_offered_administrator_keeps_the_offer(clock, tracker):
    """Offers go to members only, and a demoted administrator keeps their member inboxes:
    the conversation stays theirs to answer."""
    inbox = ring_inbox()
    (ada,) = operators(inbox, 1, role=Role.ADMINISTRATOR)
    connect(tracker, ada, now=clock.t)
    conversation = new_conversation(inbox)
    agent_update(user=ada, role=Role.AGENT)
    assert offers_of(conversation) == [(ada.pk, "pending")]
    assert offer_accept(conversation_id=conversation.pk, actor=ada).assignee_id == ada.pk


def test_switching_the_inbox_to_auto_with_offers_pending_assigns_them(team, published):
    inbox, ann, bob, cat = team
    first, second = new_conversation(inbox), new_conversation(inbox)
    inbox_update(inbox=inbox, assignment_mode="auto")
    assert {pending_user(first), pending_user(second)} == {None}
    assert assignee_of(first) is not None and assignee_of(second) is not None
    reasons = {e.payload["reason"] for e in published.of_type("conversation.offer_withdrawn")}
    assert reasons == {"mode_changed"}
    with pytest.raises(Conflict):
        offer_accept(conversation_id=first.pk, actor=ann)


def test_switching_auto_assignment_off_withdraws_and_leaves_them_waiting(team):
    inbox, ann, bob, cat = team
    conversation = new_conversation(inbox)
    inbox_update(inbox=inbox, enable_auto_assignment=False)
    assert offers_of(conversation) == [(ann.pk, "withdrawn")]
    assert assignee_of(conversation) is None


# --- Capacity and rate limits ------------------------------------------------------------------


def test_capacity_one_counts_the_offer_in_flight(clock, tracker):
    inbox = ring_inbox(max_assignment_limit=1)
    ann, bob = operators(inbox, 2)
    (sue,) = operators(inbox, 1, role=Role.SUPERVISOR)
    connect(tracker, ann, bob, now=clock.t)
    x, y, z = new_conversation(inbox), new_conversation(inbox), new_conversation(inbox)
    assert (pending_user(x), pending_user(y), pending_user(z)) == (ann.pk, bob.pk, None)
    with pytest.raises(Conflict):  # the offer holds Ann's only slot
        assign_conversation(conversation_id=z.pk, assignee_id=ann.pk, actor=sue)
    offer_accept(conversation_id=x.pk, actor=ann)
    assert pending_user(z) is None  # Ann is full with x, Bob with his offer
    offer_decline(conversation_id=y.pk, actor=bob)
    # Bob's slot is free: y skips him this round (Ann is full), so z, next in line, rings him.
    assert pending_user(z) == bob.pk and pending_user(y) is None


def test_offers_count_against_the_rate_limit(clock, tracker):
    inbox = ring_inbox(assignment_rate_limit=1)
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, bob, now=clock.t)
    x = new_conversation(inbox)
    offer_decline(conversation_id=x.pk, actor=ann)  # Bob is offered x
    y = new_conversation(inbox)
    # Both had their one offer in the window: y waits.
    assert pending_user(x) == bob.pk and pending_user(y) is None


# --- Reads ---------------------------------------------------------------------------------------


def test_pending_offers_of_the_caller_only_live_ones(team, clock):
    inbox, ann, bob, cat = team
    first, second = new_conversation(inbox), new_conversation(inbox)
    assert [o["conversation_id"] for o in offers_pending_for(actor=ann)] == [first.pk]
    assert [o["conversation_id"] for o in offers_pending_for(actor=bob)] == [second.pk]
    assert offers_pending_for(actor=cat) == []
    clock.advance(10)
    assert offers_pending_for(actor=ann) == []  # expired, even before the worker ran


def test_offer_events_never_reach_a_widget_and_are_personal(team):
    inbox, ann, bob, cat = team
    new_conversation(inbox)
    row = Event.objects.get(type="conversation.offered")
    assert row.user_id == ann.pk and row.audience == "operators"


# --- The pure rule -----------------------------------------------------------------------------


def test_ring_turn_rounds():
    assert ring_turn([], now=100, cooldown=20).round == 1
    declined = PastOffer(user_id=1, round=1, state="declined", ended_at=90)
    expired = PastOffer(user_id=2, round=1, state="expired", ended_at=95)
    offline = PastOffer(user_id=3, round=1, state="withdrawn", ended_at=96)
    turn = ring_turn([declined, expired, offline], now=100, cooldown=20)
    assert (turn.round, turn.skip) == (1, frozenset({1, 2}))  # a withdrawal is no refusal
    assert ring_turn([declined, expired, offline], now=116, cooldown=20).skip == frozenset()
    assert ring_turn([declined, expired, offline], now=116, cooldown=20).round == 2
    pending = PastOffer(user_id=4, round=1, state="pending", ended_at=None)
    assert ring_turn([declined, pending], now=1000, cooldown=20).round == 1
