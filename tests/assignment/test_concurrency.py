"""Under any concurrency no conversation is assigned twice and no operator exceeds capacity."""
from __future__ import annotations

import time
from collections import Counter

import pytest
from django.core.management import call_command
from django.db.models import Count

from assignment.services import assign_conversation, auto_assign_conversation
from assignment.worker import presence_tick, release_tick, run_tick
from chat.errors import Conflict
from chat.models import Conversation, Event, Message, MessageDirection, Role
from presence.models import OperatorPresence
from tests.factories import ContactInboxFactory, make_conversation
from tests.presence.helpers import auto_inbox, connect, operators, run_concurrently

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_200_conversations_at_once_fill_10_operators_to_exactly_20_each(tracker):
    inbox = auto_inbox(max_assignment_limit=20, assignment_rate_limit=1000)
    ops = operators(inbox, 10)
    connect(tracker, *ops, now=time.time())
    contact_inboxes = [ContactInboxFactory(inbox=inbox) for _ in range(200)]
    threads = 8

    def create(index: int) -> list[int]:
        # Each creation commits, then its conversation.created triggers auto-assignment in
        # this thread, racing the other threads' assignments.
        return [make_conversation(contact_inbox=ci).pk for ci in contact_inboxes[index::threads]]

    results = run_concurrently(create, threads)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    loads = Counter(Conversation.objects.filter(inbox=inbox).values_list("assignee_id", flat=True))
    assert loads == {op.pk: 20 for op in ops}
    twice = (
        Event.objects.filter(type="assignee.changed", inbox=inbox)
        .values("conversation_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert list(twice) == []
    assert Message.objects.filter(conversation__inbox=inbox, direction=MessageDirection.ACTIVITY).count() == 200


def test_concurrent_auto_assign_of_the_same_conversations_assigns_each_once(tracker):
    inbox = auto_inbox(max_assignment_limit=3, assignment_rate_limit=1000, enable_auto_assignment=False)
    ops = operators(inbox, 4)
    connect(tracker, *ops, now=time.time())
    conversations = [make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox)) for _ in range(15)]
    type(inbox).objects.filter(pk=inbox.pk).update(enable_auto_assignment=True)

    def assign_all(index: int) -> int:
        return sum(auto_assign_conversation(conversation_id=c.pk) is not None for c in conversations)

    results = run_concurrently(assign_all, 6)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(results) == 12  # 4 operators × capacity 3; 3 conversations wait
    loads = Counter(Conversation.objects.filter(inbox=inbox).values_list("assignee_id", flat=True))
    assert loads == {**{op.pk: 3 for op in ops}, None: 3}
    assert Event.objects.filter(type="assignee.changed", inbox=inbox).count() == 12


def test_manual_assignments_racing_for_the_last_slot_admit_one(tracker):
    inbox = auto_inbox(max_assignment_limit=1, enable_auto_assignment=False)
    (ann,) = operators(inbox, 1)
    supervisors = operators(inbox, 5, role=Role.SUPERVISOR)
    conversations = [make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox)) for _ in range(5)]

    def assign(index: int):
        return assign_conversation(conversation_id=conversations[index].pk, assignee_id=ann.pk, actor=supervisors[index])

    results = run_concurrently(assign, 5)
    assert sum(isinstance(r, Conflict) for r in results) == 4
    assert Conversation.objects.filter(assignee=ann).count() == 1


def test_worker_ticks_running_at_once_publish_and_release_once(tracker, settings):
    inbox = auto_inbox()
    ann, bob = operators(inbox, 2)
    t = time.time()
    connect(tracker, ann, now=t)
    conversations = [make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox)) for _ in range(3)]
    tracker.set_offline(user_id=ann.pk, socket_id=f"{ann.pk}-tab1", now=t)
    results = run_concurrently(lambda i: presence_tick(now=t + 6), 4)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(len(r) for r in results) == 1
    assert Event.objects.filter(type="presence.updated", payload__user_id=ann.pk, payload__status="offline").count() == 1
    later = t + 6 + settings.ASSIGNMENT_RELEASE_DELAY_SECONDS + 1
    results = run_concurrently(lambda i: release_tick(now=later), 4)
    assert not [r for r in results if isinstance(r, Exception)]
    assert sorted(c for r in results for c in r) == sorted(c.pk for c in conversations)
    assert Event.objects.filter(type="assignee.changed", payload__assignee=None).count() == 3
    assert OperatorPresence.objects.get(user=ann).status == "offline"


def test_run_tick_and_the_command_run_every_task(tracker):
    results = run_concurrently(lambda i: run_tick(interval=5), 2)
    assert not [r for r in results if isinstance(r, Exception)]
    # The store lock lets one worker run each task per tick; the other skips it.
    for name in results[0]:
        assert sorted([results[0][name] == "skipped", results[1][name] == "skipped"]) == [False, True]
    call_command("chat_worker", "--once")



def test_rolling_back_the_savepoint_releases_the_operator_lock():
    """What keeps assigners deadlock-free: a transaction that found an operator full no longer
    holds that operator's lock while it goes on to the next one."""
    import threading

    from django.contrib.auth import get_user_model
    from django.db import connections, transaction

    from assignment.engine import lock_operator
    from tests.factories import UserFactory

    user = UserFactory()
    locked, checked = threading.Event(), threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                savepoint = transaction.savepoint()
                lock_operator(user.pk)
                transaction.savepoint_rollback(savepoint)
                locked.set()
                checked.wait(timeout=30)  # the outer transaction stays open meanwhile
        finally:
            connections.close_all()

    thread = threading.Thread(target=holder)
    thread.start()
    assert locked.wait(timeout=30)
    try:
        with transaction.atomic():
            rows = list(get_user_model().objects.select_for_update(nowait=True).filter(pk=user.pk))
        assert len(rows) == 1  # NOWAIT did not raise: the lock was released
    finally:
        checked.set()
        thread.join(timeout=30)
