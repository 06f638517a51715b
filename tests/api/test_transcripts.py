"""Transcripts (DESIGN.md §12): the operator's (everything, marked) and the visitor's (public
messages only), json in the message shape or plain text, as a download; scope; bounds."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from chat.selectors import transcripts
from chat.services.conversations import conversation_set_status
from tests.api.conftest import assert_error, operator_says, token_client, visitor_says, widget_client

pytestmark = pytest.mark.django_db


def history(world):
    visitor_says(world.visitor_a, "Hello,\nI need help")
    operator_says(world.conv_a, world.agent_a, "Sure, what is it?")
    operator_says(world.conv_a, world.agent_a, "VIP customer", private=True)
    conversation_set_status(conversation_id=world.conv_a.pk, status="resolved", actor_user=world.agent_a)


def test_operator_json_has_every_message_oldest_first_in_the_message_shape(world, client_a):
    history(world)
    response = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/transcript?format=json")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="conversation-{world.conv_a.display_id}-transcript.json"')
    body = response.json()
    assert body["conversation_id"] == world.conv_a.pk and body["next"] is None
    messages = body["messages"]
    assert [m["content"] for m in messages][:3] == ["Hello,\nI need help", "Sure, what is it?", "VIP customer"]
    assert [m["id"] for m in messages] == sorted(m["id"] for m in messages)
    assert messages[2]["private"] is True
    assert messages[-1]["direction"] == "activity"
    # The same objects as the history endpoint (DESIGN §8's message shape).
    page = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/messages/?limit=100").json()["results"]
    assert messages == list(reversed(page))


def test_operator_txt_is_readable_with_names_utc_times_and_marks(world, client_a):
    history(world)
    response = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/transcript?format=txt")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert response["Content-Disposition"].endswith('-transcript.txt"')
    text = response.content.decode()
    lines = text.splitlines()
    contact_name = world.visitor_a.contact.name
    said = next(line for line in lines if line.endswith(f"{contact_name}: Hello,"))
    assert said.startswith("[") and "Z] " in said  # [2026-...Z] UTC ISO time
    assert "    I need help" in lines  # the second line of the message, indented
    agent_name = world.agent_a.operator_profile.display_name or world.agent_a.username
    assert any(line.endswith(f"] {agent_name}: Sure, what is it?") for line in lines), text
    assert any(line.endswith(f"] [note] {agent_name}: VIP customer") for line in lines), text
    assert any("] [activity] " in line for line in lines), text


def test_widget_transcript_is_public_messages_of_the_visitors_own_conversation(world):
    history(world)
    client = widget_client(world.visitor_a)
    body = client.get(f"/api/widget/v1/transcript?conversation_id={world.conv_a.pk}&format=json").json()
    assert [m["content"] for m in body["messages"]] == ["Hello,\nI need help", "Sure, what is it?"]
    text = client.get(f"/api/widget/v1/transcript?conversation_id={world.conv_a.pk}&format=txt").content.decode()
    assert "Sure, what is it?" in text
    assert "VIP customer" not in text and "[note]" not in text and "[activity]" not in text
    # Another visitor's conversation, or one that does not exist: the same 404.
    assert_error(client.get(f"/api/widget/v1/transcript?conversation_id={world.conv_b.pk}"), 404, "not_found")
    assert_error(client.get("/api/widget/v1/transcript?conversation_id=999999999"), 404, "not_found")
    assert_error(client.get("/api/widget/v1/transcript"), 400, "invalid_data")
    assert APIClient().get(f"/api/widget/v1/transcript?conversation_id={world.conv_a.pk}").status_code == 401


def test_operator_scope_and_bad_format(world, client_a, client_b, admin_client):
    url = f"/api/v1/conversations/{world.conv_a.pk}/transcript"
    assert_error(client_b.get(url), 404, "not_found")  # another inbox's conversation
    assert_error(client_a.get("/api/v1/conversations/999999999/transcript"), 404, "not_found")
    assert APIClient().get(url).status_code in (401, 403)
    assert admin_client.get(url).status_code == 200
    for bad in ("xml", "csv", "TXT"):
        assert_error(client_a.get(f"{url}?format={bad}"), 400, "invalid_data")
    assert_error(widget_client(world.visitor_a).get(
        f"/api/widget/v1/transcript?conversation_id={world.conv_a.pk}&format=pdf"), 400, "invalid_data")
    assert client_a.get(url).json()["conversation_id"] == world.conv_a.pk  # json by default


def test_long_conversations_come_in_bounded_parts(world, client_a, monkeypatch):
    monkeypatch.setattr(transcripts, "TRANSCRIPT_MAX_MESSAGES", 3)
    sent = [operator_says(world.conv_a, world.agent_a, f"m{i}").pk for i in range(7)]
    url = f"/api/v1/conversations/{world.conv_a.pk}/transcript"
    seen, after = [], None
    while True:
        body = client_a.get(url + (f"?after={after}" if after else "")).json()
        assert len(body["messages"]) <= 3
        seen += [m["id"] for m in body["messages"]]
        after = body["next"]
        if after is None:
            break
    assert seen == sent
    text = client_a.get(url + "?format=txt").content.decode()
    assert f"after={sent[2]}" in text.splitlines()[-1]
    # The content bound: at least one message per part, however long.
    monkeypatch.setattr(transcripts, "TRANSCRIPT_MAX_CONTENT_CHARS", 3)
    body = client_a.get(url).json()
    assert [m["id"] for m in body["messages"]] == sent[:1] and body["next"] == sent[0]


def test_transcript_query_count_is_constant(world, django_assert_max_num_queries):
    for i in range(30):
        operator_says(world.conv_a, world.agent_a, f"m{i}")
    client = token_client(world.agent_a)
    with django_assert_max_num_queries(14):
        assert client.get(f"/api/v1/conversations/{world.conv_a.pk}/transcript?format=txt").status_code == 200


def test_schema_lists_the_transcripts_and_the_operator_stream(tmp_path):
    import yaml
    from django.core.management import call_command

    out = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    paths = yaml.safe_load(out.read_text())["paths"]
    operator = paths["/api/v1/conversations/{conversation_id}/transcript"]["get"]
    assert {p["name"] for p in operator["parameters"]} >= {"format", "after"}
    assert set(operator["responses"]["200"]["content"]) == {"application/json", "text/plain"}
    widget = paths["/api/widget/v1/transcript"]["get"]
    assert {p["name"] for p in widget["parameters"]} >= {"conversation_id", "format", "X-Widget-Token"}
    stream = paths["/api/messenger/conversations/{conversation_id}/stream/"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]


def test_a_nameless_contact_is_visitor_n_everywhere(world, client_a):
    """One naming owner (Contact.display_name): the payload, the transcripts and the admin."""
    from chat.models import Contact

    contact = world.visitor_a.contact
    Contact.objects.filter(pk=contact.pk).update(name="", email=None)
    contact.refresh_from_db()
    assert contact.display_name == str(contact) == f"Visitor {contact.pk}"
    visitor_says(world.visitor_a, "no name here")
    detail = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/").json()
    assert detail["contact"]["display_name"] == f"Visitor {contact.pk}"
    text = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/transcript?format=txt").content.decode()
    assert f"Contact: Visitor {contact.pk}" in text
    assert any(line.endswith(f"Visitor {contact.pk}: no name here") for line in text.splitlines()), text
    widget_text = widget_client(world.visitor_a).get(
        f"/api/widget/v1/transcript?conversation_id={world.conv_a.pk}&format=txt").content.decode()
    assert f"Visitor {contact.pk}: no name here" in widget_text
    Contact.objects.filter(pk=contact.pk).update(email="ann@example.com")
    contact.refresh_from_db()
    assert contact.display_name == str(contact) == "ann@example.com"
