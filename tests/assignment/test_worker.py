"""Worker tasks as plain functions with an injectable clock."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from assignment.worker import prune_events_tick, run_tick
from chat.models import Event

pytestmark = pytest.mark.django_db


def test_old_events_are_pruned_after_the_retention(settings):
    settings.EVENT_RETENTION_HOURS = 72
    old = Event.objects.create(type="presence.updated", payload={})
    recent = Event.objects.create(type="presence.updated", payload={})
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=73))
    Event.objects.filter(pk=recent.pk).update(created_at=timezone.now() - timedelta(hours=71))
    assert prune_events_tick(now=time.time(), batch=1) == 1
    assert list(Event.objects.values_list("pk", flat=True)) == [recent.pk]
    assert prune_events_tick(now=time.time() + 3600 * 2) == 1


def test_a_separate_worker_does_not_judge_presence_on_an_in_process_store(settings):
    settings.SHARED_STORE = {"BACKEND": "memory", "PREFIX": "x"}
    assert run_tick(exclusive=False)["presence"].startswith("skipped")
    assert run_tick(exclusive=False, in_process=True)["presence"] == {}


def test_the_command_runs_one_tick(capsys):
    call_command("chat_worker", "--once")
    out = capsys.readouterr().out
    for task in ("presence", "release", "snooze", "waiting", "prune_events"):
        assert f"{task}:" in out


def test_the_snooze_tick_never_wakes_a_snooze_until_the_next_reply():
    from assignment.worker import snooze_tick
    from chat.models import Conversation, ConversationStatus
    from chat.services.conversations import conversation_set_status
    from tests.factories import make_conversation

    until_reply, timed = make_conversation(), make_conversation()
    conversation_set_status(conversation_id=until_reply.pk, status=ConversationStatus.SNOOZED)
    conversation_set_status(conversation_id=timed.pk, status=ConversationStatus.SNOOZED,
                            snoozed_until=timezone.now() + timedelta(minutes=5))
    assert snooze_tick(now=time.time() + 10 * 365 * 86400) == [timed.pk]
    assert Conversation.objects.get(pk=until_reply.pk).status == ConversationStatus.SNOOZED
