"""REST of canned responses and labels (docs/desk.md): who reads, who writes, error shapes,
pages, and the labels of conversations (set, filter, payloads)."""
from __future__ import annotations

import pytest

from chat.models import CannedResponse, Label
from chat.services.canned_responses import canned_response_create
from chat.services.labels import conversation_set_labels, label_create
from tests.api.conftest import assert_error, token_client
from tests.factories import ContactInboxFactory, make_conversation

pytestmark = pytest.mark.django_db

CANNED = "/api/v1/canned_responses/"
LABELS = "/api/v1/labels/"


# --- Canned responses ---------------------------------------------------------------------------


def test_administrators_create_change_and_delete_canned_responses(admin_client, world):
    response = admin_client.post(CANNED, {"short_code": "Refund", "content": "We refund <b>fast</b>.",
                                          "inbox": world.inbox_a.pk}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in ("short_code", "content", "inbox")} == {
        "short_code": "refund", "content": "We refund <b>fast</b>.", "inbox": world.inbox_a.pk}
    rid = body["id"]
    duplicate = admin_client.post(CANNED, {"short_code": "REFUND", "content": "x", "inbox": world.inbox_a.pk},
                                  format="json")
    assert assert_error(duplicate, 409, "conflict")["fields"] == {"short_code": ["Already used in this inbox."]}
    assert admin_client.post(CANNED, {"short_code": "refund", "content": "global"}, format="json").status_code == 201
    changed = admin_client.patch(f"{CANNED}{rid}/", {"content": "Refunds take 3 days."}, format="json")
    assert changed.status_code == 200 and changed.json()["content"] == "Refunds take 3 days."
    assert changed.json()["inbox"] == world.inbox_a.pk
    assert_error(admin_client.patch(f"{CANNED}{rid}/", {"short_code": "has space"}, format="json"), 400, "invalid_data")
    assert_error(admin_client.patch(f"{CANNED}{rid}/", {"content": ""}, format="json"), 400, "invalid_data")
    assert_error(admin_client.post(CANNED, {"short_code": "big", "content": "x" * 10_001}, format="json"),
                 400, "invalid_data")
    assert_error(admin_client.post(CANNED, {"short_code": "x", "content": "y", "inbox": 10**9}, format="json"),
                 400, "invalid_data")
    assert_error(admin_client.post(CANNED, {"content": "no code"}, format="json"), 400, "invalid_data")
    assert admin_client.delete(f"{CANNED}{rid}/").status_code == 204
    assert_error(admin_client.delete(f"{CANNED}{rid}/"), 404, "not_found")
    assert_error(admin_client.get(f"{CANNED}{rid}/"), 404, "not_found")


def test_agents_read_their_scope_and_never_write(client_a, world):
    global_one = canned_response_create(short_code="hi", content="Hello")
    mine = canned_response_create(short_code="refund", content="A's refund", inbox_id=world.inbox_a.pk)
    theirs = canned_response_create(short_code="secret", content="B's secret", inbox_id=world.inbox_b.pk)
    listed = client_a.get(CANNED).json()
    assert [r["short_code"] for r in listed["results"]] == ["hi", "refund"] and listed["next"] is None
    assert client_a.get(f"{CANNED}{global_one.pk}/").status_code == 200
    assert client_a.get(f"{CANNED}{mine.pk}/").status_code == 200
    # Another inbox's response: 404 for every method, as if it did not exist.
    assert_error(client_a.get(f"{CANNED}{theirs.pk}/"), 404, "not_found")
    assert_error(client_a.patch(f"{CANNED}{theirs.pk}/", {"content": "mine now"}, format="json"), 404, "not_found")
    assert_error(client_a.delete(f"{CANNED}{theirs.pk}/"), 404, "not_found")
    assert_error(client_a.get(f"{CANNED}?inbox={world.inbox_b.pk}"), 404, "not_found")
    assert client_a.get(f"{CANNED}?q=secret").json()["results"] == []
    # Writes within scope: 403 with the JSON shape.
    assert_error(client_a.post(CANNED, {"short_code": "new", "content": "x"}, format="json"), 403, "permission_denied")
    assert_error(client_a.patch(f"{CANNED}{mine.pk}/", {"content": "x"}, format="json"), 403, "permission_denied")
    assert_error(client_a.delete(f"{CANNED}{global_one.pk}/"), 403, "permission_denied")
    assert CannedResponse.objects.get(pk=theirs.pk).content == "B's secret"
    assert CannedResponse.objects.count() == 3


