"""Reports (DESIGN.md §12, docs/reports.md): the one owner of what the report figures mean and
of who may see which.

Figures of a window ``[since, until)`` (chat/selectors/report_window.py), over the inboxes the
caller sees (chat.selectors.scope; ``inbox=`` narrows it, outside the scope: 404):

* ``conversations_opened``: conversations created in the window.
* ``conversations_resolved``: conversations whose latest resolution (``resolved_at``) is in the
  window and that are still resolved (a reopened conversation counts when it is resolved again).
* ``messages_incoming``: the contacts' messages; ``messages_outgoing``: public replies written by
  operators (no private notes, no automatic messages without a sender).
* ``first_response_seconds``: ``first_reply_created_at - created_at`` of the conversations
  created in the window that have a reply; ``resolution_seconds``: ``resolved_at - created_at``
  of the conversations resolved in the window. Median and 90th percentile, interpolated
  (``percentile_cont``), in seconds, one decimal. Wall-clock time: business hours do not change
  the math in this release.
* ``csat``: answers given in the window; satisfied = rating 4 or 5.

``agent=<id>`` keeps what that operator handled: conversations whose assignee they are now
(opened, resolved, their incoming messages, response and resolution times), the replies they
wrote, the CSAT answers given while they were the assignee. The per-agent table is exactly the
summary with ``agent=`` for each operator. Agents see their own row and may filter only by
themselves; supervisors and administrators see every operator of their scope.

Computed in the database: counts and averages with aggregates on both databases; percentiles
with ``percentile_cont`` on PostgreSQL, and on SQLite (no such aggregate) by fetching the one
duration per conversation and interpolating the same way in Python (``_durations_by``).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    Aggregate,
    Avg,
    Count,
    DateTimeField,
    F,
    FloatField,
    Func,
    Q,
    QuerySet,
)
from django.db.models.functions import Trunc
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData, NotFound
from chat.models import Conversation, CsatResponse, Inbox, InboxMember, Message, MessageDirection, Role
from chat.payloads import iso, user_summary
from chat.selectors.report_window import ReportWindow, bucket_key, bucket_starts, bucket_zone
from chat.selectors.scope import CallerScope, caller_scope

User = get_user_model()

METRICS = ("conversations_opened", "messages_incoming", "first_response_seconds")
SATISFIED_RATING = 4


# --- SQL pieces ---------------------------------------------------------------------------------


class Seconds(Func):
    """``end - start`` in seconds (float) on PostgreSQL and SQLite."""

    output_field = FloatField()
    arity = 2

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="EXTRACT(EPOCH FROM (%(expressions)s))::float8",
                           arg_joiner=" - ", **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(compiler, connection, template="((julianday(%(expressions)s)) * 86400.0)",
                           arg_joiner=") - julianday(", **extra)


class PercentileCont(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError(fraction)
        super().__init__(expression, fraction=repr(float(fraction)))


FIRST_RESPONSE = Seconds(F("first_reply_created_at"), F("created_at"))
RESOLUTION = Seconds(F("resolved_at"), F("created_at"))


def percentile_cont(ordered: list[float], fraction: float) -> float | None:
    """``percentile_cont`` of sorted values: linear interpolation between the closest ranks."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


@dataclass(frozen=True)
class Durations:
    count: int  # rows, with or without a duration
    median: float | None
    p90: float | None


NO_DURATIONS = Durations(0, None, None)


def _durations_by(queryset: QuerySet[Any], seconds: Func, *, key: str | None = None) -> dict[Any, Durations]:
    """Row count, median and p90 of ``seconds`` (nulls ignored), per value of the annotation or
    field ``key`` (None: one group). One query on either database."""
    queryset = queryset.order_by()
    if connection.vendor == "postgresql":
        stats = {"n": Count("*"), "median": PercentileCont(seconds, 0.5), "p90": PercentileCont(seconds, 0.9)}
        if key is None:
            row = queryset.aggregate(**stats)
            return {None: Durations(row["n"], _seconds(row["median"]), _seconds(row["p90"]))}
        return {row[key]: Durations(row["n"], _seconds(row["median"]), _seconds(row["p90"]))
                for row in queryset.values(key).annotate(**stats)}
    groups: dict[Any, list[float | None]] = {}
    fields = (key, "report_seconds") if key else ("report_seconds",)
    for row in queryset.annotate(report_seconds=seconds).values_list(*fields):
        groups.setdefault(row[0] if key else None, []).append(row[-1])
    result = {}
    for group, values in groups.items():
        ordered = sorted(v for v in values if v is not None)
        result[group] = Durations(len(values), _seconds(percentile_cont(ordered, 0.5)),
                                  _seconds(percentile_cont(ordered, 0.9)))
    return result


