"""Presence from sockets: tabs, processes, heartbeats, grace, TTL; only transitions broadcast."""
from __future__ import annotations

import time

import pytest

from chat.models import Availability, OperatorProfile
from presence import hooks
from presence.models import OperatorPresence
from tests.factories import InboxFactory, InboxMemberFactory, UserFactory
from tests.presence.helpers import T0, run_concurrently

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clock_at_t0")]


def presence_events(published, *, user=None):
    events = [e for e in published.of_type("presence.updated") if "user_id" in e.payload]
    if user is not None:
        events = [e for e in events if e.payload["user_id"] == user.pk]
    return events


@pytest.fixture
def member():
    inbox = InboxFactory()
    user = UserFactory()
    InboxMemberFactory(inbox=inbox, user=user)
    return user


def test_first_socket_makes_the_operator_online_and_broadcasts_once(tracker, member, published):
    assert tracker.set_online(user_id=member.pk, socket_id="a", now=T0) == "online"
    events = presence_events(published, user=member)
    assert [e.payload for e in events] == [{"user_id": member.pk, "status": "online"}]
    assert events[0].audience == "operators" and events[0].inbox_id is not None
    assert tracker.status_of(member.pk, now=T0) == "online"


def test_one_event_per_inbox_of_the_operator(tracker, member, published):
    InboxMemberFactory(user=member)
    tracker.set_online(user_id=member.pk, socket_id="a", now=T0)
    assert len({e.inbox_id for e in presence_events(published, user=member)}) == 2


def test_second_tab_and_its_closing_broadcast_nothing(tracker, member, published):
    tracker.set_online(user_id=member.pk, socket_id="tab1", now=T0)
    tracker.set_online(user_id=member.pk, socket_id="tab2", now=T0 + 1)
    tracker.set_offline(user_id=member.pk, socket_id="tab2", now=T0 + 2)
    tracker.expire(now=T0 + 30)  # long after tab2's grace
    assert tracker.status_of(member.pk, now=T0 + 30) == "online"
    assert len(presence_events(published, user=member)) == 1


def test_two_tabs_then_one_closed_keeps_the_operator_online_through_heartbeats(tracker, member):
    tracker.set_online(user_id=member.pk, socket_id="tab1", now=T0)
    tracker.set_online(user_id=member.pk, socket_id="tab2", now=T0)
    tracker.set_offline(user_id=member.pk, socket_id="tab1", now=T0 + 10)
    for t in range(20, 200, 20):
        tracker.heartbeat(user_id=member.pk, socket_id="tab2", now=T0 + t)
        tracker.expire(now=T0 + t + 1)
        assert tracker.status_of(member.pk, now=T0 + t + 1) == "online"


def test_reload_within_the_grace_does_not_flap(tracker, member, published):
    tracker.set_online(user_id=member.pk, socket_id="old", now=T0)
    tracker.set_offline(user_id=member.pk, socket_id="old", now=T0 + 10)
    tracker.expire(now=T0 + 12)  # inside the 5 s grace: still online
    tracker.set_online(user_id=member.pk, socket_id="new", now=T0 + 13)
    tracker.expire(now=T0 + 40)
    assert tracker.status_of(member.pk, now=T0 + 40) == "online"
    assert [e.payload["status"] for e in presence_events(published, user=member)] == ["online"]


def test_clean_close_of_the_last_socket_goes_offline_after_the_grace(tracker, member, published):
    tracker.set_online(user_id=member.pk, socket_id="a", now=T0)
    tracker.set_offline(user_id=member.pk, socket_id="a", now=T0 + 10)
    assert tracker.expire(now=T0 + 14) == {}
    assert tracker.get_available_users(InboxMemberFactory._meta.model.objects.get(user=member).inbox_id, now=T0 + 14) == [member.pk]
    assert tracker.expire(now=T0 + 15.5) == {member.pk: "offline"}
    assert [e.payload["status"] for e in presence_events(published, user=member)] == ["online", "offline"]