def test_the_composer_list_for_an_inbox_and_the_search(client_a, world):
    canned_response_create(short_code="hi", content="Hello (global)")
    canned_response_create(short_code="hi", content="Hello from A", inbox_id=world.inbox_a.pk)
    canned_response_create(short_code="refund", content="Refunds take 3 days", inbox_id=world.inbox_a.pk)
    canned_response_create(short_code="ship", content="We ship in 2 days, no refund needed")
    rows = client_a.get(f"{CANNED}?inbox={world.inbox_a.pk}").json()["results"]
    assert [(r["short_code"], r["content"]) for r in rows] == [
        ("hi", "Hello from A"), ("refund", "Refunds take 3 days"), ("ship", "We ship in 2 days, no refund needed")]
    rows = client_a.get(f"{CANNED}?inbox={world.inbox_a.pk}&q=REF").json()["results"]
    assert [r["short_code"] for r in rows] == ["refund", "ship"]
    assert_error(client_a.get(f"{CANNED}?q=" + "x" * 201), 400, "invalid_data")
    assert_error(client_a.get(f"{CANNED}?inbox=abc"), 400, "invalid_data")
    assert_error(client_a.get(f"{CANNED}?cursor=%%%"), 400, "invalid_data")


def test_canned_list_pages_are_bounded(admin_client):
    CannedResponse.objects.bulk_create([CannedResponse(short_code=f"c{i:04d}", content="x") for i in range(1200)])
    first = admin_client.get(CANNED).json()
    assert len(first["results"]) == 100 and first["next"]
    big = admin_client.get(CANNED + "?limit=100000").json()
    assert len(big["results"]) == 500
    codes = []
    url = CANNED + "?limit=500"
    while url:
        page = admin_client.get(url).json()
        codes += [r["short_code"] for r in page["results"]]
        url = page["next"]
    assert codes == [f"c{i:04d}" for i in range(1200)]


# --- Labels ---------------------------------------------------------------------------------------


