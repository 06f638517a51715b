"""Message rules of DESIGN.md §5, by behaviour."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone

from chat.errors import (
    ContactBlocked,
    ContentTooLong,
    FloodLimited,
    InvalidAttachment,
    InvalidData,
    NotFound,
    TooManyAttachments,
)
from chat.models import Contact, Conversation, ConversationStatus, Event, Message, MessageDirection
from chat.services.conversations import conversation_set_status
from chat.services.messages import message_create, visitor_message_send
from tests.concurrency import run_concurrently
from tests.factories import ContactInboxFactory, InboxFactory, UserFactory, make_conversation

pytestmark = pytest.mark.django_db


def incoming(conversation, content="hello", **kwargs):
    return message_create(
        conversation_id=conversation.pk,
        direction=MessageDirection.INCOMING,
        content=content,
        sender_contact=conversation.contact,
        **kwargs,
    )


def reply(conversation, user, content="hi there", **kwargs):
    return message_create(
        conversation_id=conversation.pk, direction=MessageDirection.OUTGOING, content=content, sender_user=user, **kwargs
    )


def fresh(conversation) -> Conversation:
    return Conversation.objects.get(pk=conversation.pk)


def test_incoming_message_sets_waiting_since_once(published):
    conversation = make_conversation()
    incoming(conversation)
    first_wait = fresh(conversation).waiting_since
    assert first_wait is not None
    incoming(conversation, "anyone there?")
    assert fresh(conversation).waiting_since == first_wait


def test_incoming_message_updates_conversation_and_contact_activity():
    conversation = make_conversation()
    before = fresh(conversation).last_activity_at
    recorded = incoming(conversation)
    after = fresh(conversation)
    assert after.last_activity_at >= before
    assert after.last_activity_at >= recorded.message.created_at - timedelta(seconds=1)
    assert Contact.objects.get(pk=conversation.contact_id).last_activity_at is not None


def test_first_public_reply_sets_first_reply_and_clears_waiting(published):
    conversation = make_conversation()
    operator = UserFactory()
    incoming(conversation)
    recorded = reply(conversation, operator)
    after = fresh(conversation)
    assert after.first_reply_created_at == recorded.message.created_at
    assert after.waiting_since is None
    assert "first_reply.created" in published.types()
    assert "reply.created" not in published.types()


def test_second_reply_does_not_move_first_reply_time(published):
    conversation = make_conversation()
    operator = UserFactory()
    incoming(conversation)
    first = reply(conversation, operator).message
    incoming(conversation, "and another thing")
    assert fresh(conversation).waiting_since is not None
    reply(conversation, operator, "sure")
    after = fresh(conversation)
    assert after.first_reply_created_at == first.created_at
    assert after.waiting_since is None
    assert published.types().count("first_reply.created") == 1
    assert published.types().count("reply.created") == 1


def test_private_note_changes_neither_waiting_since_nor_first_reply(published):
    conversation = make_conversation()
    operator = UserFactory()
    incoming(conversation)
    waiting = fresh(conversation).waiting_since
    reply(conversation, operator, "internal: check the order", private=True)
    after = fresh(conversation)
    assert after.waiting_since == waiting
    assert after.first_reply_created_at is None
    assert "first_reply.created" not in published.types()
    note_event = published.of_type("message.created")[-1]
    assert note_event.audience == "operators" and note_event.payload["private"] is True


def test_public_messages_reach_everyone_and_activity_only_operators(published):
    conversation = make_conversation()
    incoming(conversation)
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.PENDING)
    created = published.of_type("message.created")
    assert [e.payload["direction"] for e in created] == ["incoming", "activity"]
    assert [e.audience for e in created] == ["everyone", "operators"]


@override_settings(FLOOD_LIMIT_MESSAGES=20)
def test_flood_limit_refuses_the_21st_message_in_a_minute_and_stores_nothing(published):
    conversation = make_conversation()
    for i in range(20):
        incoming(conversation, f"message {i}")
    events_before = Event.objects.count()
    published.clear()
    with pytest.raises(FloodLimited) as refused:
        incoming(conversation, "one too many")
    assert refused.value.code == "flood_limited"
    assert Message.objects.filter(conversation=conversation).count() == 20
    assert Event.objects.count() == events_before
    assert published == []


def test_flood_limit_counts_per_contact():
    first, second = make_conversation(), make_conversation()
    with override_settings(FLOOD_LIMIT_MESSAGES=2):
        incoming(first, "a")
        incoming(first, "b")
        incoming(second, "other contact is not limited")
        with pytest.raises(FloodLimited):
            incoming(first, "c")


def test_content_over_the_limit_is_refused_and_nothing_stored():
    conversation = make_conversation()
    with pytest.raises(ContentTooLong) as refused:
        incoming(conversation, "x" * 150_001)
    assert refused.value.code == "content_too_long"
    assert not Message.objects.filter(conversation=conversation).exists()
    assert incoming(conversation, "x" * 150_000).created


def test_more_than_15_attachments_is_refused():
    conversation = make_conversation()
    files = [SimpleUploadedFile(f"f{i}.txt", b"x", content_type="text/plain") for i in range(16)]
    with pytest.raises(TooManyAttachments) as refused:
        incoming(conversation, "files", attachments=files)
    assert refused.value.code == "too_many_attachments"
    assert not Message.objects.filter(conversation=conversation).exists()


def test_blank_message_without_attachment_is_invalid():
    conversation = make_conversation()
    with pytest.raises(InvalidData):
        incoming(conversation, "   ")


def test_blocked_contact_is_refused_and_nothing_stored():
    conversation = make_conversation()
    Contact.objects.filter(pk=conversation.contact_id).update(blocked=True)
    conversation.contact.refresh_from_db()
    with pytest.raises(ContactBlocked) as refused:
        incoming(conversation)
    assert refused.value.code == "contact_blocked"
    with pytest.raises(ContactBlocked):
        visitor_message_send(contact_inbox_id=conversation.contact_inbox_id, content="hi")
    assert not Message.objects.exists()


def test_unknown_conversation_is_not_found():
    operator = UserFactory()
    with pytest.raises(NotFound):
        message_create(conversation_id=999_999, direction=MessageDirection.OUTGOING, content="x", sender_user=operator)


def test_duplicate_source_id_returns_the_existing_message(published):
    conversation = make_conversation()
    first = incoming(conversation, "from email", source_id="mail-1")
    again = incoming(conversation, "from email (retry)", source_id="mail-1")
    assert first.created and not again.created
    assert again.message.pk == first.message.pk
    assert Message.objects.filter(conversation=conversation).count() == 1
    assert published.types().count("message.created") == 1


def test_duplicate_echo_id_from_the_same_sender_returns_the_existing_message():
    conversation = make_conversation()
    operator, other = UserFactory(), UserFactory()
    first = reply(conversation, operator, echo_id="e-1")
    again = reply(conversation, operator, echo_id="e-1")
    assert not again.created and again.message.pk == first.message.pk
    # Another sender's client may pick the same echo id: that is a different message.
    assert reply(conversation, other, echo_id="e-1").created


def test_incoming_message_reopens_a_resolved_conversation(published):
    conversation = make_conversation()
    conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED)
    published.clear()
    incoming(conversation, "one more question")
    assert fresh(conversation).status == ConversationStatus.OPEN
    assert "conversation.status_changed" in published.types()


def test_incoming_message_reopens_a_snoozed_conversation():
    conversation = make_conversation()
    conversation_set_status(
        conversation_id=conversation.pk,
        status=ConversationStatus.SNOOZED,
        snoozed_until=timezone.now() + timedelta(hours=2),
    )
    incoming(conversation, "hello again")
    after = fresh(conversation)
    assert after.status == ConversationStatus.OPEN and after.snoozed_until is None


def test_widget_first_message_creates_the_conversation_before_the_message(published):
    contact_inbox = ContactInboxFactory()
    recorded = visitor_message_send(contact_inbox_id=contact_inbox.pk, content="hi", echo_id="w-1")
    assert recorded.created
    assert published.types()[:2] == ["conversation.created", "message.created"]
    assert recorded.message.conversation.contact_inbox_id == contact_inbox.pk
    repeat = visitor_message_send(contact_inbox_id=contact_inbox.pk, content="hi", echo_id="w-1")
    assert not repeat.created and repeat.message.pk == recorded.message.pk
    assert Conversation.objects.filter(contact_inbox=contact_inbox).count() == 1


def test_inbox_may_start_a_new_conversation_instead_of_reopening():
    inbox = InboxFactory(reopen_resolved_conversations=False)
    contact_inbox = ContactInboxFactory(inbox=inbox)
    first = visitor_message_send(contact_inbox_id=contact_inbox.pk, content="hi").message.conversation
    conversation_set_status(conversation_id=first.pk, status=ConversationStatus.RESOLVED)
    second = visitor_message_send(contact_inbox_id=contact_inbox.pk, content="new topic").message.conversation
    assert second.pk != first.pk
    assert fresh(first).status == ConversationStatus.RESOLVED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_source_id_stores_one_message():
    conversation = make_conversation()

    def send(_: int):
        return incoming(conversation, "same email", source_id="mail-42")

    results = run_concurrently(send, 8)
    assert not [r for r in results if isinstance(r, Exception)]
    assert Message.objects.filter(conversation=conversation, source_id="mail-42").count() == 1
    assert sum(1 for r in results if r.created) == 1
    assert len({r.message.pk for r in results}) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_widget_messages_start_one_conversation():
    contact_inbox = ContactInboxFactory()

    def send(i: int):
        return visitor_message_send(contact_inbox_id=contact_inbox.pk, content=f"hello {i}", echo_id=f"e{i}")

    results = run_concurrently(send, 6)
    assert not [r for r in results if isinstance(r, Exception)]
    assert Conversation.objects.filter(contact_inbox=contact_inbox).count() == 1
    assert Message.objects.filter(conversation__contact_inbox=contact_inbox).count() == 6


@pytest.mark.parametrize("content_type", ["image/png\r\nX: 1", "image/" + "p" * 120, "image/png\x00", "", "image/svg+xml"])
def test_the_message_service_owns_the_attachment_policy(content_type):
    """Whatever transport decoded the file, message_create refuses what the policy refuses."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from chat.models import Attachment

    conversation = make_conversation()
    upload = SimpleUploadedFile("a.png", b"png", content_type=content_type)
    with pytest.raises(InvalidAttachment):
        incoming(conversation, "file", attachments=[upload])
    assert Attachment.objects.count() == 0