# --- Scope --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportScope:
    """What a report may read: the caller's inboxes (narrowed to ``inbox_id``), one operator."""

    caller: CallerScope
    inbox_id: int | None
    agent_id: int | None

    @property
    def sees_colleagues(self) -> bool:
        return self.caller.is_admin or self.caller.role == Role.SUPERVISOR

    def inbox_q(self, field: str) -> Q:
        q = self.caller.inbox_q(field)
        return q & Q(**{field: self.inbox_id}) if self.inbox_id is not None else q


def report_scope(*, user: Any, inbox_id: int | None = None, agent_id: int | None = None) -> ReportScope:
    """The caller's report scope, or NotFound for an inbox or an operator outside it (an agent
    may name only themselves; others an operator of one of their inboxes or who handled one of
    their conversations)."""
    caller = caller_scope(user)
    if inbox_id is not None and not (Inbox.objects.filter(pk=inbox_id).exists() and caller.sees_inbox(inbox_id)):
        raise NotFound(_("Inbox not found."))
    scope = ReportScope(caller=caller, inbox_id=inbox_id, agent_id=agent_id)
    if agent_id is not None and agent_id != caller.user_id:
        visible = scope.sees_colleagues and User.objects.filter(pk=agent_id).exists() and (
            caller.is_admin
            or InboxMember.objects.filter(scope.inbox_q("inbox_id"), user_id=agent_id).exists()
            or Conversation.objects.filter(scope.inbox_q("inbox_id"), assignee_id=agent_id).exists()
        )
        if not visible:
            raise NotFound(_("Operator not found."))
    return scope


# --- The rows a figure counts --------------------------------------------------------------------


def _window(field: str, window: ReportWindow) -> Q:
    return Q(**{f"{field}__gte": window.since, f"{field}__lt": window.until})


def _opened(scope: ReportScope, window: ReportWindow) -> QuerySet[Conversation]:
    queryset = Conversation.objects.filter(scope.inbox_q("inbox_id"), _window("created_at", window))
    return queryset if scope.agent_id is None else queryset.filter(assignee_id=scope.agent_id)


def _resolved(scope: ReportScope, window: ReportWindow) -> QuerySet[Conversation]:
    queryset = Conversation.objects.filter(scope.inbox_q("inbox_id"), _window("resolved_at", window))
    return queryset if scope.agent_id is None else queryset.filter(assignee_id=scope.agent_id)


def _incoming_q(scope: ReportScope) -> Q:
    q = Q(direction=MessageDirection.INCOMING)
    return q if scope.agent_id is None else q & Q(conversation__assignee_id=scope.agent_id)


def _outgoing_q(scope: ReportScope) -> Q:
    q = Q(direction=MessageDirection.OUTGOING, private=False, sender_user__isnull=False)
    return q if scope.agent_id is None else q & Q(sender_user_id=scope.agent_id)


def _messages(scope: ReportScope, window: ReportWindow) -> QuerySet[Message]:
    return Message.objects.filter(scope.inbox_q("conversation__inbox_id"), _window("created_at", window))


def _csat(scope: ReportScope, window: ReportWindow) -> QuerySet[CsatResponse]:
    queryset = CsatResponse.objects.filter(scope.inbox_q("conversation__inbox_id"), _window("created_at", window))
    return queryset if scope.agent_id is None else queryset.filter(assignee_id=scope.agent_id)


_CSAT_STATS = {"responses": Count("*"), "average": Avg("rating"),
               "satisfied": Count("rating", filter=Q(rating__gte=SATISFIED_RATING))}


def _csat_figures(row: dict[str, Any]) -> dict[str, Any]:
    responses = row.get("responses") or 0
    return {
        "responses": responses,
        "average": round(float(row["average"]), 2) if responses else None,
        "satisfied_share": round(row["satisfied"] / responses, 4) if responses else None,
    }


# --- Reports ------------------------------------------------------------------------------------


def report_summary(*, scope: ReportScope, window: ReportWindow) -> dict[str, Any]:
    """The summary figures (module docstring). Four queries."""
    opened = _durations_by(_opened(scope, window), FIRST_RESPONSE).get(None, NO_DURATIONS)
    resolved = _durations_by(_resolved(scope, window), RESOLUTION).get(None, NO_DURATIONS)
    incoming, outgoing = _incoming_q(scope), _outgoing_q(scope)
    messages = _messages(scope, window).filter(incoming | outgoing).aggregate(
        incoming=Count("direction", filter=incoming), outgoing=Count("direction", filter=outgoing))
    return {
        "since": iso(window.since),
        "until": iso(window.until),
        "conversations_opened": opened.count,
        "conversations_resolved": resolved.count,
        "messages_incoming": messages["incoming"],
        "messages_outgoing": messages["outgoing"],
        "first_response_seconds": {"median": opened.median, "p90": opened.p90},
        "resolution_seconds": {"median": resolved.median, "p90": resolved.p90},
        "csat": _csat_figures(_csat(scope, window).aggregate(**_CSAT_STATS)),
    }


