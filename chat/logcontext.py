"""The request or socket id on every log line (DESIGN.md §13: "a request or socket id").

One context variable holds the id of what this code is handling: an HTTP request
(``project.middleware.RequestIdMiddleware``: the client's ``X-Request-ID`` when it is sane, else a
new one) or a WebSocket (``chat.consumers.base.StreamConsumer``: ``ws-`` and a short random id,
set in the consumer's own task, so every handler and every task it starts inherits it).
``RequestIdFilter``, attached to the root handler in ``project/settings.py``, copies it onto each
record as ``request_id`` ("-" outside a request or socket), for the text and the JSON format alike.

Context variables follow ``await`` and the tasks a coroutine creates; database threads get them
because ``chat.realtime.threads.run_db`` and asgiref's ``sync_to_async`` run in a copy of the
caller's context.
"""
from __future__ import annotations

import logging
import re
import secrets
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="-")

# What a client-supplied X-Request-ID may be: a load balancer's or a tracing id (UUID, hex,
# base64-ish), short and printable, so that it cannot forge or break log lines.
_SANE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")


def new_id(prefix: str = "") -> str:
    return prefix + secrets.token_hex(8)


def sane_id(value: str | None) -> str | None:
    """``value`` when it is acceptable as a request id, else None."""
    if value and _SANE_ID.fullmatch(value):
        return value
    return None


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True