def test_label_catalogue(admin_client, client_a):
    created = admin_client.post(LABELS, {"name": "  VIP ", "color": "#FF0000", "description": "Big spender"},
                                format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["name"], body["color"], body["description"]) == ("vip", "#ff0000", "Big spender")
    assert_error(admin_client.post(LABELS, {"name": "vip"}, format="json"), 409, "conflict")
    assert_error(admin_client.post(LABELS, {"name": "<script>alert(1)</script>"}, format="json"), 400, "invalid_data")
    assert_error(admin_client.post(LABELS, {"name": "x" * 51}, format="json"), 400, "invalid_data")
    assert_error(admin_client.post(LABELS, {"name": "ok", "color": "red"}, format="json"), 400, "invalid_data")
    assert client_a.get(LABELS).json()["results"][0]["name"] == "vip"  # everyone reads
    assert client_a.get(f"{LABELS}{body['id']}/").json()["color"] == "#ff0000"
    assert_error(client_a.post(LABELS, {"name": "mine"}, format="json"), 403, "permission_denied")
    assert_error(client_a.patch(f"{LABELS}{body['id']}/", {"color": "#000000"}, format="json"), 403,
                 "permission_denied")
    assert_error(client_a.delete(f"{LABELS}{body['id']}/"), 403, "permission_denied")
    renamed = admin_client.patch(f"{LABELS}{body['id']}/", {"name": "Gold"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "gold"
    assert admin_client.delete(f"{LABELS}{body['id']}/").status_code == 204
    assert_error(admin_client.delete(f"{LABELS}{body['id']}/"), 404, "not_found")
    assert_error(admin_client.get(f"{LABELS}{body['id']}/"), 404, "not_found")


def test_ten_thousand_labels_come_in_pages(client_a):
    Label.objects.bulk_create([Label(name=f"l{i:05d}") for i in range(10_000)])
    first = client_a.get(LABELS).json()
    assert len(first["results"]) == 100 and first["next"]
    assert len(client_a.get(LABELS + "?limit=5000").json()["results"]) == 500
    assert [r["name"] for r in client_a.get(LABELS + "?q=l0999").json()["results"]] == [
        f"l0999{i}" for i in range(10)]
    second = client_a.get(first["next"]).json()
    assert second["results"][0]["name"] == "l00100"


def test_setting_a_conversations_labels_over_rest(client_a, client_b, world):
    for name in ("vip", "refund"):
        label_create(name=name)
    url = f"/api/v1/conversations/{world.conv_a.pk}/labels"
    response = client_a.post(url, {"labels": ["VIP", "refund"]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == world.conv_a.pk and body["labels"] == ["refund", "vip"] and "last_event_id" in body
    assert client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/").json()["labels"] == ["refund", "vip"]
    unknown = assert_error(client_a.post(url, {"labels": ["vip", "nope"]}, format="json"), 400, "invalid_data")
    assert unknown["fields"] == {"labels": ["Unknown label: nope"]}
    assert_error(client_a.post(url, {"labels": "vip"}, format="json"), 400, "invalid_data")
    assert_error(client_a.post(url, {}, format="json"), 400, "invalid_data")
    assert_error(client_a.post(url, {"labels": [None]}, format="json"), 400, "invalid_data")
    # Another inbox's conversation: 404, and nothing changes.
    assert_error(client_b.post(url, {"labels": []}, format="json"), 404, "not_found")
    assert client_a.post(url + "/", {"labels": []}, format="json").json()["labels"] == []


def test_the_list_filters_by_label_with_the_other_filters_and_q(client_a, world):
    label_create(name="vip")
    label_create(name="refund")
    tagged = []
    for i in range(3):
        visitor = ContactInboxFactory(inbox=world.inbox_a)
        conversation = make_conversation(contact_inbox=visitor)
        conversation_set_labels(conversation_id=conversation.pk, labels=["vip"] if i < 2 else ["refund"])
        tagged.append(conversation)
    conversation_set_labels(conversation_id=world.conv_b.pk, labels=["vip"])  # another inbox
    rows = client_a.get("/api/v1/conversations/?label=VIP").json()["results"]
    assert sorted(r["id"] for r in rows) == sorted(c.pk for c in tagged[:2])
    assert all(r["labels"] == ["vip"] for r in rows)
    assert client_a.get("/api/v1/conversations/?label=vip&status=resolved").json()["results"] == []
    assert client_a.get(f"/api/v1/conversations/?label=vip&inbox={world.inbox_b.pk}").json()["results"] == []
    assert client_a.get("/api/v1/conversations/?label=unknown").json()["results"] == []
    name = tagged[0].contact.name
    rows = client_a.get(f"/api/v1/conversations/?label=vip&q={name}").json()["results"]
    assert [r["id"] for r in rows] == [tagged[0].pk]
    assert client_a.get("/api/v1/conversations/meta/?label=vip").json()["all"] == 2
    assert_error(client_a.get("/api/v1/conversations/?label=%3Cb%3E"), 400, "invalid_data")
    untagged = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/").json()
    assert untagged["labels"] == []


def test_schema_documents_the_catalog_endpoints(client_a):
    schema = client_a.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    for path in ("/api/v1/canned_responses/", "/api/v1/canned_responses/{response_id}/", "/api/v1/labels/",
                 "/api/v1/labels/{label_id}/", "/api/v1/conversations/{conversation_id}/labels"):
        assert path in paths, path
    conversation = schema["components"]["schemas"]["Conversation"]
    assert conversation["properties"]["labels"]["type"] == "array"
    assert "409" in paths["/api/v1/labels/"]["post"]["responses"]
    assert any(p["name"] == "label" for p in paths["/api/v1/conversations/"]["get"]["parameters"])


def test_an_agent_token_of_another_inbox_reads_no_response_of_it(world):
    secret = canned_response_create(short_code="b-only", content="B", inbox_id=world.inbox_b.pk)
    client = token_client(world.agent_a)
    assert client.get(CANNED).json()["results"] == []
    assert_error(client.get(f"{CANNED}{secret.pk}/"), 404, "not_found")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_administrators_posting_the_same_code_or_label_at_once_get_201_and_409(world):
    from tests.concurrency import run_concurrently

    clients = [token_client(world.admin), token_client(world.admin)]
    for round_ in range(4):
        def post(i: int, round_: int = round_) -> int:
            if round_ % 2:
                body = {"name": f"Race-{round_}" if i else f"race-{round_}"}
                return clients[i].post(LABELS, body, format="json").status_code
            body = {"short_code": f"race{round_}", "content": f"from {i}", "inbox": world.inbox_a.pk}
            return clients[i].post(CANNED, body, format="json").status_code

        assert sorted(run_concurrently(post, 2)) == [201, 409]
    assert CannedResponse.objects.filter(short_code__startswith="race").count() == 2
    assert Label.objects.filter(name__startswith="race-").count() == 2
