"""CSAT (chat/services/csat.py): the survey on resolve, on every path; the visitor's answer, once
per conversation, replaced within 24 h, refused after; scoping; two answers at once."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.errors import Conflict, InvalidData, NotFound
from chat.models import Conversation, CsatResponse, Message
from chat.services.conversations import conversation_set_status, conversation_toggle_status, conversation_update
from chat.services.csat import csat_submit, csat_summary
from chat.services.messages import message_create, visitor_message_send
from tests.concurrency import run_concurrently
from tests.factories import ContactInboxFactory, InboxFactory, UserFactory


def _visitor_conversation(inbox):
    visitor = ContactInboxFactory(inbox=inbox)
    message = visitor_message_send(contact_inbox_id=visitor.pk, content="Help please").message
    return visitor, Conversation.objects.get(pk=message.conversation_id)


def _surveys(conversation):
    return list(Message.objects.filter(conversation=conversation, content_type="input_csat"))


@pytest.fixture
def csat_inbox(db):
    return InboxFactory(csat_survey_enabled=True, enable_auto_assignment=False)


@pytest.mark.parametrize("resolve", [
    lambda c, u: conversation_set_status(conversation_id=c.pk, status="resolved", actor_user=u),
    lambda c, u: conversation_toggle_status(conversation_id=c.pk, actor_user=u),
    lambda c, u: conversation_update(conversation_id=c.pk, status="resolved", actor_user=u),
], ids=["set_status", "toggle", "update"])
def test_every_resolve_path_sends_one_survey_that_is_not_a_reply(csat_inbox, resolve):
    _visitor, conversation = _visitor_conversation(csat_inbox)
    operator = UserFactory()
    resolve(conversation, operator)
    (survey,) = _surveys(conversation)
    assert survey.direction == "outgoing" and survey.sender_user_id is None and not survey.private
    conversation.refresh_from_db()
    assert conversation.first_reply_created_at is None  # the survey is not an operator's first reply


def test_a_second_resolve_does_not_ask_again(csat_inbox):
    visitor, conversation = _visitor_conversation(csat_inbox)
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    visitor_message_send(contact_inbox_id=visitor.pk, content="One more thing")  # reopens
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    assert len(_surveys(conversation)) == 1


def test_no_survey_when_the_inbox_has_csat_off(db):
    _visitor, conversation = _visitor_conversation(InboxFactory(csat_survey_enabled=False))
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    assert _surveys(conversation) == []


def test_pending_or_snoozed_do_not_ask(csat_inbox):
    _visitor, conversation = _visitor_conversation(csat_inbox)
    conversation_set_status(conversation_id=conversation.pk, status="pending")
    conversation_set_status(conversation_id=conversation.pk, status="snoozed",
                            snoozed_until=timezone.now() + timedelta(hours=1))
    assert _surveys(conversation) == []


def test_answer_records_assignee_activity_line_and_the_survey_state(published):
    visitor, conversation = _visitor_conversation(InboxFactory(csat_survey_enabled=True, enable_auto_assignment=False))
    operator = UserFactory()
    Conversation.objects.filter(pk=conversation.pk).update(assignee=operator)
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    published.clear()
    answer = csat_submit(contact_inbox_id=visitor.pk, conversation_id=conversation.pk, rating=4, feedback=" Quick! ")
    assert answer.created
    row = CsatResponse.objects.get(conversation=conversation)
    assert (row.rating, row.feedback, row.assignee_id, row.contact_id) == (4, "Quick!", operator.pk, visitor.contact_id)
    assert csat_summary(conversation_id=conversation.pk) == {"rating": 4, "feedback": "Quick!"}
    (line,) = list(published.of_type("message.created"))
    assert line.audience == "operators" and line.payload["direction"] == "activity"
    assert "★★★★☆" in line.payload["content"] and "Quick!" in line.payload["content"]
    assert line.payload["content_attributes"] == {"csat": {"rating": 4, "feedback": "Quick!"}}
    (updated,) = published.of_type("message.updated")
    assert updated.audience == "everyone" and updated.payload["content_type"] == "input_csat"
    assert updated.payload["content_attributes"]["submitted"] == {"rating": 4, "feedback": "Quick!"}


def test_a_second_answer_within_24h_replaces_and_after_24h_is_refused(csat_inbox):
    visitor, conversation = _visitor_conversation(csat_inbox)
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    csat_submit(contact_inbox_id=visitor.pk, conversation_id=conversation.pk, rating=2)
    again = csat_submit(contact_inbox_id=visitor.pk, conversation_id=conversation.pk, rating=5, feedback="Fixed now")
    assert not again.created
    assert CsatResponse.objects.filter(conversation=conversation).count() == 1
    assert csat_summary(conversation_id=conversation.pk) == {"rating": 5, "feedback": "Fixed now"}
    CsatResponse.objects.filter(conversation=conversation).update(created_at=timezone.now() - timedelta(hours=25))
    with pytest.raises(Conflict, match="24 hours"):
        csat_submit(contact_inbox_id=visitor.pk, conversation_id=conversation.pk, rating=1)
    assert csat_summary(conversation_id=conversation.pk) == {"rating": 5, "feedback": "Fixed now"}


def test_only_the_conversations_own_visitor_may_answer(csat_inbox):
    _visitor, conversation = _visitor_conversation(csat_inbox)
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    stranger = ContactInboxFactory(inbox=csat_inbox)
    with pytest.raises(NotFound):
        csat_submit(contact_inbox_id=stranger.pk, conversation_id=conversation.pk, rating=5)
    with pytest.raises(NotFound):
        csat_submit(contact_inbox_id=stranger.pk, conversation_id=10**9, rating=5)
    assert not CsatResponse.objects.exists()


def test_no_answer_without_a_survey_or_with_csat_turned_off(csat_inbox):
    visitor, conversation = _visitor_conversation(csat_inbox)
    with pytest.raises(Conflict):  # open: never asked
        csat_submit(contact_inbox_id=visitor.pk, conversation_id=conversation.pk, rating=5)
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    csat_inbox.csat_survey_enabled = False
    csat_inbox.save(update_fields=["csat_survey_enabled"])
    with pytest.raises(Conflict):
        csat_submit(contact_inbox_id=visitor.pk, conversation_id=conversation.pk, rating=5)
    off_visitor, off_conversation = _visitor_conversation(InboxFactory())
    conversation_set_status(conversation_id=off_conversation.pk, status="resolved")
    with pytest.raises(Conflict):
        csat_submit(contact_inbox_id=off_visitor.pk, conversation_id=off_conversation.pk, rating=5)
    assert not CsatResponse.objects.exists()


@pytest.mark.parametrize(("field", "kwargs"), [
    ("rating", {"rating": 0}), ("rating", {"rating": 6}), ("rating", {"rating": True}),
    ("rating", {"rating": "5"}), ("rating", {"rating": 4.5}), ("rating", {"rating": None}),
    ("feedback", {"rating": 3, "feedback": "x" * 2001}), ("feedback", {"rating": 3, "feedback": "bad\x00text"}),
    ("feedback", {"rating": 3, "feedback": 12}), ("conversation_id", {"rating": 3, "conversation_id": "1"}),
])
def test_bad_input_is_refused_naming_the_field_and_stores_nothing(csat_inbox, field, kwargs):
    visitor, conversation = _visitor_conversation(csat_inbox)
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    with pytest.raises(InvalidData) as caught:
        csat_submit(contact_inbox_id=visitor.pk, **{"conversation_id": conversation.pk, **kwargs})
    assert field in caught.value.fields
    assert not CsatResponse.objects.exists()


def test_feedback_of_2000_characters_is_accepted(csat_inbox):
    visitor, conversation = _visitor_conversation(csat_inbox)
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    csat_submit(contact_inbox_id=visitor.pk, conversation_id=conversation.pk, rating=3, feedback="y" * 2000)
    assert len(CsatResponse.objects.get().feedback) == 2000


def test_the_survey_is_not_a_reply_even_when_the_operator_answers_later(csat_inbox):
    _visitor, conversation = _visitor_conversation(csat_inbox)
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    operator = UserFactory()
    message_create(conversation_id=conversation.pk, direction="outgoing", content="Anything else?", sender_user=operator)
    conversation.refresh_from_db()
    assert conversation.first_reply_created_at is not None  # the operator's message, not the survey


@pytest.mark.postgres
def test_two_answers_at_once_leave_one_row(transactional_db):
    inbox = InboxFactory(csat_survey_enabled=True, enable_auto_assignment=False)
    visitor, conversation = _visitor_conversation(inbox)
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    for _round in range(5):
        CsatResponse.objects.all().delete()
        results = run_concurrently(
            lambda i: csat_submit(contact_inbox_id=visitor.pk, conversation_id=conversation.pk, rating=i + 1), 4)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert sorted(r.created for r in results) == [False, False, False, True]
        assert CsatResponse.objects.filter(conversation=conversation).count() == 1
        assert CsatResponse.objects.get().rating in {1, 2, 3, 4}
