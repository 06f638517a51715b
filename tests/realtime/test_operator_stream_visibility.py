"""The conversation-narrowed operator rule (the operator stream's scope) has the same two forms
as the others: the outbox query and the hub's predicate agree, and the hub delivers exactly
that; it is the operator rule with one more condition (chat/selectors/event_visibility.py)."""
from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chat.event_types import EventType
from chat.models import Audience, Event
from chat.realtime.hub import QueueSink, StreamHub
from chat.realtime.scopes import OperatorScope
from tests.factories import ContactInboxFactory, InboxFactory, UserFactory, make_conversation


class _Rollback(Exception):
    pass


@pytest.fixture
def ids(db):
    inboxes = [InboxFactory() for _ in range(2)]
    conversations = [make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox)) for inbox in inboxes
                     for _ in range(2)]
    users = [UserFactory() for _ in range(3)]
    return {"inboxes": [i.pk for i in inboxes], "users": [u.pk for u in users],
            "conversations": {c.pk: c.inbox_id for c in conversations}}


@pytest.mark.django_db
def test_narrowed_rule_forms_and_hub_agree(ids):
    conversation_ids = sorted(ids["conversations"])
    events = st.lists(st.fixed_dictionaries({
        "type": st.sampled_from([str(t) for t in EventType]),
        "audience": st.sampled_from([str(Audience.OPERATORS), str(Audience.EVERYONE)]),
        "user_id": st.none() | st.sampled_from(ids["users"]),
        "conversation_id": st.none() | st.sampled_from(conversation_ids),
    }), min_size=1, max_size=25)
    scopes = st.lists(st.builds(
        lambda user_id, conversation_id, admin: OperatorScope(
            user_id, None if admin else frozenset({ids["conversations"][conversation_id]}),
            conversation_id=conversation_id),
        user_id=st.sampled_from(ids["users"]), conversation_id=st.sampled_from(conversation_ids),
        admin=st.booleans(),
    ), min_size=1, max_size=5)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(events=events, scopes=scopes)
    def check(events, scopes):
        try:
            with transaction.atomic():
                rows = Event.objects.bulk_create([
                    Event(payload={}, inbox_id=ids["conversations"].get(e["conversation_id"]), **e) for e in events
                ])
                all_ids = [row.id for row in rows]
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
                    # Written out: this conversation's events, not someone else's personal ones.
                    promised = [row.id for row in rows if row.conversation_id == scope.conversation_id
                                and row.user_id in (None, scope.user_id)]
                    assert in_sql == in_python == promised, (scope, events)
                    assert [event_id for event_id, _ in sink.take()] == promised
                raise _Rollback
        except _Rollback:
            pass

    check()
