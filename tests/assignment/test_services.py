"""Manual assignment rules, escalation, events and activity lines."""
from __future__ import annotations

import pytest

from assignment.services import assign_conversation, escalate_conversation
from chat.errors import Conflict, InvalidData, NotFound, PermissionDenied
from chat.models import Conversation, Message, MessageDirection, Role
from tests.factories import ContactInboxFactory, UserFactory, make_conversation
from tests.presence.helpers import T0, auto_inbox, connect, operators

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clock_at_t0")]


@pytest.fixture
def setup():
    inbox = auto_inbox(enable_auto_assignment=False)
    ann, bob = operators(inbox, 2)
    (sue,) = operators(inbox, 1, role=Role.SUPERVISOR)
    for user, name in ((ann, "Ann"), (bob, "Bob"), (sue, "Sue")):
        user.operator_profile.display_name = name
        user.operator_profile.save()
    conversation = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
    return inbox, ann, bob, sue, conversation


def activities(conversation):
    return list(
        Message.objects.filter(conversation=conversation, direction=MessageDirection.ACTIVITY)
        .order_by("id")
        .values_list("content", flat=True)
    )


def test_agent_takes_an_unassigned_conversation_and_releases_it(setup, published):
    inbox, ann, bob, sue, conversation = setup
    result = assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=ann)
    assert result.assignee_id == ann.pk
    changed = published.of_type("assignee.changed")
    assert [e.payload["assignee"]["id"] for e in changed] == [ann.pk]
    assert changed[0].audience == "operators" and changed[0].conversation_id == conversation.pk
    assert published.of_type("conversation.updated")[-1].payload["assignee"]["id"] == ann.pk
    assign_conversation(conversation_id=conversation.pk, assignee_id=None, actor=ann)
    assert published.of_type("assignee.changed")[-1].payload == {"assignee": None}
    assert activities(conversation) == ["Assigned to Ann by Ann", "Conversation unassigned by Ann"]


def test_agent_may_not_assign_others_nor_take_or_release_theirs(setup):
    inbox, ann, bob, sue, conversation = setup
    with pytest.raises(PermissionDenied):
        assign_conversation(conversation_id=conversation.pk, assignee_id=bob.pk, actor=ann)
    assign_conversation(conversation_id=conversation.pk, assignee_id=bob.pk, actor=sue)
    with pytest.raises(PermissionDenied):
        assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=ann)
    with pytest.raises(PermissionDenied):
        assign_conversation(conversation_id=conversation.pk, assignee_id=None, actor=ann)
    assert Conversation.objects.get(pk=conversation.pk).assignee_id == bob.pk


def test_supervisor_and_administrator_assign_any_member(setup):
    inbox, ann, bob, sue, conversation = setup
    assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=sue)
    assign_conversation(conversation_id=conversation.pk, assignee_id=bob.pk, actor=sue)
    admin = UserFactory(profile=Role.ADMINISTRATOR)  # not a member: administrators see every inbox
    assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=admin)
    root = UserFactory(is_superuser=True)
    assign_conversation(conversation_id=conversation.pk, assignee_id=None, actor=root)
    assert activities(conversation)[-3:] == [
        "Assigned to Bob by Sue",
        f"Assigned to Ann by {admin.operator_profile.display_name}",
        f"Conversation unassigned by {root.operator_profile.display_name}",
    ]


def test_assignee_must_be_a_member_and_actor_must_see_the_conversation(setup):
    inbox, ann, bob, sue, conversation = setup
    outsider = UserFactory(profile=Role.SUPERVISOR)
    with pytest.raises(InvalidData):
        assign_conversation(conversation_id=conversation.pk, assignee_id=outsider.pk, actor=sue)
    with pytest.raises(InvalidData):
        assign_conversation(conversation_id=conversation.pk, assignee_id=999999, actor=sue)
    with pytest.raises(NotFound):
        assign_conversation(conversation_id=conversation.pk, assignee_id=outsider.pk, actor=outsider)
    with pytest.raises(NotFound):
        assign_conversation(conversation_id=999999, assignee_id=ann.pk, actor=sue)
    with pytest.raises(InvalidData):
        assign_conversation(conversation_id=conversation.pk, assignee_id="1", actor=sue)
    with pytest.raises(PermissionDenied):
        assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=None)


