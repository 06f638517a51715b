"""One visibility rule, two forms: the outbox query (replay) and the in-memory predicate (the
hub's live fan-out) must agree on every event and every subscriber (chat/selectors/event_visibility.py).

Hypothesis generates events (every type, operator-only ones included; both audiences; personal
events; contact-inbox and inbox-wide events; events of no inbox) and subscriber scopes
(administrators, members of some inboxes, widgets), writes the events to the test database, and
compares what the SQL form selects, what the Python form accepts and what the hub delivers.
Runs on PostgreSQL and on SQLite.
"""
from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.event_types import EventType
from chat.models import Audience, Event
from chat.realtime.hub import QueueSink, StreamHub
from chat.realtime.scopes import OperatorScope, WidgetScope
from tests.factories import ContactInboxFactory, InboxFactory, UserFactory


class _Rollback(Exception):
    pass


@pytest.fixture
def ids(db):
    inboxes = [InboxFactory() for _ in range(3)]
    contact_inboxes = [ContactInboxFactory(inbox=inbox) for inbox in inboxes for _ in range(2)]
    users = [UserFactory() for _ in range(3)]
    return {
        "inboxes": [i.pk for i in inboxes],
        "contact_inboxes": [c.pk for c in contact_inboxes],
        "users": [u.pk for u in users],
        "contact_inbox_of": {c.pk: c.inbox_id for c in contact_inboxes},
    }


def events_strategy(ids):
    return st.lists(
        st.fixed_dictionaries({
            "type": st.sampled_from([str(t) for t in EventType]),
            "audience": st.sampled_from([str(Audience.OPERATORS), str(Audience.EVERYONE)]),
            "user_id": st.none() | st.sampled_from(ids["users"]),
            "inbox_id": st.none() | st.sampled_from(ids["inboxes"]),
            "contact_inbox_id": st.none() | st.sampled_from(ids["contact_inboxes"]),
        }),
        min_size=1, max_size=25,
    )


def scopes_strategy(ids):
    operator = st.builds(
        OperatorScope,
        user_id=st.sampled_from(ids["users"]),
        inbox_ids=st.none() | st.frozensets(st.sampled_from(ids["inboxes"]), max_size=3),
    )
    # A widget's contact inbox is usually of its inbox; a mismatched pair must see nothing odd.
    own = st.sampled_from(ids["contact_inboxes"]).map(lambda ci: WidgetScope(ids["contact_inbox_of"][ci], ci))
    mismatched = st.builds(WidgetScope, inbox_id=st.sampled_from(ids["inboxes"]),
                           contact_inbox_id=st.sampled_from(ids["contact_inboxes"]))
    return st.lists(operator | own | mismatched, min_size=1, max_size=6)


@pytest.mark.django_db
def test_sql_and_python_forms_and_the_hub_agree(ids):
    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(events=events_strategy(ids), scopes=scopes_strategy(ids))
    def check(events, scopes):
        try:
            with transaction.atomic():
                rows = Event.objects.bulk_create([Event(payload={}, **fields) for fields in events])
                all_ids = [row.id for row in rows]
                assert all(all_ids)
                hub = StreamHub()
                sinks = []
                for scope in scopes:
                    sink = QueueSink(scope)
                    hub._sinks.add(sink)
                    hub._index(sink)
                    sinks.append(sink)
                hub.fan_out(rows)
                for scope, sink in zip(scopes, sinks, strict=True):
                    in_sql = list(scope.visible(Event.objects.filter(id__in=all_ids)).order_by("id")
                                  .values_list("id", flat=True))
                    in_python = [row.id for row in rows if scope.sees(row)]
                    delivered = [event_id for event_id, _ in sink.take()]
                    assert in_sql == in_python, (scope, events)
                    assert delivered == in_python, (scope, events)
                raise _Rollback
        except _Rollback:
            pass

    check()


@pytest.mark.django_db
def test_the_rule_keeps_its_promises(ids):
    """A few fixed points of the rule, so that both forms cannot agree on a wrong answer."""
    inbox, other = ids["inboxes"][:2]
    ci = next(c for c, i in ids["contact_inbox_of"].items() if i == inbox)
    me, someone = ids["users"][:2]
    member = OperatorScope(me, frozenset({inbox}))
    admin = OperatorScope(me, None)
    widget = WidgetScope(inbox, ci)

    def event(**fields):
        base = {"type": "message.created", "inbox_id": inbox, "contact_inbox_id": ci, "user_id": None,
                "audience": "everyone"}
        return Event(**{**base, **fields})

    assert member.sees(event()) and widget.sees(event())
    assert not member.sees(event(inbox_id=other)) and admin.sees(event(inbox_id=other))
    assert admin.sees(event(inbox_id=None)) and not member.sees(event(inbox_id=None))
    assert member.sees(event(user_id=me)) and not member.sees(event(user_id=someone))
    # Personal events reach their operator whatever their inboxes (an offer ended by a removal).
    assert member.sees(event(user_id=me, inbox_id=other)) and not member.sees(event(user_id=someone, inbox_id=other))
    assert OperatorScope(me, frozenset()).sees(event(user_id=me))
    assert not widget.sees(event(user_id=me))
    assert not widget.sees(event(audience="operators"))
    assert not widget.sees(event(type="assignee.changed"))
    assert widget.sees(event(type="presence.updated", contact_inbox_id=None))
    assert not widget.sees(event(contact_inbox_id=ids["contact_inboxes"][-1]))
