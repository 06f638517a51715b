"""Request ids and latency for every request; outages answer 503 JSON everywhere (DESIGN.md §13).

``RequestIdMiddleware`` (first in MIDDLEWARE) gives each request its id (chat/logcontext.py): the
client's or load balancer's ``X-Request-ID`` when it is sane, else a new one, echoed in the
response's ``X-Request-ID``; and it times the request into
``messenger_http_request_duration_seconds`` labelled by the URL *pattern* (never the raw path).

Outages:

DRF views go through ``chat.api.errors.exception_handler``. Everything else (pages, the SSE and
long-poll views, attachment downloads, the admin, Django's own middleware such as the session
save) reaches one of these two:

* ``OutageMiddleware.process_exception``: an outage raised by a view;
* ``server_error`` (``handler500``): an outage raised anywhere else in the request, e.g. by a
  middleware; any other error keeps Django's plain 500 page.

Both answer ``{"error": {"code": "unavailable", ...}}`` with status 503 and ``Retry-After``.
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.utils.deprecation import MiddlewareMixin
from django.views import defaults

from chat import logcontext
from chat.api.errors import RETRY_AFTER_SECONDS
from chat.metrics import HTTP_REQUEST_DURATION, child
from chat.outages import as_unavailable

logger = logging.getLogger(__name__)


def unavailable_response(exc: BaseException) -> HttpResponse | None:
    """The 503 answer for an outage, or None when ``exc`` is not one."""
    unavailable = as_unavailable(exc)
    if unavailable is None:
        return None
    logger.warning("request refused, service unavailable: %r", exc)
    response = JsonResponse({"error": unavailable.as_dict()}, status=unavailable.http_status)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class OutageMiddleware(MiddlewareMixin):
    """First in MIDDLEWARE: an outage raised by any view answers 503 JSON."""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return unavailable_response(exception)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """``handler500``: Django calls it inside its ``except`` block, so the exception is at hand."""
    exc = sys.exc_info()[1]
    if exc is not None:
        response = unavailable_response(exc)
        if response is not None:
            return response
    return defaults.server_error(request)


REQUEST_ID_HEADER = "X-Request-ID"
# Methods kept as label values; anything else a client invents is counted as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestIdMiddleware:
    """First in MIDDLEWARE: the request's log id and its latency metric (module docstring).

    The id is set, not reset: under ASGI each request runs in a task of its own, and a streamed
    response (SSE) is iterated after this returns, still in that task, still with the id."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        started = self._begin(request)
        return self._end(request, self.get_response(request), started)

    async def __acall__(self, request: HttpRequest) -> HttpResponse:
        started = self._begin(request)
        response = await self.get_response(request)
        return self._end(request, response, started)

    @staticmethod
    def _begin(request: HttpRequest) -> float:
        request_id = logcontext.sane_id(request.headers.get(REQUEST_ID_HEADER)) or logcontext.new_id()
        logcontext.request_id.set(request_id)
        request.request_id = request_id  # type: ignore[attr-defined]
        return time.perf_counter()

    @staticmethod
    def _end(request: HttpRequest, response: HttpResponse, started: float) -> HttpResponse:
        elapsed = time.perf_counter() - started
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        method = request.method if request.method in _METHODS else "other"
        child(HTTP_REQUEST_DURATION, method, route, str(response.status_code)).observe(elapsed)
        response[REQUEST_ID_HEADER] = request.request_id  # type: ignore[attr-defined]
        return response


class LocaleMiddleware(DjangoLocaleMiddleware):
    """Django's (the request's language from the language cookie or Accept-Language:
    chat/i18n.py), except that files which read the same in every language (statics, the
    widget loader) get no ``Vary: Accept-Language``, so a cache in front keeps one copy."""

    LANGUAGE_NEUTRAL_PREFIXES = ("/static/", "/widget.js")

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if request.path.startswith(self.LANGUAGE_NEUTRAL_PREFIXES):
            return response
        return super().process_response(request, response)