def test_manual_assignment_respects_capacity(setup):
    inbox, ann, bob, sue, conversation = setup
    inbox.max_assignment_limit = 1
    inbox.save()
    assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=sue)
    second = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
    with pytest.raises(Conflict):
        assign_conversation(conversation_id=second.pk, assignee_id=ann.pk, actor=sue)


def test_assigning_the_same_assignee_again_changes_nothing(setup, published):
    inbox, ann, bob, sue, conversation = setup
    assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=sue)
    before = len(published)
    assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=sue)
    assert published[before:] == []
    assert len(activities(conversation)) == 1


def test_escalation_picks_an_available_supervisor_of_the_branch_in_turn(tracker, setup):
    inbox, ann, bob, sue, conversation = setup
    sue.operator_profile.branches.add(inbox.branch)
    tom = UserFactory(profile=Role.SUPERVISOR)
    tom.operator_profile.branches.add(inbox.branch)
    elsewhere = UserFactory(profile=Role.SUPERVISOR)  # another branch's supervisor
    connect(tracker, ann, sue, tom, elsewhere, now=T0)
    assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=ann)
    result = escalate_conversation(conversation_id=conversation.pk, actor=ann, now=T0)
    assert result.priority == "urgent"
    assert result.assignee_id == sue.pk
    assert activities(conversation)[-1] == "Conversation was escalated by Ann and assigned to Sue"
    other = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
    assert escalate_conversation(conversation_id=other.pk, actor=None, now=T0).assignee_id == tom.pk


def test_escalation_without_an_available_supervisor_keeps_the_assignee(tracker, setup):
    inbox, ann, bob, sue, conversation = setup
    sue.operator_profile.branches.add(inbox.branch)  # but sue is not connected
    assign_conversation(conversation_id=conversation.pk, assignee_id=ann.pk, actor=ann)
    result = escalate_conversation(conversation_id=conversation.pk, actor=ann, now=T0)
    assert (result.priority, result.assignee_id) == ("urgent", ann.pk)
    assert activities(conversation)[-1] == "Conversation was escalated by Ann; no supervisor is available"


def test_escalation_is_refused_to_who_cannot_see_the_conversation(setup):
    inbox, ann, bob, sue, conversation = setup
    with pytest.raises(NotFound):
        escalate_conversation(conversation_id=conversation.pk, actor=UserFactory())


def test_escalation_emits_events(tracker, setup, published):
    inbox, ann, bob, sue, conversation = setup
    sue.operator_profile.branches.add(inbox.branch)
    connect(tracker, sue, now=T0)
    escalate_conversation(conversation_id=conversation.pk, actor=bob, now=T0)
    assert [e.payload["assignee"]["id"] for e in published.of_type("assignee.changed")] == [sue.pk]
    assert published.of_type("conversation.updated")[-1].payload["priority"] == "urgent"
    assert published.of_type("message.created")[-1].payload["direction"] == "activity"


def test_waiting_conversations_are_served_oldest_waiting_first_then_oldest_created():
    from datetime import UTC, datetime, timedelta

    from assignment.services import waiting_conversation_ids

    inbox = auto_inbox()
    t = datetime(2026, 1, 1, tzinfo=UTC)
    rows = {  # name: (waiting_since, created_at)
        "never written, newer": (None, t),
        "waiting since +5": (t + timedelta(minutes=5), t),
        "waiting since +1": (t + timedelta(minutes=1), t + timedelta(minutes=1)),
        "never written, older": (None, t - timedelta(minutes=1)),
    }
    ids = {}
    for name, (waiting_since, created_at) in rows.items():
        conversation = make_conversation(contact_inbox=ContactInboxFactory(inbox=inbox))
        Conversation.objects.filter(pk=conversation.pk).update(waiting_since=waiting_since, created_at=created_at)
        ids[conversation.pk] = name
    assert [ids[i] for i in waiting_conversation_ids(inbox_id=inbox.pk)] == [
        "waiting since +1", "waiting since +5", "never written, older", "never written, newer"]
