"""Snapshot + the events after its last_event_id == a fresh snapshot (DESIGN.md §8).

A client reads the list, a conversation and its history, then applies the events the outbox
holds after the snapshot's ``last_event_id`` (with the stream's visibility rules), idempotently:
conversation events replace the conversation, ``message.created`` adds by id. Messages and
status changes arrive in between; the result must equal what a fresh read shows.
"""
from __future__ import annotations

import threading
from typing import Any

import pytest
from django.db import connections, transaction

from chat.models import Event
from chat.realtime.scopes import OperatorScope, WidgetScope
from chat.services.conversations import conversation_set_priority, conversation_set_status
from tests.api.conftest import operator_says, token_client, visitor_says, widget_client
from tests.factories import ContactInboxFactory, InboxFactory, InboxMemberFactory, UserFactory, make_conversation

CONVERSATION_EVENTS = {"conversation.created", "conversation.updated", "conversation.status_changed"}


def _pick(conversation: dict[str, Any]) -> dict[str, Any]:
    assignee = conversation.get("assignee")
    return {
        "status": conversation["status"],
        "priority": conversation["priority"],
        "assignee": assignee["id"] if assignee else None,
        "snoozed_until": conversation["snoozed_until"],
        "custom_attributes": conversation["custom_attributes"],
    }


class OperatorView:
    """What an operator's client holds: the open list, one conversation, its history."""

    def __init__(self, client, conversation_id: int) -> None:
        self.client = client
        self.conversation_id = conversation_id

    def read(self) -> tuple[dict[str, Any], int]:
        listing = self.client.get("/api/v1/conversations/?status=open&limit=100").json()
        detail = self.client.get(f"/api/v1/conversations/{self.conversation_id}/").json()
        history = self.client.get(f"/api/v1/conversations/{self.conversation_id}/messages/?limit=100").json()
        state = {
            "list": {row["id"]: _pick(row) for row in listing["results"]},
            "detail": _pick(detail),
            "history": {m["id"]: (m["content"], m["private"], m["direction"]) for m in history["results"]},
        }
        # A client resumes from the oldest of the three (each is a valid resume point).
        return state, min(listing["last_event_id"], detail["last_event_id"], history["last_event_id"])

    @staticmethod
    def apply(state: dict[str, Any], events: list[Event], conversation_id: int) -> dict[str, Any]:
        listing = dict(state["list"])
        detail = dict(state["detail"])
        history = dict(state["history"])
        for event in events:
            if event.type in CONVERSATION_EVENTS:
                picked = _pick(event.payload)
                if picked["status"] == "open":
                    listing[event.conversation_id] = picked
                else:
                    listing.pop(event.conversation_id, None)
                if event.conversation_id == conversation_id:
                    detail = picked
            elif event.type == "message.created" and event.conversation_id == conversation_id:
                m = event.payload
                history[m["id"]] = (m["content"], m["private"], m["direction"])
        return {"list": listing, "detail": detail, "history": history}


def _operator_events(after: int, user, inbox_ids) -> list[Event]:
    scope = OperatorScope(user.pk, frozenset(inbox_ids) if inbox_ids is not None else None)
    return list(scope.visible(Event.objects.filter(id__gt=after)).order_by("id"))


def _changes(inbox, conversation, agent) -> None:
    other_visitor = ContactInboxFactory(inbox=inbox)
    visitor_says(conversation.contact_inbox, "are you there?")
    operator_says(conversation, agent, "yes")
    operator_says(conversation, agent, "note to self", private=True)
    conversation_set_priority(conversation_id=conversation.pk, priority="high", actor_user=agent)
    visitor_says(other_visitor, "a brand new conversation")
    conversation_set_status(conversation_id=conversation.pk, status="resolved", actor_user=agent)
    visitor_says(conversation.contact_inbox, "one more thing")  # reopens it


@pytest.mark.django_db
def test_operator_snapshot_plus_events_equals_fresh_snapshot(world, client_a):
    visitor_says(world.visitor_a, "first")
    other = make_conversation(contact_inbox=ContactInboxFactory(inbox=world.inbox_a))
    view = OperatorView(client_a, world.conv_a.pk)
    snapshot, last_event_id = view.read()

    _changes(world.inbox_a, world.conv_a, world.agent_a)
    conversation_set_status(conversation_id=other.pk, status="pending", actor_user=world.agent_a)
    visitor_says(world.visitor_b, "inbox B, not for Ann")

    events = _operator_events(last_event_id, world.agent_a, [world.inbox_a.pk])
    assert {e.type for e in events} >= {"message.created", "conversation.status_changed", "conversation.created"}
    assert all(e.inbox_id == world.inbox_a.pk for e in events)
    replayed = OperatorView.apply(snapshot, events, world.conv_a.pk)
    # Idempotent: applying the same events again (a client that resumed twice) changes nothing.
    assert OperatorView.apply(replayed, events, world.conv_a.pk) == replayed
    fresh, _ = view.read()
    assert replayed == fresh
    assert fresh["detail"]["status"] == "open" and fresh["detail"]["priority"] == "high"
    assert other.pk not in fresh["list"]


