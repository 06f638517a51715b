"""Reports over REST (DESIGN.md §12, docs/reports.md): summary, time series, per-agent table.

The views parse the query, ask chat.selectors.reports (scope, figures) and answer JSON, or CSV
with ``?format=csv`` (a download; errors stay JSON whatever the format).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from django.http import HttpResponse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chat.api import report_serializers as rs
from chat.api import serializers as s
from chat.api.security import IsOperator, StoreRateThrottle
from chat.api.transcripts import IgnoreFormatNegotiation
from chat.errors import InvalidData
from chat.selectors.report_window import ReportWindow, bucket_param, report_window
from chat.selectors.reports import (
    AGENT_COLUMNS,
    METRICS,
    ReportScope,
    report_agents,
    report_metric,
    report_scope,
    report_summary,
    report_timeseries,
)

FORMATS = ("json", "csv")
_ID_MAX = 2**63 - 1
# A cell starting with one of these is a formula to spreadsheet programs (CSV injection, OWASP):
# such text cells get a leading apostrophe, which they show as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")

ERRORS = {400: s.ErrorSerializer, 401: s.ErrorSerializer, 403: s.ErrorSerializer, 404: s.ErrorSerializer}

WINDOW_PARAMETERS = [
    OpenApiParameter("since", str, description=(
        "Start (inclusive): an ISO 8601 date (midnight in tz) or time (no offset: in tz). "
        "Default: 7 days before until.")),
    OpenApiParameter("until", str, description=(
        "End (exclusive): an ISO 8601 time, or a date (that whole day included). Default: now. "
        "After since, at most 366 days after it.")),
    OpenApiParameter("tz", str, description="IANA time zone of dates and buckets (default UTC)."),
    OpenApiParameter("inbox", int, description="Only this inbox (404 outside the caller's inboxes)."),
    OpenApiParameter("format", str, enum=list(FORMATS), description="json (default) or csv (a download)."),
]
AGENT_PARAMETER = OpenApiParameter("agent", int, description=(
    "Only what this operator handled (docs/reports.md). Agents may name only themselves (404)."))


def _id_param(params: Any, name: str) -> int | None:
    raw = params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= _ID_MAX:
        raise InvalidData(format_lazy(_("{name} must be a positive integer."), name=name), fields={name: [_("A positive integer.")]})
    return value


def _format_param(params: Any) -> str:
    chosen = params.get("format") or "json"
    if chosen not in FORMATS:
        raise InvalidData(_("format must be json or csv."), fields={"format": [_("json or csv.")]})
    return str(chosen)


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: None empty, text that would start a formula quoted as text."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_response(name: str, window: ReportWindow, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # RFC 4180: quoted as needed, CRLF line ends
    writer.writerow(header)
    writer.writerows([csv_cell(cell) for cell in row] for row in rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    span = f"{window.since:%Y%m%dT%H%M}Z-{window.until:%Y%m%dT%H%M}Z"
    response["Content-Disposition"] = f'attachment; filename="report-{name}-{span}.csv"'
    return response


class ReportThrottle(StoreRateThrottle):
    """Report requests per operator (``THROTTLE_REPORTS``): each may scan a year of messages."""

    scope = "reports"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        user_id = getattr(request.user, "pk", None)
        return self.cache_format % {"scope": self.scope, "ident": user_id} if user_id else None


class ReportView(APIView):
    permission_classes = [IsOperator]
    throttle_classes = [ReportThrottle]
    content_negotiation_class = IgnoreFormatNegotiation  # ?format= is the report's, not DRF's

    def parse(self, request: Request, *, with_agent: bool = True) -> tuple[ReportScope, ReportWindow, str]:
        params = request.query_params
        chosen = _format_param(params)
        window = report_window(params)
        inbox_id = _id_param(params, "inbox")
        agent_id = _id_param(params, "agent") if with_agent else None
        return report_scope(user=request.user, inbox_id=inbox_id, agent_id=agent_id), window, chosen


SUMMARY_ROWS = (
    ("conversations_opened", ("conversations_opened",)),
    ("conversations_resolved", ("conversations_resolved",)),
    ("messages_incoming", ("messages_incoming",)),
    ("messages_outgoing", ("messages_outgoing",)),
    ("first_response_seconds_median", ("first_response_seconds", "median")),
    ("first_response_seconds_p90", ("first_response_seconds", "p90")),
    ("resolution_seconds_median", ("resolution_seconds", "median")),
    ("resolution_seconds_p90", ("resolution_seconds", "p90")),
    ("csat_responses", ("csat", "responses")),
    ("csat_average", ("csat", "average")),
    ("csat_satisfied_share", ("csat", "satisfied_share")),
)


def _dig(body: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = body
    for key in path:
        value = value[key]
    return value


class SummaryView(ReportView):
    @extend_schema(
        parameters=[*WINDOW_PARAMETERS, AGENT_PARAMETER],
        responses={(200, "application/json"): rs.ReportSummarySerializer,
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="metric,value rows"),
                   **ERRORS},
        summary="Conversation, message, response-time and CSAT figures of a window",
        operation_id="reports_summary",
        tags=["reports"],
    )
    def get(self, request: Request) -> Response | HttpResponse:
        scope, window, chosen = self.parse(request)
        body = report_summary(scope=scope, window=window)
        if chosen == "csv":
            return csv_response("summary", window, ("metric", "value"),
                                ((name, _dig(body, path)) for name, path in SUMMARY_ROWS))
        return Response(body)


class TimeseriesView(ReportView):
    @extend_schema(
        parameters=[
            OpenApiParameter("metric", str, required=True, enum=list(METRICS)),
            OpenApiParameter("bucket", str, enum=["hour", "day"], description="Default day; at most 2,000 buckets."),
            *WINDOW_PARAMETERS, AGENT_PARAMETER,
        ],
        responses={(200, "application/json"): rs.ReportTimeseriesSerializer,
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="t,value rows"),
                   **ERRORS},
        summary="One figure per hour or day of a window (every bucket present)",
        operation_id="reports_timeseries",
        tags=["reports"],
    )
    def get(self, request: Request) -> Response | HttpResponse:
        params = request.query_params
        metric = report_metric(params.get("metric"))
        bucket = bucket_param(params.get("bucket"))
        scope, window, chosen = self.parse(request)
        body = report_timeseries(scope=scope, window=window, metric=metric, bucket=bucket)
        if chosen == "csv":
            return csv_response(f"{metric}-{bucket}", window, ("t", "value"),
                                ((point["t"], point["value"]) for point in body["points"]))
        return Response(body)


class AgentsView(ReportView):
    @extend_schema(
        parameters=WINDOW_PARAMETERS,
        responses={(200, "application/json"): rs.ReportAgentsSerializer,
                   (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="one row per operator"),
                   **ERRORS},
        summary="Per-operator figures of a window (agents: their own row only)",
        operation_id="reports_agents",
        tags=["reports"],
    )
    def get(self, request: Request) -> Response | HttpResponse:
        scope, window, chosen = self.parse(request, with_agent=False)
        body = report_agents(scope=scope, window=window)
        if chosen == "csv":
            return csv_response("agents", window, AGENT_COLUMNS,
                                ([row[column] for column in AGENT_COLUMNS] for row in body["results"]))
        return Response(body)
