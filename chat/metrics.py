"""Every Prometheus metric of the messenger, declared once (DESIGN.md §13; docs/operations.md).

Names start with ``messenger_``. Code that counts imports the metric from here; ``/metrics``
(project/ops.py) renders the process's default registry. Label values are bounded: command
types come from the consumers' allow-lists (anything else is ``unknown``), outcomes are error
codes, routes are URL patterns, never raw paths.

Counters on hot paths are incremented once per event or per batch, with the labelled child
looked up once and kept (``child``): prometheus_client's ``labels()`` takes a lock and hashes the
label values on every call.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

SOCKETS_OPEN = Gauge(
    "messenger_sockets_open", "WebSockets open on this process, by kind.", ["kind"],
)
COMMANDS = Counter(
    "messenger_commands", "Socket commands handled, by type and outcome (ok or the error code).",
    ["type", "outcome"],
)
EVENTS_WRITTEN = Counter(
    "messenger_events_written", "Durable events committed by this process, by type.", ["type"],
)
EVENTS_DELIVERED = Counter(
    "messenger_events_delivered",
    "Event frames handed by this process's stream hub to its subscribers, by transport "
    "(websocket, or http: SSE and long-poll).",
    ["transport"],
)
STREAM_LAG_EVENTS = Gauge(
    "messenger_stream_lag_events",
    "Newest committed event id minus the newest id this process's stream hub has delivered "
    "(0 when no subscriber is connected; read when /metrics is scraped).",
)
HTTP_REQUEST_DURATION = Histogram(
    "messenger_http_request_duration_seconds",
    "HTTP request latency until the response (for streams: until its headers), by method, "
    "URL pattern and status.",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
WEBHOOK_DELIVERIES = Counter(
    "messenger_webhook_deliveries", "Webhook delivery attempts, by outcome.", ["outcome"],
)
SHUTTING_DOWN = Gauge(
    "messenger_shutting_down", "1 while this process drains its sockets after SIGTERM.",
)

for _kind in ("operator", "widget"):
    SOCKETS_OPEN.labels(kind=_kind)  # exported as 0 before the first socket
for _transport in ("websocket", "http"):
    EVENTS_DELIVERED.labels(transport=_transport)


@lru_cache(maxsize=4096)
def child(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)``, looked up once per distinct value tuple."""
    return metric.labels(*values)