@pytest.mark.django_db
def test_widget_snapshot_plus_events_equals_fresh_snapshot(world):
    visitor_says(world.visitor_a, "first")
    client = widget_client(world.visitor_a)
    body = client.get("/api/widget/v1/messages?limit=100").json()
    snapshot = {m["id"]: m["content"] for m in body["results"]}

    _changes(world.inbox_a, world.conv_a, world.agent_a)

    scope = WidgetScope(world.inbox_a.pk, world.visitor_a.pk)
    events = scope.visible(Event.objects.filter(id__gt=body["last_event_id"])).order_by("id")
    replayed = dict(snapshot)
    for event in events:
        if event.type == "message.created":
            assert not event.payload["private"] and event.payload["direction"] != "activity"
            replayed[event.payload["id"]] = event.payload["content"]
    fresh = client.get("/api/widget/v1/messages?limit=100").json()
    assert replayed == {m["id"]: m["content"] for m in fresh["results"]}
    assert "note to self" not in replayed.values()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_snapshot_taken_while_a_writer_holds_an_earlier_event_id():
    """A transaction allocates an event id, a later one commits first, the snapshot is read,
    then the first commits: resuming from the snapshot's last_event_id still delivers it."""
    inbox = InboxFactory()
    agent = UserFactory()
    InboxMemberFactory(inbox=inbox, user=agent)
    visitor = ContactInboxFactory(inbox=inbox)
    conversation = make_conversation(contact_inbox=visitor)
    neighbour = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
    visitor_says(visitor, "hello")
    client = token_client(agent)
    view = OperatorView(client, conversation.pk)

    allocated = threading.Event()
    release = threading.Event()
    failure: list[BaseException] = []

    def slow_writer() -> None:
        try:
            with transaction.atomic():
                operator_says(conversation, agent, "slow reply")  # event id allocated now
                allocated.set()
                assert release.wait(timeout=30)
        except BaseException as exc:  # reported by the test below
            failure.append(exc)
        finally:
            connections.close_all()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert allocated.wait(timeout=30)
        # A later event id (on another row: the writer holds this conversation's lock), committed first.
        conversation_set_priority(conversation_id=neighbour.pk, priority="low", actor_user=agent)
        snapshot, last_event_id = view.read()
        slow_ids = set(Event.objects.filter(type="message.created", conversation=conversation)
                       .values_list("id", flat=True))
        assert snapshot["list"][neighbour.pk]["priority"] == "low"
        assert "slow reply" not in {c for c, _, _ in snapshot["history"].values()}
    finally:
        release.set()
        writer.join(timeout=30)
    assert not failure, failure

    events = _operator_events(last_event_id, agent, [inbox.pk])
    slow_event = Event.objects.filter(type="message.created", conversation=conversation).exclude(id__in=slow_ids).get()
    assert last_event_id < slow_event.id
    replayed = OperatorView.apply(snapshot, events, conversation.pk)
    fresh, _ = view.read()
    assert replayed == fresh
    assert "slow reply" in {c for c, _, _ in fresh["history"].values()}


@pytest.mark.django_db(transaction=True)
def test_operator_without_profile_reads_in_the_snapshot_transaction(django_user_model):
    """The profile is made on demand before the read-only snapshot transaction opens."""
    from chat.models import OperatorProfile

    inbox = InboxFactory()
    user = django_user_model.objects.create_user("plain", password="password123")
    InboxMemberFactory(inbox=inbox, user=user)
    make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
    assert not OperatorProfile.objects.filter(user=user).exists()
    response = token_client(user).get("/api/v1/conversations/")
    assert response.status_code == 200, response.content
    assert len(response.json()["results"]) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_watermark_is_judged_against_the_snapshot_not_the_present():
    """A transaction that commits after our snapshot was taken but before the watermark looks at
    it: its event is not in our data, so the watermark must stay below it (judging by the
    transaction's *current* status would wrongly release it)."""
    from django.db import connection

    from chat.models import Message
    from chat.outbox import watermark as watermark_in_snapshot

    inbox = InboxFactory()
    agent = UserFactory()
    visitor = ContactInboxFactory(inbox=inbox)
    conversation = make_conversation(contact_inbox=visitor)
    neighbour = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))

    allocated, release, done = threading.Event(), threading.Event(), threading.Event()
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            with transaction.atomic():
                operator_says(conversation, agent, "late")
                allocated.set()
                assert release.wait(timeout=30)
        except BaseException as exc:  # reported below
            failure.append(exc)
        finally:
            connections.close_all()
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert allocated.wait(timeout=30)
        conversation_set_priority(conversation_id=neighbour.pk, priority="low", actor_user=agent)
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cursor.execute("SELECT count(*) FROM chat_message")  # the snapshot is taken here
            release.set()
            assert done.wait(timeout=30)  # the writer has committed, after our snapshot
            watermark = watermark_in_snapshot()
            assert not Message.objects.filter(content="late").exists()
    finally:
        release.set()
        thread.join(timeout=30)
    assert not failure, failure
    late_event = Event.objects.get(type="message.created", payload__content="late")
    assert watermark < late_event.id