def test_a_killed_process_sockets_expire_after_the_ttl(tracker, member, published):
    tracker.set_online(user_id=member.pk, socket_id="process-a:1", now=T0)
    tracker.heartbeat(user_id=member.pk, socket_id="process-a:1", now=T0 + 20)
    # The process dies: no disconnect, no heartbeat. Counts until T0 + 20 + 60.
    assert tracker.expire(now=T0 + 79) == {}
    assert tracker.is_connected(member.pk, now=T0 + 79)
    assert not tracker.is_connected(member.pk, now=T0 + 81)
    # Reads honour the TTL before the worker has published anything.
    assert tracker.status_of(member.pk, now=T0 + 81) == "offline"
    assert tracker.expire(now=T0 + 81) == {member.pk: "offline"}
    assert tracker.expire(now=T0 + 90) == {}
    assert [e.payload["status"] for e in presence_events(published, user=member)] == ["online", "offline"]


def test_heartbeat_without_change_broadcasts_nothing(tracker, member, published):
    tracker.set_online(user_id=member.pk, socket_id="a", now=T0)
    for t in range(20, 100, 20):
        assert tracker.heartbeat(user_id=member.pk, socket_id="a", now=T0 + t) is None
    assert len(presence_events(published, user=member)) == 1


def test_heartbeat_after_being_expired_brings_the_operator_back(tracker, member):
    tracker.set_online(user_id=member.pk, socket_id="a", now=T0)
    tracker.expire(now=T0 + 61)
    assert OperatorPresence.objects.get(user=member).status == "offline"
    assert tracker.heartbeat(user_id=member.pk, socket_id="a", now=T0 + 62) == "online"


def test_availability_busy_and_offline_are_effective_statuses(tracker, member, published):
    T0 = time.time()  # the hooks below use the real clock
    tracker.set_online(user_id=member.pk, socket_id="a", now=T0)
    hooks.operator_set_availability(user_id=member.pk, availability="busy")
    assert OperatorProfile.objects.get(user=member).availability == "busy"
    assert OperatorPresence.objects.get(user=member).status == "busy"
    hooks.operator_set_availability(user_id=member.pk, availability="busy")  # no change: no event
    hooks.operator_set_availability(user_id=member.pk, availability="offline")
    hooks.operator_set_availability(user_id=member.pk, availability="online")
    assert [e.payload["status"] for e in presence_events(published, user=member)] == ["online", "busy", "offline", "online"]


def test_choosing_busy_while_disconnected_broadcasts_nothing(member, published):
    hooks.operator_set_availability(user_id=member.pk, availability="busy")
    assert presence_events(published, user=member) == []


def test_unknown_availability_is_refused(member):
    from chat.errors import InvalidData

    with pytest.raises(InvalidData):
        hooks.operator_set_availability(user_id=member.pk, availability="away")


def test_get_available_users_excludes_busy_offline_and_non_members(tracker):
    inbox = InboxFactory()
    online, busy, away, outsider = (UserFactory() for _ in range(4))
    for user in (online, busy, away):
        InboxMemberFactory(inbox=inbox, user=user)
    OperatorProfile.objects.filter(user=busy).update(availability=Availability.BUSY)
    for user in (online, busy, outsider):
        tracker.set_online(user_id=user.pk, socket_id=f"s{user.pk}", now=T0)
    assert tracker.get_available_users(inbox, now=T0 + 1) == [online.pk]
    assert tracker.member_statuses(inbox, now=T0 + 1) == {online.pk: "online", busy.pk: "busy", away.pk: "offline"}


