"""History pages and sending, for operators."""
from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from chat.models import Message
from chat.services.conversations import conversation_set_status
from tests.api.conftest import assert_error, operator_says, visitor_says

pytestmark = pytest.mark.django_db


def test_history_newest_first_with_before_cursor_notes_and_activity(world, client_a):
    for i in range(5):
        visitor_says(world.visitor_a, f"m{i}")
    operator_says(world.conv_a, world.agent_a, "internal", private=True)
    conversation_set_status(conversation_id=world.conv_a.pk, status="resolved", actor_user=world.agent_a)
    url = f"/api/v1/conversations/{world.conv_a.pk}/messages/"
    first = client_a.get(url, {"limit": 3}).json()
    assert set(first) == {"results", "next", "last_event_id"}
    assert [m["direction"] for m in first["results"]] == ["activity", "outgoing", "incoming"]
    assert first["results"][1]["private"] is True
    ids = [m["id"] for m in first["results"]]
    assert ids == sorted(ids, reverse=True)
    assert first["next"] == ids[-1]
    second = client_a.get(url, {"limit": 3, "before": first["next"]}).json()
    assert [m["content"] for m in second["results"]] == ["m3", "m2", "m1"]
    third = client_a.get(url, {"limit": 3, "before": second["next"]}).json()
    assert [m["content"] for m in third["results"]] == ["m0"] and third["next"] is None


def test_history_pages_are_stable_while_messages_arrive(world, client_a):
    for i in range(6):
        visitor_says(world.visitor_a, f"old{i}")
    url = f"/api/v1/conversations/{world.conv_a.pk}/messages/"
    seen = []
    body = client_a.get(url, {"limit": 2}).json()
    while True:
        seen.extend(m["id"] for m in body["results"])
        visitor_says(world.visitor_a, "new one")  # arrives between pages
        if body["next"] is None:
            break
        body = client_a.get(url, {"limit": 2, "before": body["next"]}).json()
    assert len(seen) == len(set(seen)) == 6


def test_message_shape(world, client_a):
    visitor_says(world.visitor_a, "hello", echo_id="e-1")
    [m] = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/messages/").json()["results"]
    for key in ("id", "conversation_id", "content", "direction", "private", "echo_id", "source_id", "sender",
                "created_at", "attachments"):
        assert key in m
    assert m["sender"]["type"] == "contact" and m["sender"]["id"] == world.visitor_a.contact_id
    assert m["echo_id"] == "e-1"


def test_send_reply_then_idempotent_repeat_by_echo_and_source_id(world, client_a, published):
    url = f"/api/v1/conversations/{world.conv_a.pk}/messages/"
    first = client_a.post(url, {"content": "Hi there", "echo_id": "c-1"}, format="json")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["direction"] == "outgoing" and body["sender"] == {
        "type": "user", "id": world.agent_a.pk, "name": "Ann", "username": "ann"}
    again = client_a.post(url, {"content": "Hi there", "echo_id": "c-1"}, format="json")
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    by_source = client_a.post(url, {"content": "x", "source_id": "ext-9"}, format="json")
    assert by_source.status_code == 201
    assert client_a.post(url, {"content": "x", "source_id": "ext-9"}, format="json").status_code == 200
    assert Message.objects.filter(conversation=world.conv_a).count() == 2
    assert published.types().count("message.created") == 2
    assert "first_reply.created" in published.types()


def test_private_note_changes_no_first_reply(world, client_a):
    url = f"/api/v1/conversations/{world.conv_a.pk}/messages/"
    body = client_a.post(url, {"content": "note", "private": True}, format="json").json()
    assert body["private"] is True
    world.conv_a.refresh_from_db()
    assert world.conv_a.first_reply_created_at is None


def test_send_errors_have_the_socket_codes(world, client_a, settings):
    url = f"/api/v1/conversations/{world.conv_a.pk}/messages/"
    assert_error(client_a.post(url, {"content": "   "}, format="json"), 400, "invalid_data")
    settings.MESSAGE_MAX_LENGTH = 10
    assert_error(client_a.post(url, {"content": "x" * 11}, format="json"), 400, "content_too_long")


@override_settings(ATTACHMENT_MAX_BYTES=1000)
def test_attachments_by_multipart_with_limits(world, client_a, tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path)
    url = f"/api/v1/conversations/{world.conv_a.pk}/messages/"
    png = SimpleUploadedFile("a.png", b"\x89PNG" + b"0" * 10, content_type="image/png")
    response = client_a.post(url, {"content": "see", "attachments": [png]}, format="multipart")
    assert response.status_code == 201, response.content
    [attachment] = response.json()["attachments"]
    assert attachment["file_type"] == "image/png" and attachment["size"] == 14
    history = client_a.get(url).json()["results"]
    assert history[0]["attachments"][0]["id"] == attachment["id"]

    big = SimpleUploadedFile("b.png", b"0" * 2000, content_type="image/png")
    assert_error(client_a.post(url, {"attachments": [big]}, format="multipart"), 400, "invalid_attachment")
    html = SimpleUploadedFile("c.html", b"<script>", content_type="text/html")
    assert_error(client_a.post(url, {"attachments": [html]}, format="multipart"), 400, "invalid_attachment")
    liar = SimpleUploadedFile("d.html", b"<script>", content_type="image/png")
    assert_error(client_a.post(url, {"attachments": [liar]}, format="multipart"), 400, "invalid_attachment")
    many = [SimpleUploadedFile(f"{i}.txt", b"x", content_type="text/plain") for i in range(16)]
    assert_error(client_a.post(url, {"attachments": many}, format="multipart"), 400, "too_many_attachments")
    assert Message.objects.filter(conversation=world.conv_a).count() == 1
