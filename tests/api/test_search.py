"""Full-text search (DESIGN.md §12): the conversation list's ``q`` and /api/v1/search/messages.

Every test runs on both databases (PostgreSQL: tsvector + trigram indexes; embedded SQLite:
icontains) unless marked ``postgres`` (websearch operators whose substring reading differs).
"""
from __future__ import annotations

import pytest
from django.db import connection

from chat.models import Contact, Conversation
from chat.services.conversations import activity_add
from tests.api.conftest import assert_error, operator_says, visitor_says
from tests.factories import ContactFactory, ContactInboxFactory, make_conversation

pytestmark = pytest.mark.django_db

URL = "/api/v1/search/messages"


def conversation_ids(client, q: str, **params) -> list[int]:
    response = client.get("/api/v1/conversations/", {"status": "all", "q": q, **params})
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def hit_ids(client, q: str, **params) -> list[int]:
    response = client.get(URL, {"q": q, **params})
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def new_conversation(inbox, **contact):
    visitor = ContactInboxFactory(inbox=inbox, contact=ContactFactory(**contact))
    return visitor, make_conversation(contact_inbox=visitor)


@pytest.mark.postgres
def test_migration_built_the_indexes():
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE indexname IN "
                       "('msg_content_tsv', 'contact_name_trgm', 'contact_email_trgm', 'contact_phone_trgm')")
        assert len(cursor.fetchall()) == 4
        cursor.execute("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
        assert cursor.fetchone()[0] == 0


def test_content_matches_in_russian_and_english(world, client_a):
    visitor_says(world.visitor_a, "Where is my parcel? Ordered last week")
    other, conv = new_conversation(world.inbox_a)
    visitor_says(other, "Здравствуйте, где моя посылка?")
    assert conversation_ids(client_a, "parcel") == [world.conv_a.pk]
    # Case folding of non-ASCII letters: PostgreSQL only (SQLite's LIKE folds ASCII alone).
    assert conversation_ids(client_a, "ПОСЫЛКА" if connection.vendor == "postgresql" else "посылка") == [conv.pk]
    hits = client_a.get(URL, {"q": "посылка"}).json()["results"]
    assert [h["conversation"]["id"] for h in hits] == [conv.pk]
    assert "<mark>посылка</mark>" in hits[0]["snippet"]
    assert hits[0]["conversation"]["display_id"] == conv.display_id
    assert hits[0]["conversation"]["contact"]["id"] == other.contact_id


def test_contact_name_email_phone_partial_match(world, client_a):
    _, by_name = new_conversation(world.inbox_a, name="Svetlana Ivanova")
    _, by_email = new_conversation(world.inbox_a, name="X", email="buyer.9931@shop.example")
    _, by_phone = new_conversation(world.inbox_a, name="Y", phone="+33612345678")
    assert conversation_ids(client_a, "ivanov") == [by_name.pk]
    assert conversation_ids(client_a, "buyer.99") == [by_email.pk]
    assert conversation_ids(client_a, "61234567") == [by_phone.pk]


def test_newest_matching_conversations_first_and_keyset_pages(world, client_a):
    made = []
    for i in range(7):
        visitor, conv = new_conversation(world.inbox_a)
        visitor_says(visitor, f"refund please {i}")
        made.append(conv.pk)
    new_conversation(world.inbox_a)  # no match
    seen: list[int] = []
    response = client_a.get("/api/v1/conversations/", {"status": "all", "q": "refund", "limit": 3}).json()
    while True:
        seen += [row["id"] for row in response["results"]]
        if not response["next"]:
            break
        response = client_a.get(response["next"]).json()
    assert seen == list(reversed(made))  # newest activity first, no repeat, none missing


def test_rare_match_past_the_walk_window(world, client_a, monkeypatch):
    """The conversation list finds matches deeper than the walked window (the gather plan)."""
    monkeypatch.setattr("chat.selectors.search.WALK_WINDOW", 3)
    visitor, old = new_conversation(world.inbox_a)
    visitor_says(visitor, "the blue widget arrived broken")
    for _ in range(5):
        other, _conv = new_conversation(world.inbox_a)
        visitor_says(other, "hello")
    assert conversation_ids(client_a, "widget", limit=2) == [old.pk]
    first = client_a.get("/api/v1/conversations/", {"status": "all", "q": "hello", "limit": 2}).json()
    second = client_a.get(first["next"]).json()
    third = client_a.get(second["next"]).json()
    ids = [r["id"] for page in (first, second, third) for r in page["results"]]
    assert len(ids) == 5 and len(set(ids)) == 5 and third["next"] is None


def test_scoping_agent_never_sees_other_inboxes(world, client_a, client_b, admin_client):
    visitor_says(world.visitor_a, "secret invoice alpha")
    visitor_says(world.visitor_b, "secret invoice beta")
    assert conversation_ids(client_a, "invoice") == [world.conv_a.pk]
    assert [h["conversation_id"] for h in client_a.get(URL, {"q": "invoice"}).json()["results"]] == [world.conv_a.pk]
    assert [h["conversation_id"] for h in client_b.get(URL, {"q": "invoice"}).json()["results"]] == [world.conv_b.pk]
    assert len(hit_ids(admin_client, "invoice")) == 2


def test_private_notes_found_activity_lines_not(world, client_a):
    note = operator_says(world.conv_a, world.agent_a, "internal memo vip", private=True)
    activity_add(conversation=world.conv_a, content="Resolved by memo")
    assert hit_ids(client_a, "memo") == [note.pk]
    body = client_a.get(URL, {"q": "memo"}).json()["results"][0]
    assert body["private"] is True and body["direction"] == "outgoing"
    assert conversation_ids(client_a, "Resolved") == []


def test_message_hits_newest_first_cursor_pages_without_repeats(world, client_a):
    ids = [visitor_says(world.visitor_a, f"tracking number {i}").pk for i in range(5)]
    seen: list[int] = []
    response = client_a.get(URL, {"q": "tracking", "limit": 2}).json()
    pages = 1
    while response["next"]:
        seen += [r["id"] for r in response["results"]]
        response = client_a.get(response["next"]).json()
        pages += 1
    seen += [r["id"] for r in response["results"]]
    assert seen == list(reversed(ids)) and pages == 3


def test_snippet_is_escaped_with_only_mark_tags(world, client_a):
    visitor_says(world.visitor_a, '<script>alert(1)</script> my coupon "X" & more <img src=x onerror=alert(1)> \ue000')
    hit = client_a.get(URL, {"q": "coupon"}).json()["results"][0]
    snippet = hit["snippet"]
    assert "<script" not in snippet and "<img" not in snippet and "&amp;" in snippet
    assert "<mark>coupon</mark>" in snippet
    assert snippet.replace("<mark>", "").replace("</mark>", "").count("<") == 0
    assert "\ue000" not in snippet


def test_websearch_syntax(world, client_a):
    a = visitor_says(world.visitor_a, "the red parcel is late")
    b = visitor_says(world.visitor_a, "the parcel is red and late")
    c = visitor_says(world.visitor_a, "missing invoice")
    assert set(hit_ids(client_a, '"red parcel"')) == {a.pk}
    assert set(hit_ids(client_a, "parcel -red")) == set()
    assert set(hit_ids(client_a, "parcel late")) == {a.pk, b.pk}
    assert set(hit_ids(client_a, "red or invoice")) == {a.pk, b.pk, c.pk}


def test_hostile_queries(world, client_a):
    visitor_says(world.visitor_a, "hello (there) !!!")
    assert_error(client_a.get(URL), 400, "invalid_data")
    assert_error(client_a.get(URL, {"q": "   "}), 400, "invalid_data")
    assert_error(client_a.get(URL, {"q": "a\x00b"}), 400, "invalid_data")
    assert_error(client_a.get(URL, {"q": "x" * 201}), 400, "invalid_data")
    assert hit_ids(client_a, "x" * 200) == []
    long_words = " ".join(["parcel"] * 28)
    assert hit_ids(client_a, long_words[:200]) == []
    for q in ("!!!", "()", '"', "-", "&|!:*", "' OR 1=1 --", "or", "-hello"):
        assert hit_ids(client_a, q) == [], q
        assert conversation_ids(client_a, q) == [] or q in ("or", "' OR 1=1 --", "-hello"), q
    assert client_a.get("/api/v1/conversations/meta/", {"q": "!!!"}).json()["all"] == 0


def test_counts_follow_q(world, client_a):
    visitor_says(world.visitor_a, "refund")
    _, other = new_conversation(world.inbox_a)
    assert client_a.get("/api/v1/conversations/meta/", {"status": "all", "q": "refund"}).json()["all"] == 1


def test_widget_and_anonymous_cannot_search(world, client):
    assert client.get(URL, {"q": "x"}).status_code in (401, 403)


def test_contacts_of_unrelated_inbox_do_not_leak(world, client_a):
    visitor = ContactInboxFactory(inbox=world.inbox_b, contact=ContactFactory(name="Zoltan"))
    make_conversation(contact_inbox=visitor)
    assert conversation_ids(client_a, "zoltan") == []
    assert Contact.objects.filter(name="Zoltan").exists() and Conversation.objects.count() == 3


def test_message_hits_past_the_walk_window(world, client_a, client_b, monkeypatch):
    """Message hits older than the walked window are found (the gather plan), scoped, paged."""
    monkeypatch.setattr("chat.selectors.search.MESSAGE_WALK_WINDOW", 2)
    old = [visitor_says(world.visitor_a, f"warranty claim {i}").pk for i in range(3)]
    visitor_says(world.visitor_b, "warranty elsewhere")
    for i in range(4):
        visitor_says(world.visitor_a, f"filler {i}")
    first = client_a.get(URL, {"q": "warranty", "limit": 2}).json()
    second = client_a.get(first["next"]).json()
    assert [r["id"] for r in first["results"] + second["results"]] == list(reversed(old))
    assert second["next"] is None
    assert len(hit_ids(client_b, "warranty")) == 1


def test_search_pages_cost_a_constant_number_of_queries(world, client_a):
    from django.test.utils import CaptureQueriesContext

    for i in range(6):
        visitor, _conv = new_conversation(world.inbox_a)
        visitor_says(visitor, f"hello {i}")
    visitor_says(world.visitor_a, "unique needle")

    def count(url: str) -> int:
        client_a.get(url)
        with CaptureQueriesContext(connection) as ctx:
            assert client_a.get(url).status_code == 200
        return len(ctx.captured_queries)

    plain = count("/api/v1/conversations/?status=all&limit=2")
    assert count("/api/v1/conversations/?status=all&limit=2&q=hello") == plain  # found by the walk
    assert count("/api/v1/conversations/?status=all&limit=2&q=needle") == plain  # found by the gather
    assert count(URL + "?q=hello&limit=1") == count(URL + "?q=hello&limit=5") == count(URL + "?q=needle")
