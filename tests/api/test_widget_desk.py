"""The visitor side of the desk over REST (DESIGN.md §11): CSAT answers, the contact's email,
business hours in the admin API, the widget config and session answers, the out-of-office
answer (once per closed period, no SQL within hours)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from chat.models import Contact, Conversation, CsatResponse, Inbox, Message
from chat.services.conversations import conversation_set_status
from chat.services.messages import out_of_office_reply, visitor_message_send
from tests.api.conftest import assert_error, visitor_says, widget_client
from tests.concurrency import run_concurrently
from tests.factories import ContactInboxFactory, InboxFactory

pytestmark = pytest.mark.django_db

ALWAYS_CLOSED = {"sun": [["00:00", "00:01"]]}  # a week that is closed nearly all the time
ALWAYS_OPEN = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def _resolved(world):
    Inbox.objects.filter(pk=world.inbox_a.pk).update(csat_survey_enabled=True)
    visitor_says(world.visitor_a, "hello")
    conversation_set_status(conversation_id=world.conv_a.pk, status="resolved")
    return world.conv_a


# --- CSAT ------------------------------------------------------------------------------------


def test_csat_answer_201_then_replace_200_and_the_detail_carries_it(world, client_a):
    conversation = _resolved(world)
    assert client_a.get(f"/api/v1/conversations/{conversation.pk}/").json()["csat"] is None
    visitor = widget_client(world.visitor_a)
    first = visitor.post("/api/widget/v1/csat", {"conversation_id": conversation.pk, "rating": 3}, format="json")
    assert first.status_code == 201, first.content
    assert first.json()["rating"] == 3 and first.json()["feedback"] == ""
    again = visitor.post("/api/widget/v1/csat", {"conversation_id": conversation.pk, "rating": 5, "feedback": "Great"},
                         format="json")
    assert again.status_code == 200 and again.json()["rating"] == 5
    assert client_a.get(f"/api/v1/conversations/{conversation.pk}/").json()["csat"] == {"rating": 5, "feedback": "Great"}
    assert CsatResponse.objects.count() == 1
    # The widget's history shows the survey answered (a reload keeps the state).
    history = visitor.get("/api/widget/v1/messages").json()["results"]
    (survey,) = [m for m in history if m["content_type"] == "input_csat"]
    assert survey["sender"] is None and survey["content_attributes"]["submitted"] == {"rating": 5, "feedback": "Great"}
    assert not [m for m in history if m["direction"] == "activity"]  # the rating line is operators' only


def test_csat_from_another_visitor_is_404_and_csat_off_is_409(world):
    conversation = _resolved(world)
    assert_error(widget_client(world.visitor_b).post(
        "/api/widget/v1/csat", {"conversation_id": conversation.pk, "rating": 5}, format="json"), 404, "not_found")
    Inbox.objects.filter(pk=world.inbox_a.pk).update(csat_survey_enabled=False)
    assert_error(widget_client(world.visitor_a).post(
        "/api/widget/v1/csat", {"conversation_id": conversation.pk, "rating": 5}, format="json"), 409, "conflict")
    assert not CsatResponse.objects.exists()


@pytest.mark.parametrize("body", [
    {"conversation_id": None, "rating": 5}, {"conversation_id": "x", "rating": 5}, {"rating": 0}, {"rating": 6}, {"rating": "five"},
    {"rating": 5, "feedback": "z" * 2001}, {"rating": 5, "feedback": "nul\x00"},
])
def test_csat_bad_input_is_400(world, body):
    conversation = _resolved(world)
    response = widget_client(world.visitor_a).post("/api/widget/v1/csat", {"conversation_id": conversation.pk, **body},
                                                   format="json")
    assert_error(response, 400, "invalid_data")
    assert not CsatResponse.objects.exists()


def test_csat_needs_the_widget_token(world):
    assert APIClient().post("/api/widget/v1/csat", {"conversation_id": 1, "rating": 5}, format="json").status_code in (
        401, 403)


# --- The visitor's email ------------------------------------------------------------------------


def test_contact_email_and_name_are_validated_and_saved(world):
    visitor = widget_client(world.visitor_a)
    response = visitor.patch("/api/widget/v1/contact", {"email": "Ann@Example.COM", "name": " Ann "}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"id": world.visitor_a.contact_id, "name": "Ann", "email": "Ann@example.com"}
    assert_error(visitor.patch("/api/widget/v1/contact", {"email": "not an email"}, format="json"), 400, "invalid_data")
    assert_error(visitor.patch("/api/widget/v1/contact", {"name": "No email"}, format="json"), 400, "invalid_data")
    assert_error(visitor.patch("/api/widget/v1/contact", {"email": "a@b.example", "name": "x\x07"}, format="json"),
                 400, "invalid_data")
    assert Contact.objects.get(pk=world.visitor_a.contact_id).email == "Ann@example.com"


def test_an_identified_contact_keeps_the_sites_details(world):
    contact = world.visitor_a.contact
    Contact.objects.filter(pk=contact.pk).update(identifier="user-7", email="known@example.com", name="Site Name")
    response = widget_client(world.visitor_a).patch("/api/widget/v1/contact", {"email": "other@example.com",
                                                                               "name": "Other"}, format="json")
    assert response.status_code == 200
    assert response.json()["email"] == "known@example.com" and response.json()["name"] == "Site Name"


# --- Admin: business hours and CSAT fields ----------------------------------------------------------


def test_admin_sets_hours_timezone_csat_and_out_of_office(world, admin_client):
    url = f"/api/v1/inboxes/{world.inbox_a.pk}/"
    response = admin_client.patch(url, {
        "timezone": "Europe/Berlin", "working_hours": {"mon": [["13:00", "17:00"], ["09:00", "12:00"]]},
        "out_of_office_message": "Back soon", "csat_survey_enabled": True,
    }, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["timezone"] == "Europe/Berlin" and body["csat_survey_enabled"] is True
    assert body["working_hours"]["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]] and body["working_hours"]["sun"] == []
    assert body["out_of_office_message"] == "Back soon"
    assert body["business_hours"] == {"timezone": "Europe/Berlin", "days": body["working_hours"]}  # deprecated alias
    assert admin_client.patch(url, {"working_hours": None}, format="json").json()["working_hours"] is None


@pytest.mark.parametrize(("body", "field"), [
    ({"timezone": "Mars/Base"}, "timezone"), ({"timezone": "../../etc/passwd"}, "timezone"),
    ({"timezone": "x" * 500}, "timezone"), ({"working_hours": {"mon": [["17:00", "09:00"]]}}, "working_hours"),
    ({"working_hours": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "working_hours"),
    ({"working_hours": {"funday": []}}, "working_hours"), ({"working_hours": ["09:00"]}, "working_hours"),
    ({"working_hours": {"mon": [["9", "17"]]}}, "working_hours"), ({"business_hours": {"zone": 1}}, "business_hours"),
])
def test_admin_bad_hours_are_400_naming_the_field_and_change_nothing(world, admin_client, body, field):
    error = assert_error(admin_client.patch(f"/api/v1/inboxes/{world.inbox_a.pk}/", body, format="json"),
                         400, "invalid_data")
    assert field in error.get("fields", {}), error
    inbox = Inbox.objects.get(pk=world.inbox_a.pk)
    assert (inbox.timezone, inbox.working_hours) == ("UTC", None)


def test_the_deprecated_business_hours_alias_writes_the_new_fields(world, admin_client):
    url = f"/api/v1/inboxes/{world.inbox_a.pk}/"
    admin_client.patch(url, {"business_hours": {"timezone": "America/New_York", "days": {"tue": [["08:00", "10:00"]]}}},
                       format="json")
    inbox = Inbox.objects.get(pk=world.inbox_a.pk)
    assert inbox.timezone == "America/New_York" and inbox.working_hours["tue"] == [["08:00", "10:00"]]
    admin_client.patch(url, {"business_hours": {"timezone": "UTC"}}, format="json")
    assert Inbox.objects.get(pk=world.inbox_a.pk).working_hours is None  # no days: always open, as before


# --- Widget config and session: online / next_open_at ----------------------------------------------


def test_config_and_session_outside_hours(world):
    Inbox.objects.filter(pk=world.inbox_a.pk).update(working_hours={"sun": [["00:00", "00:01"]]},
                                                     out_of_office_message="We are closed")
    config = APIClient().get(f"/widget/config/?website_token={world.inbox_a.website_token}").json()
    assert config["online"] is False and config["out_of_office_message"] == "We are closed"
    opens = datetime.fromisoformat(config["next_open_at"].replace("Z", "+00:00"))
    assert opens.weekday() == 6 and (opens.hour, opens.minute) == (0, 0) and opens > datetime.now(UTC)
    session = APIClient().post("/api/widget/v1/sessions", {"website_token": world.inbox_a.website_token},
                               format="json").json()
    assert session["online"] is False and session["next_open_at"] == config["next_open_at"]
    assert session["queue"] is None


def test_config_within_hours_is_online_only_with_someone_available(world):
    Inbox.objects.filter(pk=world.inbox_a.pk).update(working_hours=ALWAYS_OPEN)
    config = APIClient().get(f"/widget/config/?website_token={world.inbox_a.website_token}").json()
    assert config["next_open_at"] is None and config["out_of_office_message"] == ""
    assert config["online"] is False  # nobody connected in this test


# --- Out of office ---------------------------------------------------------------------------------


def _closed(inbox, message="Closed until Monday"):
    Inbox.objects.filter(pk=inbox.pk).update(working_hours=ALWAYS_CLOSED, out_of_office_message=message)


def _ooo_messages(conversation_id):
    return list(Message.objects.filter(conversation_id=conversation_id, content_attributes__out_of_office=True))


def test_out_of_office_answers_once_per_closed_period(world):
    _closed(world.inbox_a)
    visitor = widget_client(world.visitor_a)
    for n in range(4):
        assert visitor.post("/api/widget/v1/messages", {"content": f"hi {n}", "echo_id": f"e{n}"},
                            format="json").status_code == 201
    (ooo,) = _ooo_messages(world.conv_a.pk)
    assert ooo.direction == "outgoing" and ooo.sender_user_id is None and ooo.content == "Closed until Monday"
    assert ooo.content_attributes["next_open_at"].endswith("T00:00:00Z")
    conversation = Conversation.objects.get(pk=world.conv_a.pk)
    assert conversation.first_reply_created_at is None and conversation.waiting_since is not None
    # The widget sees it as a message from nobody.
    history = visitor.get("/api/widget/v1/messages").json()["results"]
    assert [m["sender"] for m in history if m["content_attributes"].get("out_of_office")] == [None]


def test_the_next_closed_period_answers_again(world):
    Inbox.objects.filter(pk=world.inbox_a.pk).update(working_hours={"mon": [["09:00", "17:00"]]})
    inbox = Inbox.objects.get(pk=world.inbox_a.pk)
    monday_night = datetime(2026, 1, 5, 20, 0, tzinfo=UTC)
    out_of_office_reply(inbox=inbox, conversation_id=world.conv_a.pk, at=monday_night)
    out_of_office_reply(inbox=inbox, conversation_id=world.conv_a.pk, at=monday_night + timedelta(hours=5))
    assert len(_ooo_messages(world.conv_a.pk)) == 1
    out_of_office_reply(inbox=inbox, conversation_id=world.conv_a.pk, at=monday_night + timedelta(days=7))
    assert len(_ooo_messages(world.conv_a.pk)) == 2
    assert out_of_office_reply(inbox=inbox, conversation_id=world.conv_a.pk,
                               at=datetime(2026, 1, 12, 10, 0, tzinfo=UTC)) is None  # open: nothing


def test_an_empty_out_of_office_text_gets_the_default(world):
    _closed(world.inbox_a, message="")
    visitor_says(world.visitor_a, "anyone?")
    (ooo,) = _ooo_messages(world.conv_a.pk)
    assert ooo.content


def _send_count(visitor):
    with CaptureQueriesContext(connection) as queries:
        visitor_message_send(contact_inbox_id=visitor.pk, content="count me")
    return len(queries.captured_queries)


def test_within_hours_the_check_costs_no_sql_statement(world):
    visitor_says(world.visitor_a, "warm up")  # the conversation exists and waits
    without_hours = _send_count(world.visitor_a)
    Inbox.objects.filter(pk=world.inbox_a.pk).update(working_hours=ALWAYS_OPEN, timezone="Europe/Berlin")
    within_hours = _send_count(world.visitor_a)
    assert within_hours == without_hours
    _closed(world.inbox_a)
    assert _send_count(world.visitor_a) > without_hours  # outside hours: the answer is written


@pytest.mark.postgres
def test_concurrent_first_messages_outside_hours_get_one_answer(transactional_db):
    inbox = InboxFactory(enable_auto_assignment=False)
    _closed(inbox)
    for _round in range(3):
        visitor = ContactInboxFactory(inbox=inbox)
        results = run_concurrently(
            lambda i, v=visitor: visitor_message_send(contact_inbox_id=v.pk, content=f"first {i}", echo_id=f"c{i}"), 6)
        assert not [r for r in results if isinstance(r, Exception)], results
        (conversation,) = Conversation.objects.filter(contact_inbox=visitor)
        assert Message.objects.filter(conversation=conversation, direction="incoming").count() == 6
        assert len(_ooo_messages(conversation.pk)) == 1