def test_widget_learns_whether_any_operator_is_available(tracker, published):
    T0 = time.time()  # the hooks below use the real clock
    inbox = InboxFactory()
    ann, bob = UserFactory(), UserFactory()
    InboxMemberFactory(inbox=inbox, user=ann)
    InboxMemberFactory(inbox=inbox, user=bob)

    def widget_events():
        return [e.payload for e in published.of_type("presence.updated") if e.payload["user_id"] is None]

    assert hooks.inbox_operators_available(inbox_id=inbox.pk) is False
    tracker.set_online(user_id=ann.pk, socket_id="a", now=T0)
    tracker.set_online(user_id=bob.pk, socket_id="b", now=T0)
    assert widget_events() == [{"user_id": None, "status": "online"}]
    window = [e for e in published.of_type("presence.updated") if e.payload["user_id"] is None][0]
    assert window.audience == "everyone" and window.contact_inbox_id is None and window.inbox_id == inbox.pk
    tracker.set_offline(user_id=ann.pk, socket_id="a", now=T0 + 1)
    tracker.expire(now=T0 + 10)
    assert widget_events() == [{"user_id": None, "status": "online"}]  # bob still there
    hooks.operator_set_availability(user_id=bob.pk, availability="busy")
    assert widget_events() == [{"user_id": None, "status": "online"}, {"user_id": None, "status": "offline"}]


@pytest.mark.postgres
def test_two_processes_connecting_at_once_publish_one_transition(tracker, member, published):
    results = run_concurrently(
        lambda i: tracker.set_online(user_id=member.pk, socket_id=f"process-{i}", now=T0), 6
    )
    assert not [r for r in results if isinstance(r, Exception)]
    assert [e.payload["status"] for e in presence_events(published, user=member)] == ["online"]


@pytest.mark.postgres
def test_two_workers_expiring_at_once_publish_one_transition(tracker, member, published):
    tracker.set_online(user_id=member.pk, socket_id="a", now=T0)
    results = run_concurrently(lambda i: tracker.expire(now=T0 + 100), 4)
    assert not [r for r in results if isinstance(r, Exception)]
    assert [e.payload["status"] for e in presence_events(published, user=member)] == ["online", "offline"]


def test_contacts_are_online_while_a_widget_socket_counts(tracker):
    tracker.contact_set_online(contact_id=7, inbox_id=3, socket_id="w1", now=T0)
    assert tracker.contact_is_online(7, now=T0 + 1)
    assert tracker.contact_is_online(7, inbox_id=3, now=T0 + 1)
    assert not tracker.contact_is_online(7, inbox_id=4, now=T0 + 1)
    tracker.contact_set_offline(contact_id=7, inbox_id=3, socket_id="w1", now=T0 + 2)
    assert tracker.contact_is_online(7, now=T0 + 6)
    assert not tracker.contact_is_online(7, now=T0 + 8)
    tracker.contact_set_online(contact_id=8, inbox_id=3, socket_id="w2", now=T0)
    assert not tracker.contact_is_online(8, now=T0 + 61)


def test_hooks_use_the_real_clock(member):
    hooks.operator_socket_opened(user_id=member.pk, socket_id="x")
    hooks.operator_socket_heartbeat(user_id=member.pk, socket_id="x")
    assert OperatorPresence.objects.get(user=member).status == "online"
    hooks.operator_socket_closed(user_id=member.pk, socket_id="x")
    assert OperatorPresence.objects.get(user=member).status == "online"  # grace
    hooks.contact_socket_opened(contact_id=1, inbox_id=1, socket_id="w")
    hooks.contact_socket_heartbeat(contact_id=1, inbox_id=1, socket_id="w")
    assert hooks.contact_is_online(contact_id=1)
    hooks.contact_socket_closed(contact_id=1, inbox_id=1, socket_id="w")


def test_operator_choosing_offline_with_the_panel_open_stays_offline_quietly(tracker, member, published):
    T0 = time.time()  # the hooks below use the real clock
    tracker.set_online(user_id=member.pk, socket_id="a", now=T0)
    hooks.operator_set_availability(user_id=member.pk, availability="offline")
    for t in (2, 4, 6):
        tracker.heartbeat(user_id=member.pk, socket_id="a", now=T0 + t)
        assert tracker.expire(now=T0 + t) == {}
    assert [e.payload["status"] for e in presence_events(published, user=member)] == ["online", "offline"]
