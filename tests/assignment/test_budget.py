"""Auto-assignment's budget (docs/benchmarks.md, "Assignment"): what one auto-assignment costs
in SQL, counted through the real service with real commits (the reactions after it included).

One auto-assignment to an operator online in an inbox of five: one transaction of at most
``IN_TRANSACTION`` statements (the conversation's lock, its pending offer, the members and their
presence, the operator's lock with their profile, the membership hold, the write, the activity
line, the conversation as it now is, its three events in one statement), one more with a
capacity (the candidates' loads, the chosen operator's recount), and at most one after the
commit (the ring's "offer still pending?" check). Speed is measured in bench/assignment.py,
never here: these count work.
"""
from __future__ import annotations

import pytest

from assignment.services import auto_assign_conversation
from chat.events import EventType
from chat.models import Conversation, Event, Inbox
from chat.services.labels import conversation_set_labels, label_create
from tests.factories import ContactInboxFactory, make_conversation
from tests.presence.helpers import auto_inbox, connect, operators
from tests.sqlcount import SqlCount

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("clock_at_t0")]

# The same on PostgreSQL and SQLite (the embedded mode): the SQL differs, not the count.
IN_TRANSACTION = 10
WITH_CAPACITY = 12
AFTER_COMMIT = 1


def waiting(inbox, count):
    """Unassigned open conversations, created while the inbox did not auto-assign."""
    Inbox.objects.filter(pk=inbox.pk).update(enable_auto_assignment=False)
    conversations = [make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox)) for _ in range(count)]
    Inbox.objects.filter(pk=inbox.pk).update(enable_auto_assignment=True)
    return conversations


@pytest.mark.parametrize("capacity", [None, 20])
def test_auto_assignment_within_budget(tracker, capacity):
    inbox = auto_inbox(max_assignment_limit=capacity)
    ops = operators(inbox, 5)
    connect(tracker, *ops)
    first, second = waiting(inbox, 2)
    assert auto_assign_conversation(conversation_id=first.pk) is not None  # warm-up (feature checks)
    events_before = Event.objects.count()
    with SqlCount() as sql:
        assigned = auto_assign_conversation(conversation_id=second.pk)
    assert assigned is not None and assigned.assignee_id in {op.pk for op in ops}
    inside = [s for s in sql.statements if s.in_transaction]
    budget = IN_TRANSACTION if capacity is None else WITH_CAPACITY
    assert len(inside) <= budget, sql.describe()
    assert len(sql.statements) - len(inside) <= AFTER_COMMIT, sql.describe()
    assert sql.commits == 1 and sql.rollbacks == 0, sql.describe()
    # Three events, written in one statement.
    assert Event.objects.count() == events_before + 3
    assert sum(1 for s in sql.sql() if "chat_event" in s and ("INSERT" in s or "chat_event_insert" in s)) == 1, \
        sql.describe()
    assert Conversation.objects.get(pk=second.pk).assignee_id == assigned.assignee_id


def test_auto_assignment_events_in_order_with_the_conversation_as_it_is(tracker, published):
    """The payloads read nothing stale: the conversation's labels, the assignee's name (read
    with their lock), the activity line naming them."""
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    ann.operator_profile.display_name = "Ann"
    ann.operator_profile.save()
    connect(tracker, ann)
    (conversation,) = waiting(inbox, 1)
    for name in ("vip", "refund"):
        label_create(name=name)
    conversation_set_labels(conversation_id=conversation.pk, labels=["vip", "refund"])
    published.clear()
    auto_assign_conversation(conversation_id=conversation.pk)
    mine = [e for e in published if e.conversation_id == conversation.pk]
    assert [e.type for e in mine][:3] == [EventType.MESSAGE_CREATED, EventType.ASSIGNEE_CHANGED,
                                         EventType.CONVERSATION_UPDATED]
    assert mine[0].id < mine[1].id < mine[2].id
    assert "Ann" in mine[0].payload["content"]
    assert mine[1].payload == {"assignee": {"id": ann.pk, "name": "Ann", "username": ann.username}}
    updated = mine[2].payload
    assert updated["assignee"]["id"] == ann.pk and updated["labels"] == ["refund", "vip"]
    assert updated["contact"]["id"] == conversation.contact_id