def report_metric(value: Any) -> str:
    if value not in METRICS:
        raise InvalidData(_("metric: unknown."), fields={"metric": [format_lazy(_("One of {choices}."), choices=", ".join(METRICS))]})
    return str(value)


def report_timeseries(*, scope: ReportScope, window: ReportWindow, metric: str, bucket: str) -> dict[str, Any]:
    """``{"points": [{"t", "value"}...]}``: every bucket of the window (bucket starts in UTC),
    counts filled with 0, medians with null where nothing happened. One query."""
    starts = bucket_starts(window, bucket)
    zone = bucket_zone(window, bucket)

    def trunc(field: str) -> Trunc:
        return Trunc(field, bucket, output_field=DateTimeField(), tzinfo=zone)

    values: dict[datetime, Any]
    empty: Any = 0
    if metric in ("conversations_opened", "messages_incoming"):
        rows: QuerySet[Any] = (_opened(scope, window) if metric == "conversations_opened"
                               else _messages(scope, window).filter(_incoming_q(scope)))
        counted = rows.order_by().annotate(bucket=trunc("created_at")).values("bucket").annotate(n=Count("*"))
        values = {row["bucket"]: row["n"] for row in counted}
    else:
        assert metric == "first_response_seconds", metric
        empty = None
        durations = _durations_by(_opened(scope, window).annotate(bucket=trunc("created_at")), FIRST_RESPONSE,
                                  key="bucket")
        values = {key: stats.median for key, stats in durations.items()}
    by_start = {bucket_key(key): value for key, value in values.items()}
    return {
        "metric": metric,
        "bucket": bucket,
        "tz": window.tz_name,
        "since": iso(window.since),
        "until": iso(window.until),
        "points": [{"t": iso(start), "value": by_start.get(start, empty)} for start in starts],
    }


AGENT_COLUMNS = ("id", "name", "conversations_assigned", "conversations_resolved", "messages_sent",
                 "first_response_seconds_median", "resolution_seconds_median", "csat_average", "csat_responses")


def report_agents(*, scope: ReportScope, window: ReportWindow) -> dict[str, Any]:
    """One row per operator in scope (members of the scope's inboxes, and anyone who handled a
    conversation of them in the window), ordered by name; an agent gets only their own row.
    Each row equals the summary with ``agent=`` that operator. Six queries."""
    if not scope.sees_colleagues:
        scope = ReportScope(caller=scope.caller, inbox_id=scope.inbox_id, agent_id=scope.caller.user_id)
    opened = _durations_by(_opened(scope, window), FIRST_RESPONSE, key="assignee_id")
    resolved = _durations_by(_resolved(scope, window), RESOLUTION, key="assignee_id")
    sent = dict(_messages(scope, window).filter(_outgoing_q(scope)).order_by().values("sender_user_id")
                .annotate(n=Count("*")).values_list("sender_user_id", "n"))
    csat = {row["assignee_id"]: _csat_figures(dict(row))
            for row in _csat(scope, window).order_by().values("assignee_id").annotate(**_CSAT_STATS)}
    if scope.agent_id is not None:
        ids: set[Any] = {scope.agent_id}
    else:
        members = InboxMember.objects.filter(scope.inbox_q("inbox_id"), user__is_active=True)
        ids = set(members.values_list("user_id", flat=True)) | set(opened) | set(resolved) | set(sent) | set(csat)
        ids.discard(None)
    rows = [_agent_row(user, opened, resolved, sent, csat) for user in _operators(ids)]
    rows.sort(key=lambda row: (str(row["name"]).casefold(), row["id"]))
    return {"since": iso(window.since), "until": iso(window.until), "results": rows}


def _operators(ids: Iterable[Any]) -> QuerySet[Any]:
    return User.objects.filter(pk__in=list(ids)).select_related("operator_profile")


def _agent_row(user: Any, opened: dict[Any, Durations], resolved: dict[Any, Durations], sent: dict[Any, int],
               csat: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    mine_opened = opened.get(user.pk, NO_DURATIONS)
    mine_resolved = resolved.get(user.pk, NO_DURATIONS)
    mine_csat = csat.get(user.pk) or {"responses": 0, "average": None}
    summary = user_summary(user) or {}
    return {
        "id": user.pk,
        "name": summary.get("name", ""),
        "conversations_assigned": mine_opened.count,
        "conversations_resolved": mine_resolved.count,
        "messages_sent": sent.get(user.pk, 0),
        "first_response_seconds_median": mine_opened.median,
        "resolution_seconds_median": mine_resolved.median,
        "csat_average": mine_csat["average"],
        "csat_responses": mine_csat["responses"],
    }
