"""Deleting a message (DESIGN §11): who may, what stays, what goes, which events."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from chat.errors import NotFound, PermissionDenied
from chat.models import Attachment, Event, Message, MessageDirection
from chat.services.conversations import conversation_set_status
from chat.services.message_delete import message_delete, message_delete_allowed
from tests.api.conftest import assert_error, operator_says, token_client, visitor_says
from tests.factories import InboxMemberFactory, UserFactory


def _url(message) -> str:
    return f"/api/v1/conversations/{message.conversation_id}/messages/{message.pk}/"


@pytest.mark.parametrize(
    ("is_admin", "actor", "direction", "sender", "allowed"),
    [
        (False, 1, MessageDirection.OUTGOING, 1, True),    # own reply or note
        (False, 1, MessageDirection.OUTGOING, 2, False),   # a colleague's
        (False, 1, MessageDirection.OUTGOING, 2, False),
        (False, 1, MessageDirection.INCOMING, None, False),  # the visitor's: administrators only
        (True, 1, MessageDirection.INCOMING, None, True),
        (True, 1, MessageDirection.OUTGOING, 2, True),
        (True, 1, MessageDirection.OUTGOING, None, True),  # out-of-office, no user
        (False, 1, MessageDirection.OUTGOING, None, False),
        (True, 1, MessageDirection.ACTIVITY, None, False),  # the audit trail stays
    ],
)
def test_who_may_delete_what(is_admin, actor, direction, sender, allowed):
    assert message_delete_allowed(is_admin=is_admin, actor_id=actor, direction=direction, sender_user_id=sender) is allowed


def test_author_deletes_own_reply_row_stays_content_and_files_go(world, client_a, tmp_path, settings,
                                                                 django_capture_on_commit_callbacks):
    settings.MEDIA_ROOT = str(tmp_path)
    upload = SimpleUploadedFile("a.png", b"\x89PNG" + b"0" * 10, content_type="image/png")
    sent = client_a.post(f"/api/v1/conversations/{world.conv_a.pk}/messages/",
                         {"content": "secret 4111", "attachments": [upload]}, format="multipart").json()
    stored = Attachment.objects.get(pk=sent["attachments"][0]["id"])
    path = tmp_path / stored.file.name
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.delete(f"/api/v1/conversations/{world.conv_a.pk}/messages/{sent['id']}/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == sent["id"] and body["content"] == "" and body["attachments"] == []
    assert body["content_attributes"]["deleted"] is True
    message = Message.objects.get(pk=sent["id"])
    assert message.content == "" and message.processed_message_content == ""
    assert not Attachment.objects.filter(message=message).exists()
    assert not path.exists()
    assert Client().get(sent["attachments"][0]["url"]).status_code == 404
    # The outbox no longer carries the text: a replay shows the deleted form only.
    payloads = [e.payload for e in Event.objects.filter(conversation=world.conv_a, type__startswith="message.")]
    assert payloads and all("secret" not in str(p) for p in payloads)
    updated = Event.objects.filter(conversation=world.conv_a, type="message.updated").get()
    assert updated.audience == "everyone" and updated.payload["content_attributes"]["deleted"] is True


def test_note_deleted_reaches_operators_only(world):
    note = operator_says(world.conv_a, world.agent_a, "internal", private=True)
    message_delete(message_id=note.pk, actor=world.agent_a)
    event = Event.objects.filter(type="message.updated").get()
    assert event.audience == "operators"


def test_repeat_delete_answers_ok_and_writes_nothing(world, client_a):
    message = operator_says(world.conv_a, world.agent_a, "oops")
    assert client_a.delete(_url(message)).status_code == 200
    count = Event.objects.count()
    second = client_a.delete(_url(message))
    assert second.status_code == 200 and second.json()["content_attributes"]["deleted"] is True
    assert Event.objects.count() == count


def test_colleague_is_forbidden_stranger_gets_404(world, client_a, client_b):
    colleague = UserFactory(username="cara")
    InboxMemberFactory(inbox=world.inbox_a, user=colleague)
    message = operator_says(world.conv_a, world.agent_a, "mine")
    assert_error(token_client(colleague).delete(_url(message)), 403, "permission_denied")
    assert_error(client_b.delete(_url(message)), 404, "not_found")  # agent of another inbox
    # The message id under another conversation's path is not found either.
    assert_error(client_a.delete(f"/api/v1/conversations/{world.conv_b.pk}/messages/{message.pk}/"), 404, "not_found")
    assert_error(client_a.delete(f"/api/v1/conversations/{world.conv_a.pk}/messages/999999/"), 404, "not_found")
    assert Message.objects.get(pk=message.pk).content == "mine"


def test_visitor_message_only_by_an_administrator(world, client_a, admin_client):
    incoming = visitor_says(world.visitor_a, "my card is 4111")
    assert_error(client_a.delete(_url(incoming)), 403, "permission_denied")
    assert admin_client.delete(_url(incoming)).status_code == 200
    assert Message.objects.get(pk=incoming.pk).content == ""


def test_activity_lines_stay(world, admin_client):
    conversation_set_status(conversation_id=world.conv_a.pk, status="resolved", actor_user=world.admin)
    activity = Message.objects.get(conversation=world.conv_a, direction=MessageDirection.ACTIVITY)
    assert_error(admin_client.delete(_url(activity)), 403, "permission_denied")


def test_service_refuses_outside_scope(world):
    message = operator_says(world.conv_a, world.agent_a, "x")
    with pytest.raises(NotFound):
        message_delete(message_id=message.pk, actor=world.agent_b)
    colleague = UserFactory()
    InboxMemberFactory(inbox=world.inbox_a, user=colleague)
    with pytest.raises(PermissionDenied):
        message_delete(message_id=message.pk, actor=colleague)


def test_delete_route_is_in_the_schema(world, admin_client):
    schema = admin_client.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/conversations/{conversation_id}/messages/{message_id}/"]["delete"]
    assert "200" in operation["responses"] and "403" in operation["responses"]


def test_list_and_detail_say_the_last_message_was_deleted(world, client_a):
    visitor_says(world.visitor_a, "hello")
    reply = operator_says(world.conv_a, world.agent_a, "wrong price")
    [row] = client_a.get("/api/v1/conversations/").json()["results"]
    assert row["last_message"]["content"] == "wrong price" and row["last_message"]["deleted"] is False
    message_delete(message_id=reply.pk, actor=world.agent_a)
    [row] = client_a.get("/api/v1/conversations/").json()["results"]
    assert row["last_message"]["id"] == reply.pk
    assert row["last_message"]["deleted"] is True and row["last_message"]["content"] == ""
    detail = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/").json()
    assert detail["last_message"]["deleted"] is True
    # A later message is the preview again.
    visitor_says(world.visitor_a, "still there?")
    [row] = client_a.get("/api/v1/conversations/").json()["results"]
    assert row["last_message"]["content"] == "still there?" and row["last_message"]["deleted"] is False
