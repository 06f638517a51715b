"""Operations endpoints (DESIGN.md §13; docs/operations.md): ``/healthz``, ``/readyz``, ``/metrics``.

Plain async Django views, outside DRF: no authentication, CSRF or throttles apply (``/metrics``
has its own bearer token when ``METRICS_TOKEN`` is set), and none of them costs a thread hop
unless it must reach a service.

* ``/healthz``: 200 while the process serves requests. Touches nothing else: a database or
  Redis outage must not make an orchestrator restart every server at once.
* ``/readyz``: may this process take traffic? Pings PostgreSQL (``SELECT 1`` through the pool)
  and Redis (``PING``) concurrently, each bounded by ``READY_CHECK_TIMEOUT_SECONDS``.
  200 ``{"database": "ok", "redis": "ok"}``; 503 with ``"unavailable"`` for the one that failed.
  Without ``REDIS_URL`` (the embedded mode) there is no Redis to reach: ``"not_configured"``,
  which does not fail the check. While the process drains after SIGTERM: 503 with
  ``"server": "shutting_down"`` (chat/realtime/shutdown.py), so the load balancer stops
  sending it new clients.
* ``/metrics``: Prometheus text of the metrics in chat/metrics.py; refreshes the stream lag.
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from chat.errors import NotAuthenticated
from chat.metrics import STREAM_LAG_EVENTS
from chat.outages import is_outage
from chat.outbox import latest_event_id
from chat.realtime import shutdown
from chat.realtime.hub import current_hubs

logger = logging.getLogger(__name__)

OK, UNAVAILABLE, NOT_CONFIGURED = "ok", "unavailable", "not_configured"


@csrf_exempt
@require_GET
async def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


def _database_ping() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        connection.close()  # back to the pool; this is not a request thread


@lru_cache(maxsize=1)
def _redis_client() -> Any:
    import redis

    timeout = settings.READY_CHECK_TIMEOUT_SECONDS
    return redis.Redis.from_url(settings.REDIS_URL or "", socket_timeout=timeout, socket_connect_timeout=timeout)


def _redis_ping() -> None:
    _redis_client().ping()


async def _check(name: str, ping: Callable[[], None]) -> str:
    """"ok", or "unavailable" when ``ping`` failed or took longer than the bound."""
    try:
        async with asyncio.timeout(settings.READY_CHECK_TIMEOUT_SECONDS):
            await sync_to_async(ping, thread_sensitive=False)()
    except TimeoutError:
        logger.warning("readiness: %s did not answer within %.1f s", name, settings.READY_CHECK_TIMEOUT_SECONDS)
        return UNAVAILABLE
    except Exception as exc:
        if is_outage(exc):
            logger.warning("readiness: %s unavailable: %r", name, exc)
        else:
            logger.exception("readiness: %s check failed", name)
        return UNAVAILABLE
    return OK


async def _not_configured() -> str:
    return NOT_CONFIGURED


@csrf_exempt
@require_GET
async def readyz(request: HttpRequest) -> HttpResponse:
    database, redis_state = await asyncio.gather(
        _check("database", _database_ping),
        _check("redis", _redis_ping) if settings.REDIS_URL else _not_configured(),
    )
    body = {"database": database, "redis": redis_state}
    ready = database == OK and redis_state in (OK, NOT_CONFIGURED)
    if shutdown.draining():
        body["server"], ready = "shutting_down", False
    return JsonResponse(body, status=200 if ready else 503)


async def _refresh_stream_lag() -> None:
    """Newest committed event id − newest id delivered by this process's hub (0 without one)."""
    cursors = [hub.cursor for hub in current_hubs() if hub.running]
    if not cursors:
        STREAM_LAG_EVENTS.set(0)
        return
    try:
        async with asyncio.timeout(settings.READY_CHECK_TIMEOUT_SECONDS):
            newest = await sync_to_async(_latest_event_id, thread_sensitive=False)()
    except Exception as exc:  # the rest of the metrics still answer; the gauge keeps its value
        logger.warning("metrics: stream lag not measured: %r", exc)
        return
    STREAM_LAG_EVENTS.set(max(0, newest - min(cursors)))


def _latest_event_id() -> int:
    try:
        return latest_event_id()
    finally:
        connection.close()


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    supplied = request.headers.get("Authorization", "")
    return hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode())


@csrf_exempt
@require_GET
async def metrics(request: HttpRequest) -> HttpResponse:
    if not _authorized(request):
        error = NotAuthenticated(_("A valid metrics token is required (Authorization: Bearer <token>)."))
        response = JsonResponse({"error": error.as_dict()}, status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    await _refresh_stream_lag()
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST)
