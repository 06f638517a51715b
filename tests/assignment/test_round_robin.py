"""The rotation, the rate limiter and the auto-assign service (no reactions: plain django_db,
so nothing runs after commit and each test drives the service itself)."""
from __future__ import annotations

from collections import Counter

import pytest

from assignment.rate_limiter import AssignmentRateLimiter
from assignment.round_robin import InboxRoundRobinService
from assignment.services import Outcome, auto_assign_conversation, auto_assign_once
from chat.models import Availability, Conversation, ConversationStatus, InboxMember
from chat.store import get_store
from tests.factories import ContactInboxFactory, InboxMemberFactory, UserFactory, make_conversation
from tests.presence.helpers import T0, auto_inbox, connect, operators, set_availability

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock_at_t0")]


def new_conversations(inbox, count):
    return [make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox)) for _ in range(count)]


def assign_all(conversations, *, now=T0):
    return [auto_assign_conversation(conversation_id=c.pk, now=now) for c in conversations]


def assignees(results):
    return [r.assignee_id if r is not None else None for r in results]


def test_round_robin_order_over_many_picks(tracker):
    inbox = auto_inbox()
    ops = operators(inbox, 4)
    connect(tracker, *ops)
    results = assign_all(new_conversations(inbox, 12))
    ids = [op.pk for op in ops]
    assert assignees(results) == ids * 3


def test_rotation_skips_offline_busy_full_and_rate_limited(tracker):
    inbox = auto_inbox(max_assignment_limit=2, assignment_rate_limit=3)
    online, busy, offline, full, limited = operators(inbox, 5)
    connect(tracker, online, busy, full, limited)
    set_availability(busy, Availability.BUSY)
    tracker.reconcile(busy.pk, now=T0)
    Conversation.objects.filter(pk__in=[c.pk for c in new_conversations(inbox, 2)]).update(assignee=full)
    limiter = AssignmentRateLimiter(inbox)
    for i in range(3):
        assert limiter.record(limited.pk, token=f"x{i}", now=T0 - 1)
    results = assign_all(new_conversations(inbox, 2))
    assert assignees(results) == [online.pk, online.pk]
    # online is now at capacity (2): nobody is left, the next one waits.
    waiting = new_conversations(inbox, 1)[0]
    assert auto_assign_once(conversation_id=waiting.pk, now=T0)[0] == Outcome.NO_OPERATOR
    assert Conversation.objects.get(pk=waiting.pk).assignee_id is None


def test_busy_operator_gets_nothing_new(tracker):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, bob)
    set_availability(bob, Availability.BUSY)
    tracker.reconcile(bob.pk, now=T0)
    assert set(assignees(assign_all(new_conversations(inbox, 5)))) == {ann.pk}


def test_offline_and_expired_operators_are_skipped(tracker):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, now=T0)
    connect(tracker, bob, now=T0 - 100)  # bob's process died: his socket is past the TTL
    assert set(assignees(assign_all(new_conversations(inbox, 3)))) == {ann.pk}


def test_queue_is_rebuilt_after_a_member_change(tracker):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, bob)
    service = InboxRoundRobinService(inbox)
    assert service.queue() == [ann.pk, bob.pk]
    carl = UserFactory()
    InboxMemberFactory(inbox=inbox, user=carl)
    connect(tracker, carl)
    assert service.queue() == [carl.pk, ann.pk, bob.pk]
    assert assignees(assign_all(new_conversations(inbox, 1))) == [carl.pk]
    InboxMember.objects.filter(inbox=inbox, user=ann).delete()
    assert service.queue() == [bob.pk, carl.pk]
    assert assignees(assign_all(new_conversations(inbox, 2))) == [bob.pk, carl.pk]


def test_queue_is_rebuilt_after_the_store_keys_vanish(tracker):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, bob)
    assert assignees(assign_all(new_conversations(inbox, 1))) == [ann.pk]
    get_store().delete(InboxRoundRobinService(inbox).key)
    assert InboxRoundRobinService(inbox).queue() == [ann.pk, bob.pk]
    assert len(assignees(assign_all(new_conversations(inbox, 2)))) == 2


def test_eleventh_assignment_in_the_window_goes_to_someone_else_or_waits(tracker):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann)
    results = assign_all(new_conversations(inbox, 10), now=T0)
    assert assignees(results) == [ann.pk] * 10
    eleventh = new_conversations(inbox, 1)[0]
    assert auto_assign_once(conversation_id=eleventh.pk, now=T0 + 30)[0] == Outcome.NO_OPERATOR  # waits
    connect(tracker, bob, now=T0 + 30)
    assert auto_assign_conversation(conversation_id=eleventh.pk, now=T0 + 30).assignee_id == bob.pk
    # The window slides: 60 s after the first ten, ann takes new ones again.
    connect(tracker, ann, now=T0 + 61)
    tracker.set_offline(user_id=bob.pk, socket_id=f"{bob.pk}-tab1", now=T0 + 31)
    twelfth = new_conversations(inbox, 1)[0]
    assert auto_assign_conversation(conversation_id=twelfth.pk, now=T0 + 61).assignee_id == ann.pk


def test_rate_limiter_window_slides_and_honours_the_inbox_override():
    inbox = auto_inbox(assignment_rate_limit=3)
    limiter = AssignmentRateLimiter(inbox)
    assert limiter.limit == 3 and limiter.window == 60
    assert [limiter.record(1, token=f"t{i}", now=T0 + i) for i in range(4)] == [True, True, True, False]
    assert limiter.count(1, now=T0 + 3) == 3
    assert not limiter.allowed(1, now=T0 + 59)
    assert limiter.allowed(1, now=T0 + 60.5)  # the first entry left the window
    assert limiter.count(2, now=T0) == 0
    assert AssignmentRateLimiter(auto_inbox()).limit == 10


def test_not_eligible_conversations_are_left_alone(tracker):
    inbox = auto_inbox()
    (ann,) = operators(inbox, 1)
    connect(tracker, ann)
    resolved, assigned = new_conversations(inbox, 2)
    Conversation.objects.filter(pk=resolved.pk).update(status=ConversationStatus.RESOLVED)
    Conversation.objects.filter(pk=assigned.pk).update(assignee=UserFactory())
    assert auto_assign_once(conversation_id=resolved.pk, now=T0)[0] == Outcome.NOT_ELIGIBLE
    assert auto_assign_once(conversation_id=assigned.pk, now=T0)[0] == Outcome.NOT_ELIGIBLE
    manual_inbox = auto_inbox(enable_auto_assignment=False)
    InboxMemberFactory(inbox=manual_inbox, user=ann)
    conversation = new_conversations(manual_inbox, 1)[0]
    assert auto_assign_conversation(conversation_id=conversation.pk, now=T0) is None


def test_fairness_with_many_operators_over_many_picks(tracker):
    inbox = auto_inbox(assignment_rate_limit=1000)
    ops = operators(inbox, 7)
    connect(tracker, *ops)
    counts = Counter(assignees(assign_all(new_conversations(inbox, 70))))
    assert set(counts.values()) == {10}


def test_deactivated_operators_are_skipped(tracker):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    connect(tracker, ann, bob)
    type(bob).objects.filter(pk=bob.pk).update(is_active=False)
    assert set(assignees(assign_all(new_conversations(inbox, 3)))) == {ann.pk}
