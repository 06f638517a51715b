"""GET /api/v1/conversations/ (filters, keyset pages, rows), meta, detail, PATCH and actions."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chat.models import Conversation, Event
from chat.services.conversations import conversation_set_status
from tests.api.conftest import assert_error, operator_says, token_client, visitor_says
from tests.factories import ContactFactory, ContactInboxFactory, InboxMemberFactory, make_conversation

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_list_row_shape_unread_and_last_message(world, client_a):
    visitor_says(world.visitor_a, "hello")
    visitor_says(world.visitor_a, "anyone?")
    operator_says(world.conv_a, world.agent_a, "a note", private=True)
    body = client_a.get("/api/v1/conversations/").json()
    assert set(body) == {"results", "next", "last_event_id"}
    assert body["next"] is None
    assert body["last_event_id"] == Event.objects.order_by("-id").first().id
    [row] = body["results"]
    assert row["id"] == world.conv_a.pk
    for key in ("display_id", "status", "priority", "assignee", "inbox", "contact", "waiting_since",
                "first_reply_created_at", "last_activity_at"):
        assert key in row
    assert row["contact"]["id"] == world.visitor_a.contact_id
    assert row["unread_count"] == 2
    assert row["last_message"]["content"] == "a note"
    assert row["last_message"]["private"] is True
    assert row["last_message"]["direction"] == "outgoing"
    assert row["last_message"]["created_at"].endswith("Z")


def test_unread_count_counts_incoming_after_agent_last_seen(world, client_a):
    visitor_says(world.visitor_a, "one")
    Conversation.objects.filter(pk=world.conv_a.pk).update(agent_last_seen_at=timezone.now() + timedelta(seconds=1))
    [row] = client_a.get("/api/v1/conversations/").json()["results"]
    assert row["unread_count"] == 0
    Conversation.objects.filter(pk=world.conv_a.pk).update(agent_last_seen_at=None)
    [row] = client_a.get("/api/v1/conversations/").json()["results"]
    assert row["unread_count"] == 1


def test_operator_sees_only_their_inboxes_and_admin_sees_all(world, client_a, client_b, admin_client):
    assert ids(client_a.get("/api/v1/conversations/")) == [world.conv_a.pk]
    assert ids(client_b.get("/api/v1/conversations/")) == [world.conv_b.pk]
    assert sorted(ids(admin_client.get("/api/v1/conversations/"))) == sorted([world.conv_a.pk, world.conv_b.pk])
    # Filtering by someone else's inbox shows nothing rather than their data.
    assert ids(client_a.get(f"/api/v1/conversations/?inbox={world.inbox_b.pk}")) == []


def test_other_inbox_conversation_and_messages_are_404(world, client_a):
    for method, url, data in [
        ("get", f"/api/v1/conversations/{world.conv_b.pk}/", None),
        ("patch", f"/api/v1/conversations/{world.conv_b.pk}/", {"priority": "high"}),
        ("get", f"/api/v1/conversations/{world.conv_b.pk}/messages/", None),
        ("post", f"/api/v1/conversations/{world.conv_b.pk}/messages/", {"content": "hi"}),
        ("post", f"/api/v1/conversations/{world.conv_b.pk}/toggle_status", {}),
        ("post", f"/api/v1/conversations/{world.conv_b.pk}/toggle_priority", {"priority": "low"}),
        ("post", f"/api/v1/conversations/{world.conv_b.pk}/read", {}),
        ("post", f"/api/v1/conversations/{world.conv_b.pk}/assign", {"assignee_id": world.agent_a.pk}),
        ("post", f"/api/v1/conversations/{world.conv_b.pk}/escalate", {}),
        ("get", "/api/v1/conversations/999999/", None),
    ]:
        response = getattr(client_a, method)(url, data, format="json")
        assert_error(response, 404, "not_found")
    world.conv_b.refresh_from_db()
    assert world.conv_b.priority == "none" and world.conv_b.status == "open"


def test_removed_member_loses_access(world, client_a):
    world.inbox_a.members.filter(user=world.agent_a).delete()
    assert_error(client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/"), 404, "not_found")


def test_filters_status_assignee_priority_inbox_branch_contact(world, admin_client):
    resolved = make_conversation(contact_inbox=ContactInboxFactory(inbox=world.inbox_a))
    conversation_set_status(conversation_id=resolved.pk, status="resolved")
    mine = make_conversation(contact_inbox=ContactInboxFactory(inbox=world.inbox_a))
    Conversation.objects.filter(pk=mine.pk).update(assignee=world.admin, priority="high")
    a, b = world.conv_a.pk, world.conv_b.pk

    def get(query: str) -> set[int]:
        return set(ids(admin_client.get(f"/api/v1/conversations/?{query}")))

    assert get("") == {a, b, mine.pk}
    assert get("status=resolved") == {resolved.pk}
    assert get("status=all") == {a, b, mine.pk, resolved.pk}
    assert get("assignee=me") == {mine.pk}
    assert get("assignee=unassigned") == {a, b}
    assert get(f"assignee={world.admin.pk}") == {mine.pk}
    assert get("priority=high") == {mine.pk}
    assert get(f"inbox={world.inbox_b.pk}") == {b}
    assert get(f"branch={world.inbox_b.branch_id}") == {b}
    assert get(f"contact={world.visitor_a.contact_id}") == {a}
    assert_error(admin_client.get("/api/v1/conversations/?status=nope"), 400, "invalid_data")
    assert_error(admin_client.get("/api/v1/conversations/?assignee=nobody"), 400, "invalid_data")
    assert_error(admin_client.get("/api/v1/conversations/?inbox=x"), 400, "invalid_data")
    assert_error(admin_client.get("/api/v1/conversations/?cursor=garbage"), 400, "invalid_data")


def test_search_by_contact_fields_and_message_content(world, admin_client):
    contact = ContactFactory(name="Zoe Quartz", email="zoe@shop.example", phone="+33612345678")
    zoe = make_conversation(contact_inbox=ContactInboxFactory(inbox=world.inbox_a, contact=contact))
    visitor_says(world.visitor_b, "my parcel is LOST-4711")

    def search(q: str) -> set[int]:
        return set(ids(admin_client.get("/api/v1/conversations/", {"q": q})))

    assert search("quartz") == {zoe.pk}
    assert search("ZOE@shop") == {zoe.pk}
    assert search("612345") == {zoe.pk}
    assert search("lost-4711") == {world.conv_b.pk}
    assert search("nothing-like-this") == set()


def test_ordered_by_last_activity_then_id(world, admin_client):
    visitor_says(world.visitor_a, "bump")
    assert ids(admin_client.get("/api/v1/conversations/"))[0] == world.conv_a.pk
    operator_says(world.conv_b, world.admin, "reply")
    assert ids(admin_client.get("/api/v1/conversations/"))[0] == world.conv_b.pk


def _walk_with_interference(client, *, limit: int, interfere) -> tuple[list[int], int]:
    seen: list[int] = []
    url = f"/api/v1/conversations/?limit={limit}"
    first_event_id = None
    page_no = 0
    while url:
        body = client.get(url).json()
        first_event_id = body["last_event_id"] if first_event_id is None else first_event_id
        seen.extend(row["id"] for row in body["results"])
        interfere(page_no, seen)
        page_no += 1
        url = body["next"]
    return seen, first_event_id


def test_pages_never_repeat_or_skip_while_messages_arrive(world, client_a):
    visitors = [ContactInboxFactory(inbox=world.inbox_a) for _ in range(11)]
    conversations = [make_conversation(contact_inbox=v) for v in visitors]
    everyone = {world.conv_a.pk, *(c.pk for c in conversations)}
    by_id = {c.pk: v for c, v in zip(conversations, visitors, strict=True)}
    by_id[world.conv_a.pk] = world.visitor_a
    moved: set[int] = set()

    def interfere(page_no: int, seen: list[int]) -> None:
        # Between pages: one conversation already seen and one not yet seen get a new message
        # (both move to the top), and a brand-new conversation appears.
        unseen = [pk for pk in everyone if pk not in seen and pk not in moved]
        seen_one = [pk for pk in seen if pk not in moved]
        for pk in (seen_one[:1] + unseen[:1]):
            visitor_says(by_id[pk], f"news after page {page_no}")
            moved.add(pk)

    seen, first_event_id = _walk_with_interference(client_a, limit=3, interfere=interfere)
    assert len(seen) == len(set(seen)), "a conversation was returned twice"
    untouched = everyone - moved
    assert untouched <= set(seen), "an unchanged conversation was skipped"
    # What the walk did not return changed after it started: the events say so.
    changed = set(
        Event.objects.filter(id__gt=first_event_id, type="message.created").values_list("conversation_id", flat=True)
    )
    assert everyone - set(seen) <= changed


def test_page_size_limits(world, admin_client):
    for _ in range(4):
        make_conversation(contact_inbox=ContactInboxFactory(inbox=world.inbox_a))
    body = admin_client.get("/api/v1/conversations/?limit=2").json()
    assert len(body["results"]) == 2 and body["next"]
    assert_error(admin_client.get("/api/v1/conversations/?limit=0"), 400, "invalid_data")
    assert len(admin_client.get("/api/v1/conversations/?limit=1000").json()["results"]) == 6


def test_meta_counts_per_tab(world, client_a, admin_client):
    mine = make_conversation(contact_inbox=ContactInboxFactory(inbox=world.inbox_a))
    Conversation.objects.filter(pk=mine.pk).update(assignee=world.agent_a)
    other = make_conversation(contact_inbox=ContactInboxFactory(inbox=world.inbox_a))
    Conversation.objects.filter(pk=other.pk).update(assignee=world.admin, status="pending")
    assert client_a.get("/api/v1/conversations/meta/").json() == {"mine": 1, "unassigned": 1, "all": 2}
    assert client_a.get("/api/v1/conversations/meta/?status=all").json() == {"mine": 1, "unassigned": 1, "all": 3}
    assert client_a.get("/api/v1/conversations/meta/?status=pending").json() == {"mine": 0, "unassigned": 0, "all": 1}
    assert admin_client.get(f"/api/v1/conversations/meta/?inbox={world.inbox_b.pk}").json() == {
        "mine": 0, "unassigned": 1, "all": 1}


def test_detail_carries_last_event_id(world, client_a):
    body = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/").json()
    assert body["id"] == world.conv_a.pk and body["last_event_id"] >= 1
    assert "unread_count" in body and "last_message" in body


def test_patch_status_priority_attributes_emit_the_socket_events(world, client_a, published):
    url = f"/api/v1/conversations/{world.conv_a.pk}/"
    response = client_a.patch(url, {"status": "pending", "priority": "high", "custom_attributes": {"plan": "pro"}},
                              format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "pending" and body["priority"] == "high" and body["custom_attributes"] == {"plan": "pro"}
    assert published.types().count("conversation.status_changed") == 1
    assert published.types().count("conversation.updated") == 2
    later = (timezone.now() + timedelta(hours=2)).isoformat()
    snoozed = client_a.patch(url, {"status": "snoozed", "snoozed_until": later}, format="json").json()
    assert snoozed["status"] == "snoozed" and snoozed["snoozed_until"]
    earlier = (timezone.now() - timedelta(hours=2)).isoformat()
    assert_error(client_a.patch(url, {"status": "snoozed", "snoozed_until": earlier}, format="json"), 400, "invalid_data")
    # Without a time: snoozed until the contact's next message (DESIGN §11).
    until_reply = client_a.patch(url, {"status": "snoozed"}, format="json").json()
    assert until_reply["status"] == "snoozed" and until_reply["snoozed_until"] is None
    assert_error(client_a.patch(url, {"priority": "extreme"}, format="json"), 400, "invalid_data")


def test_toggle_status_and_priority(world, client_a, published):
    url = f"/api/v1/conversations/{world.conv_a.pk}"
    assert client_a.post(f"{url}/toggle_status", {}, format="json").json()["status"] == "resolved"
    assert client_a.post(f"{url}/toggle_status", {}, format="json").json()["status"] == "open"
    assert client_a.post(f"{url}/toggle_status", {"status": "pending"}, format="json").json()["status"] == "pending"
    assert client_a.post(f"{url}/toggle_status/", {}, format="json").json()["status"] == "open"  # trailing slash too
    assert client_a.post(f"{url}/toggle_priority", {"priority": "urgent"}, format="json").json()["priority"] == "urgent"
    assert published.types().count("conversation.status_changed") == 4
    assert_error(client_a.post(f"{url}/toggle_priority", {}, format="json"), 400, "invalid_data")


def test_toggle_status_snoozes_until_the_next_reply(world, client_a, published):
    url = f"/api/v1/conversations/{world.conv_a.pk}"
    body = client_a.post(f"{url}/toggle_status", {"status": "snoozed"}, format="json").json()
    assert body["status"] == "snoozed" and body["snoozed_until"] is None
    assert published.types().count("conversation.status_changed") == 1
    visitor_says(world.visitor_a, "back again")
    after = client_a.get(f"{url}/").json()
    assert after["status"] == "open" and after["snoozed_until"] is None


def test_read_touches_agent_last_seen(world, client_a, published):
    visitor_says(world.visitor_a, "hi")
    body = client_a.post(f"/api/v1/conversations/{world.conv_a.pk}/read").json()
    assert body["agent_last_seen_at"] is not None
    assert body["unread_count"] == 0
    assert "conversation.read" in published.types()


def test_assign_and_unassign_call_the_assignment_service(world, client_a, published):
    url = f"/api/v1/conversations/{world.conv_a.pk}/assign"
    response = client_a.post(url, {"assignee_id": world.agent_a.pk}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["assignee"]["id"] == world.agent_a.pk
    assert "assignee.changed" in published.types()
    assert client_a.post(url, {"assignee_id": None}, format="json").json()["assignee"] is None


def test_escalate_sets_urgent(world, client_a):
    response = client_a.post(f"/api/v1/conversations/{world.conv_a.pk}/escalate", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["priority"] == "urgent"


def test_contact_of_other_inbox_filter_shows_nothing(world, client_a):
    assert ids(client_a.get(f"/api/v1/conversations/?contact={world.visitor_b.contact_id}")) == []


def test_new_member_sees_inbox(world):
    InboxMemberFactory(inbox=world.inbox_b, user=world.agent_a)
    client = token_client(world.agent_a)
    assert set(ids(client.get("/api/v1/conversations/"))) == {world.conv_a.pk, world.conv_b.pk}


@pytest.mark.postgres
def test_patch_is_one_transaction_a_failing_part_writes_nothing(world, client_a, published):
    """The three changes of a PATCH are one service call (conversation_update): when the last
    part fails in the database (PostgreSQL refuses NUL in jsonb), the status is not changed
    either, no activity line stays, nothing is published."""
    from django.db import DataError

    from chat.models import Message
    from chat.services.conversations import conversation_update

    before = Message.objects.filter(conversation=world.conv_a).count()
    with pytest.raises(DataError):
        conversation_update(conversation_id=world.conv_a.pk, status="resolved", priority="high",
                            custom_attributes={"note": "a\u0000b"}, actor_user=world.agent_a)
    world.conv_a.refresh_from_db()
    assert (world.conv_a.status, world.conv_a.priority) == ("open", "none")
    assert Message.objects.filter(conversation=world.conv_a).count() == before
    assert published.types() == []


def test_patch_with_a_refused_part_writes_nothing(world, client_a, published):
    url = f"/api/v1/conversations/{world.conv_a.pk}/"
    response = client_a.patch(url, {"status": "resolved", "custom_attributes": {"note": "a\u0000b"}}, format="json")
    assert_error(response, 400, "invalid_data")
    world.conv_a.refresh_from_db()
    assert world.conv_a.status == "open"
    assert published.types() == []
