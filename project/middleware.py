"""Outages answer 503 JSON everywhere, not only in DRF views (DESIGN.md §13).

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
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.views import defaults

from chat.api.errors import RETRY_AFTER_SECONDS
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
