"""A removal from an inbox and an assignment to that operator at the same moment (PostgreSQL):
the assignment holds the member row until it commits (``inbox_member_hold``), so the removal
waits for it and then releases what it assigned. No conversation is left with a non-member."""
from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, connections, transaction

from assignment.services import assign_conversation
from chat.models import Conversation, Message, Role
from chat.services.inboxes import inbox_member_remove
from tests.factories import ContactInboxFactory, InboxFactory, InboxMemberFactory, UserFactory, make_conversation

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                       "AND datname = current_database()")
        return int(cursor.fetchone()[0])


def test_a_removal_waits_for_an_assignment_in_flight_and_releases_it():
    inbox = InboxFactory(enable_auto_assignment=False)
    ann = InboxMemberFactory(inbox=inbox).user
    boss = UserFactory(profile=Role.SUPERVISOR)
    InboxMemberFactory(inbox=inbox, user=boss)
    conversation = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
    assigned, may_commit, removed = threading.Event(), threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def assign_and_hold() -> None:
        try:
            with transaction.atomic():
                assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=boss)
                assigned.set()
                may_commit.wait(30)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
        finally:
            assigned.set()
            connections.close_all()

    def remove() -> None:
        try:
            inbox_member_remove(inbox=inbox, user_id=ann.pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            removed.set()
            connections.close_all()

    holder = threading.Thread(target=assign_and_hold)
    holder.start()
    assert assigned.wait(30) and not errors
    remover = threading.Thread(target=remove)
    remover.start()
    deadline = time.monotonic() + 10
    while lock_waiters() == 0:  # the removal is blocked on the member row the assignment holds
        assert not removed.is_set(), "the removal did not wait for the assignment in flight"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    may_commit.set()
    holder.join(30)
    remover.join(30)
    assert not errors, errors
    assert Conversation.objects.get(pk=conversation.pk).assignee_id is None
    lines = list(Message.objects.filter(conversation=conversation, direction="activity").order_by("id")
                 .values_list("content", flat=True))
    assert lines[0].startswith("Assigned to") and "was removed from the inbox" in lines[-1]


def test_an_assignment_after_a_removal_in_flight_is_refused():
    inbox = InboxFactory(enable_auto_assignment=False)
    ann = InboxMemberFactory(inbox=inbox).user
    boss = UserFactory(profile=Role.SUPERVISOR)
    InboxMemberFactory(inbox=inbox, user=boss)
    conversation = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
    started, may_commit = threading.Event(), threading.Event()

    def remove_and_hold() -> None:
        try:
            with transaction.atomic():
                inbox_member_remove(inbox=inbox, user_id=ann.pk)
                started.set()
                may_commit.wait(30)
        finally:
            started.set()
            connections.close_all()

    holder = threading.Thread(target=remove_and_hold)
    holder.start()
    assert started.wait(30)
    result: list[object] = []

    def assign() -> None:
        try:
            result.append(assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=boss))
        except Exception as exc:
            result.append(exc)
        finally:
            connections.close_all()

    assigner = threading.Thread(target=assign)
    assigner.start()
    deadline = time.monotonic() + 10
    while lock_waiters() == 0 and not result:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    may_commit.set()
    holder.join(30)
    assigner.join(30)
    assert len(result) == 1 and type(result[0]).__name__ == "InvalidData", result
    assert Conversation.objects.get(pk=conversation.pk).assignee_id is None
