"""Reports (DESIGN.md §12, docs/reports.md): exact figures on a constructed dataset, scope, CSV,
bad parameters, filled buckets. Every test runs on both databases (PostgreSQL: percentile_cont;
embedded SQLite: durations fetched and interpolated in Python): the same numbers."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chat.api.report_views import ReportThrottle
from chat.models import Conversation, ConversationStatus, CsatResponse, Message, Role
from chat.services.conversations import conversation_set_status
from chat.services.messages import message_create
from tests.api.conftest import World, assert_error, operator_says, token_client, visitor_says
from tests.factories import ContactInboxFactory, InboxMemberFactory, UserFactory, make_conversation

pytestmark = pytest.mark.django_db

SUMMARY, SERIES, AGENTS = "/api/v1/reports/summary", "/api/v1/reports/timeseries", "/api/v1/reports/agents"
NOVEMBER = {"since": "2026-11-01", "until": "2026-11-07"}  # dates: [Nov 1 00:00, Nov 8 00:00) UTC


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def build(inbox: Any, *, created: datetime, assignee: Any = None, first_reply: int | None = None,
          resolved: int | None = None, incoming: int = 1, csat: int | None = None) -> Conversation:
    """A conversation made through the services, then moved to known times: created at
    ``created``, ``incoming`` visitor messages a second later, the first reply after
    ``first_reply`` seconds, resolved (by the status owner) ``resolved`` seconds after creation,
    a CSAT answer a minute after that."""
    visitor = ContactInboxFactory(inbox=inbox)
    conversation = make_conversation(contact_inbox=visitor)
    said = [visitor_says(visitor, f"hello {n}").pk for n in range(incoming)]
    Message.objects.filter(pk__in=said).update(created_at=created + timedelta(seconds=1))
    if assignee is not None:
        Conversation.objects.filter(pk=conversation.pk).update(assignee=assignee)
    changes: dict[str, Any] = {"created_at": created}
    if first_reply is not None:
        reply = operator_says(conversation, assignee, "here to help")
        Message.objects.filter(pk=reply.pk).update(created_at=created + timedelta(seconds=first_reply))
        changes["first_reply_created_at"] = created + timedelta(seconds=first_reply)
    if resolved is not None:
        conversation_set_status(conversation_id=conversation.pk, status=ConversationStatus.RESOLVED,
                                actor_user=assignee)
        assert Conversation.objects.get(pk=conversation.pk).resolved_at is not None  # the owner wrote it
        changes["resolved_at"] = created + timedelta(seconds=resolved)
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    if csat is not None:
        answer = CsatResponse.objects.create(conversation=conversation, contact=visitor.contact, assignee=assignee,
                                             rating=csat)
        CsatResponse.objects.filter(pk=answer.pk).update(
            created_at=created + timedelta(seconds=(resolved or 0) + 60))
    conversation.refresh_from_db()
    return conversation


@dataclass
class Dataset:
    world: World
    sue: Any  # supervisor, member of inbox A
    a6: Conversation


@pytest.fixture
def dataset(world: World) -> Dataset:
    """Inbox A (Ann, Sue) and B (Bob); figures of November 1-7 worked out by hand in the tests."""
    w = world
    sue = UserFactory(username="sue", profile=Role.SUPERVISOR)
    InboxMemberFactory(inbox=w.inbox_a, user=sue)
    a1 = build(w.inbox_a, created=at("2026-11-02T10:00"), assignee=w.agent_a, first_reply=60, resolved=3600,
               incoming=3, csat=5)
    message_create(conversation_id=a1.pk, direction="outgoing", content="note", private=True, sender_user=w.agent_a)
    a2 = build(w.inbox_a, created=at("2026-11-02T10:30"), assignee=w.agent_a, first_reply=120, resolved=7200,
               csat=3)
    message_create(conversation_id=a2.pk, direction="outgoing", content="We are away")  # automatic: no sender
    Message.objects.filter(conversation__in=[a1, a2], direction="outgoing", created_at__gte=at("2026-12-01")) \
        .update(created_at=at("2026-11-02T11:00"))  # the note and the automatic message, in the window
    build(w.inbox_a, created=at("2026-11-03T09:00"), assignee=w.agent_a, first_reply=300)
    build(w.inbox_a, created=at("2026-11-03T23:30"))  # no reply, unassigned; Nov 4 in Paris
    # Created in October, resolved on Nov 4 at 12:00: counted as resolved, not as opened.
    build(w.inbox_a, created=at("2026-10-25T12:00"), assignee=sue, first_reply=30, resolved=10 * 86400)
    # Resolved, then reopened by the visitor: not resolved any more.
    a6 = build(w.inbox_a, created=at("2026-11-05T08:00"), assignee=sue, first_reply=600, resolved=900)
    again = visitor_says(a6.contact_inbox, "one more thing")
    Message.objects.filter(pk=again.pk).update(created_at=at("2026-11-05T08:20"))
    build(w.inbox_b, created=at("2026-11-02T11:00"), assignee=w.agent_b, first_reply=1000, resolved=5000, csat=1)
    return Dataset(world=w, sue=sue, a6=a6)


def get(client: Any, url: str, **params: Any) -> dict[str, Any]:
    response = client.get(url, params)
    assert response.status_code == 200, response.content
    return response.json()


INBOX_A_FIGURES = {
    "conversations_opened": 5,
    "conversations_resolved": 3,
    "messages_incoming": 8,
    "messages_outgoing": 4,
    # first replies 60, 120, 300, 600 s: median (120 + 300) / 2, p90 300 + 0.7 × 300
    "first_response_seconds": {"median": 210.0, "p90": 510.0},
    # 3,600, 7,200 and 864,000 s (ten days): p90 7,200 + 0.8 × 856,800
    "resolution_seconds": {"median": 7200.0, "p90": 692640.0},
    "csat": {"responses": 2, "average": 4.0, "satisfied_share": 0.5},
}


def figures(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("since", "until")}


def test_reopening_clears_resolved_at(dataset):
    a6 = Conversation.objects.get(pk=dataset.a6.pk)
    assert a6.status == ConversationStatus.OPEN
    assert a6.resolved_at is None


def test_summary_of_one_inbox(dataset, admin_client):
    body = get(admin_client, SUMMARY, inbox=dataset.world.inbox_a.pk, **NOVEMBER)
    assert body["since"] == "2026-11-01T00:00:00Z"
    assert body["until"] == "2026-11-08T00:00:00Z"  # a date until includes that day
    assert figures(body) == INBOX_A_FIGURES


def test_summary_of_every_inbox(dataset, admin_client):
    assert figures(get(admin_client, SUMMARY, **NOVEMBER)) == {
        "conversations_opened": 6,
        "conversations_resolved": 4,
        "messages_incoming": 9,
        "messages_outgoing": 5,
        "first_response_seconds": {"median": 300.0, "p90": 840.0},  # 60 120 300 600 1000
        "resolution_seconds": {"median": 6100.0, "p90": 606960.0},  # 3600 5000 7200 864000
        "csat": {"responses": 3, "average": 3.0, "satisfied_share": 0.3333},
    }


def test_an_agent_sees_the_figures_of_their_inboxes_only(dataset, client_a):
    assert figures(get(client_a, SUMMARY, **NOVEMBER)) == INBOX_A_FIGURES
    assert_error(client_a.get(SUMMARY, {"inbox": dataset.world.inbox_b.pk, **NOVEMBER}), 404, "not_found")
    assert_error(client_a.get(SERIES, {"metric": "conversations_opened", "inbox": dataset.world.inbox_b.pk}),
                 404, "not_found")
    assert_error(client_a.get(AGENTS, {"inbox": dataset.world.inbox_b.pk}), 404, "not_found")
    assert_error(client_a.get(SUMMARY, {"inbox": 10**9}), 404, "not_found")


def test_an_empty_window_has_zero_counts_and_null_medians(dataset, admin_client):
    assert figures(get(admin_client, SUMMARY, since="2025-01-01", until="2025-01-31")) == {
        "conversations_opened": 0, "conversations_resolved": 0, "messages_incoming": 0, "messages_outgoing": 0,
        "first_response_seconds": {"median": None, "p90": None},
        "resolution_seconds": {"median": None, "p90": None},
        "csat": {"responses": 0, "average": None, "satisfied_share": None},
    }


AGENT_ROWS = {
    "Ann": {"conversations_assigned": 3, "conversations_resolved": 2, "messages_sent": 3,
            "first_response_seconds_median": 120.0, "resolution_seconds_median": 5400.0,
            "csat_average": 4.0, "csat_responses": 2},
    "Bob": {"conversations_assigned": 1, "conversations_resolved": 1, "messages_sent": 1,
            "first_response_seconds_median": 1000.0, "resolution_seconds_median": 5000.0,
            "csat_average": 1.0, "csat_responses": 1},
    "Sue": {"conversations_assigned": 1, "conversations_resolved": 1, "messages_sent": 1,
            "first_response_seconds_median": 600.0, "resolution_seconds_median": 864000.0,
            "csat_average": None, "csat_responses": 0},
}


def rows_by_name(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: {k: v for k, v in row.items() if k not in ("id", "name")} for row in body["results"]}


def test_agents_table_for_an_administrator(dataset, admin_client):
    body = get(admin_client, AGENTS, **NOVEMBER)
    assert [row["name"] for row in body["results"]] == ["Ann", "Bob", "Sue"]  # members; root has no activity
    assert rows_by_name(body) == AGENT_ROWS


def test_each_agent_row_is_the_summary_filtered_by_that_agent(dataset, admin_client):
    for row in get(admin_client, AGENTS, **NOVEMBER)["results"]:
        summary = get(admin_client, SUMMARY, agent=row["id"], **NOVEMBER)
        assert (summary["conversations_opened"], summary["conversations_resolved"], summary["messages_outgoing"],
                summary["first_response_seconds"]["median"], summary["resolution_seconds"]["median"],
                summary["csat"]["average"], summary["csat"]["responses"]) == (
            row["conversations_assigned"], row["conversations_resolved"], row["messages_sent"],
            row["first_response_seconds_median"], row["resolution_seconds_median"], row["csat_average"],
            row["csat_responses"]), row["name"]


def test_agents_see_their_own_row_supervisors_their_inboxes(dataset, client_a):
    w = dataset.world
    assert rows_by_name(get(client_a, AGENTS, **NOVEMBER)) == {"Ann": AGENT_ROWS["Ann"]}
    assert get(client_a, SUMMARY, agent=w.agent_a.pk, **NOVEMBER)["messages_outgoing"] == 3
    assert_error(client_a.get(SUMMARY, {"agent": dataset.sue.pk}), 404, "not_found")  # a colleague
    assert_error(client_a.get(SUMMARY, {"agent": w.agent_b.pk}), 404, "not_found")
    supervisor = token_client(dataset.sue)
    assert rows_by_name(get(supervisor, AGENTS, **NOVEMBER)) == {"Ann": AGENT_ROWS["Ann"], "Sue": AGENT_ROWS["Sue"]}
    assert get(supervisor, SUMMARY, agent=w.agent_a.pk, **NOVEMBER)["conversations_opened"] == 3
    assert_error(supervisor.get(SUMMARY, {"agent": w.agent_b.pk}), 404, "not_found")  # Bob is in B only
    assert_error(supervisor.get(SUMMARY, {"agent": 10**9}), 404, "not_found")


def test_agents_table_of_one_inbox(dataset, admin_client):
    body = get(admin_client, AGENTS, inbox=dataset.world.inbox_b.pk, **NOVEMBER)
    assert rows_by_name(body) == {"Bob": AGENT_ROWS["Bob"]}


def points(body: dict[str, Any]) -> list[tuple[str, Any]]:
    return [(p["t"], p["value"]) for p in body["points"]]


def test_daily_series_fill_every_day(dataset, client_a):
    days = [f"2026-11-0{d}T00:00:00Z" for d in range(1, 8)]
    opened = get(client_a, SERIES, metric="conversations_opened", bucket="day", **NOVEMBER)
    assert points(opened) == list(zip(days, [0, 2, 2, 0, 1, 0, 0], strict=True))
    first = get(client_a, SERIES, metric="first_response_seconds", **NOVEMBER)  # bucket: day by default
    assert first["bucket"] == "day"
    assert points(first) == list(zip(days, [None, 90.0, 300.0, None, 600.0, None, None], strict=True))


def test_daily_series_in_a_time_zone(dataset, client_a):
    body = get(client_a, SERIES, metric="conversations_opened", bucket="day", tz="Europe/Paris", **NOVEMBER)
    assert body["tz"] == "Europe/Paris"
    # Paris midnights (UTC+1 in November); the 23:30 UTC conversation of Nov 3 is Nov 4 there.
    assert points(body) == [("2026-10-31T23:00:00Z", 0), ("2026-11-01T23:00:00Z", 2), ("2026-11-02T23:00:00Z", 1),
                            ("2026-11-03T23:00:00Z", 1), ("2026-11-04T23:00:00Z", 1), ("2026-11-05T23:00:00Z", 0),
                            ("2026-11-06T23:00:00Z", 0)]


def test_hourly_series(dataset, admin_client, client_a):
    window = {"since": "2026-11-02T10:00:00Z", "until": "2026-11-02T12:00:00Z"}
    body = get(admin_client, SERIES, metric="messages_incoming", bucket="hour", **window)
    assert points(body) == [("2026-11-02T10:00:00Z", 4), ("2026-11-02T11:00:00Z", 1)]
    assert points(get(client_a, SERIES, metric="messages_incoming", bucket="hour", **window)) == [
        ("2026-11-02T10:00:00Z", 4), ("2026-11-02T11:00:00Z", 0)]
    # A half-hour zone: hours start at :30 UTC; a time without offset is a wall time in tz.
    kolkata = get(client_a, SERIES, metric="conversations_opened", bucket="hour", tz="Asia/Kolkata",
                  since="2026-11-02T14:30", until="2026-11-02T16:30")
    assert points(kolkata) == [("2026-11-02T08:30:00Z", 0), ("2026-11-02T09:30:00Z", 1), ("2026-11-02T10:30:00Z", 1)]


def test_series_filtered_by_agent(dataset, admin_client):
    body = get(admin_client, SERIES, metric="conversations_opened", agent=dataset.sue.pk, **NOVEMBER)
    assert [p["value"] for p in body["points"]] == [0, 0, 0, 0, 1, 0, 0]


def test_default_window_is_the_last_seven_days(world, admin_client):
    body = get(admin_client, SUMMARY)
    since, until = datetime.fromisoformat(body["since"]), datetime.fromisoformat(body["until"])
    assert until - since == timedelta(days=7)
    assert abs(until - datetime.now(UTC)) < timedelta(minutes=1)
    assert body["conversations_opened"] == 2  # the world's two conversations, created now
    assert len(get(admin_client, SERIES, metric="conversations_opened")["points"]) == 8  # 7 days, partial ends


def csv_rows(response: Any, name: str) -> list[list[str]]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="report-{name}-')
    text = response.content.decode()
    assert text.endswith("\r\n")
    return list(csv.reader(io.StringIO(text)))


def test_csv_downloads(dataset, admin_client):
    summary = csv_rows(admin_client.get(SUMMARY, {"inbox": dataset.world.inbox_a.pk, "format": "csv", **NOVEMBER}),
                       "summary")
    assert summary[0] == ["metric", "value"]
    assert dict(summary[1:]) == {
        "conversations_opened": "5", "conversations_resolved": "3", "messages_incoming": "8",
        "messages_outgoing": "4", "first_response_seconds_median": "210.0", "first_response_seconds_p90": "510.0",
        "resolution_seconds_median": "7200.0", "resolution_seconds_p90": "692640.0", "csat_responses": "2",
        "csat_average": "4.0", "csat_satisfied_share": "0.5",
    }
    series = csv_rows(admin_client.get(SERIES, {"metric": "first_response_seconds", "format": "csv",
                                                "inbox": dataset.world.inbox_a.pk, **NOVEMBER}),
                      "first_response_seconds-day")
    assert series[0] == ["t", "value"]
    assert series[1:3] == [["2026-11-01T00:00:00Z", ""], ["2026-11-02T00:00:00Z", "90.0"]]  # null: empty cell
    assert len(series) == 8
    agents = csv_rows(admin_client.get(AGENTS, {"format": "csv", **NOVEMBER}), "agents")
    assert agents[0] == ["id", "name", "conversations_assigned", "conversations_resolved", "messages_sent",
                         "first_response_seconds_median", "resolution_seconds_median", "csat_average",
                         "csat_responses"]
    assert agents[3][1:] == ["Sue", "1", "1", "1", "600.0", "864000.0", "", "0"]


def test_csv_cells_never_start_a_formula(dataset, admin_client):
    evil = UserFactory(username="mallory")
    evil.operator_profile.display_name = '=HYPERLINK("http://evil.example","Click"), "quoted"\nline'
    evil.operator_profile.save()
    InboxMemberFactory(inbox=dataset.world.inbox_a, user=evil)
    rows = csv_rows(admin_client.get(AGENTS, {"format": "csv"}), "agents")
    names = [row[1] for row in rows[1:]]
    assert "'" + evil.operator_profile.display_name in names  # quoting kept the comma, quotes, newline
    assert all(not name.startswith(("=", "+", "-", "@")) for name in names)


@pytest.mark.parametrize("url, params, field", [
    (SUMMARY, {"since": "yesterday"}, "since"),
    (SUMMARY, {"since": "2026-02-30"}, "since"),
    (SUMMARY, {"until": "2026-11-01T25:00"}, "until"),
    (SUMMARY, {"since": "2026-11-05", "until": "2026-11-01"}, "until"),
    (SUMMARY, {"since": "2026-11-05T10:00Z", "until": "2026-11-05T10:00Z"}, "until"),
    (SUMMARY, {"since": "2025-01-01", "until": "2026-06-01"}, "since"),  # more than a year
    (SUMMARY, {"until": "0001-01-01"}, "since"),
    (SUMMARY, {"until": "9999-12-31"}, "until"),
    (SUMMARY, {"since": "1969-12-31", "until": "1970-01-05"}, "since"),
    (SUMMARY, {"since": "8999-12-31", "until": "9000-01-01"}, "until"),
    (SUMMARY, {"since": "0001-01-01T00:00:00+05:00"}, "since"),
    (SUMMARY, {"since": "9999-12-31T23:00:00-05:00"}, "since"),
    (SERIES, {"metric": "conversations_opened", "since": "9999-12-31T00:00", "tz": "Pacific/Kiritimati",
              "until": "9999-12-31T12:00"}, "since"),
    (SUMMARY, {"tz": "Mars/Olympus"}, "tz"),
    (SUMMARY, {"tz": "../../../etc/passwd"}, "tz"),
    (SUMMARY, {"tz": "x" * 500}, "tz"),
    (SUMMARY, {"inbox": "abc"}, "inbox"),
    (SUMMARY, {"inbox": "-3"}, "inbox"),
    (SUMMARY, {"inbox": "9" * 30}, "inbox"),
    (SUMMARY, {"agent": "me"}, "agent"),
    (SUMMARY, {"format": "xml"}, "format"),
    (AGENTS, {"since": "2026-13-01"}, "since"),
    (SERIES, {}, "metric"),
    (SERIES, {"metric": "revenue"}, "metric"),
    (SERIES, {"metric": "conversations_opened", "bucket": "week"}, "bucket"),
    # 2,001 hours: past the bucket bound (day buckets answer the same window)
    (SERIES, {"metric": "conversations_opened", "bucket": "hour", "since": "2026-01-01",
              "until": "2026-03-25T09:00:00Z"}, "bucket"),
    (SERIES, {"metric": "messages_incoming", "bucket": "hour", "since": "2026-01-01", "until": "2026-12-31"}, "bucket"),
])
def test_bad_parameters_are_400_with_a_code(world, admin_client, url, params, field):
    for chosen in ("json", "csv"):  # errors are JSON whatever the format asked
        query = {**params, "format": params.get("format", chosen)}
        error = assert_error(admin_client.get(url, query), 400, "invalid_data")
        assert field in error["fields"], error


def test_bucket_bound_is_inclusive(world, admin_client):
    body = get(admin_client, SERIES, metric="conversations_opened", bucket="hour", since="2026-01-01",
               until="2026-03-25T08:00:00Z")  # 83 days and 8 hours: 2,000 hours
    assert len(body["points"]) == 2000
    year = get(admin_client, SERIES, metric="conversations_opened", bucket="day", since="2024-01-01",
               until="2024-12-31")
    assert len(year["points"]) == 366


def test_reports_need_an_operator(world):
    from rest_framework.test import APIClient

    for url in (SUMMARY, SERIES, AGENTS):
        assert APIClient().get(url, {"metric": "conversations_opened"}).status_code in (401, 403)


def test_a_deactivated_operator_keeps_their_row(dataset, admin_client):
    w = dataset.world
    w.agent_b.is_active = False
    w.agent_b.save()
    assert rows_by_name(get(admin_client, AGENTS, **NOVEMBER))["Bob"] == AGENT_ROWS["Bob"]
    assert token_client(w.agent_b).get(SUMMARY).status_code in (401, 403)


def test_the_schema_documents_the_three_endpoints(world, admin_client):
    schema = admin_client.get("/api/schema/", {"format": "json"}).json()
    for path, operation in (("/api/v1/reports/summary", "reports_summary"),
                            ("/api/v1/reports/timeseries", "reports_timeseries"),
                            ("/api/v1/reports/agents", "reports_agents")):
        get_op = schema["paths"][path]["get"]
        assert get_op["operationId"] == operation
        assert {"since", "until", "tz", "inbox", "format"} <= {p["name"] for p in get_op["parameters"]}
        assert set(get_op["responses"]["200"]["content"]) == {"application/json", "text/csv"}
        assert "404" in get_op["responses"]
    summary = schema["components"]["schemas"]["ReportSummary"]["properties"]
    assert {"conversations_opened", "conversations_resolved", "messages_incoming", "messages_outgoing",
            "first_response_seconds", "resolution_seconds", "csat"} <= set(summary)
    points = schema["components"]["schemas"]["ReportTimeseries"]["properties"]["points"]
    assert points["type"] == "array"


def test_report_requests_are_throttled_per_operator(world, client_a, client_b, monkeypatch):
    monkeypatch.setitem(ReportThrottle.THROTTLE_RATES, "reports", "3/min")
    assert [client_a.get(SUMMARY).status_code for _ in range(4)] == [200, 200, 200, 429]
    assert_error(client_a.get(AGENTS, {"format": "csv"}), 429, "rate_limited")
    assert client_b.get(SUMMARY).status_code == 200  # another operator's own budget
