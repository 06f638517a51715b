"""One JSON error shape for every 4xx and for 503: ``{"error": {"code", "message", "fields"?}}``.

An outage (PostgreSQL or Redis out of reach, decided by ``chat.outages.is_outage``) answers 503
``unavailable`` with ``Retry-After``; views outside DRF get the same answer from
``project.middleware.OutageMiddleware`` and ``server_error``.
"""
from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from chat.errors import AppError, ErrorCode, InvalidData
from chat.outages import as_unavailable

# Seconds a client is told to wait after a 503 (it adds its own jitter).
RETRY_AFTER_SECONDS = 2

_DRF_CODES = {
    drf.NotFound: ErrorCode.NOT_FOUND,
    drf.NotAuthenticated: ErrorCode.NOT_AUTHENTICATED,
    drf.AuthenticationFailed: ErrorCode.NOT_AUTHENTICATED,
    drf.PermissionDenied: ErrorCode.PERMISSION_DENIED,
    drf.Throttled: ErrorCode.RATE_LIMITED,
    drf.ValidationError: ErrorCode.INVALID_DATA,
    drf.ParseError: ErrorCode.INVALID_DATA,
    drf.UnsupportedMediaType: ErrorCode.INVALID_DATA,
}


def error_response(error: AppError) -> Response:
    response = Response({"error": error.as_dict()}, status=error.http_status)
    if error.http_status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler: application errors and DRF's own, in the one shape; an outage
    is 503 ``unavailable``."""
    unavailable = as_unavailable(exc)
    if unavailable is not None:
        return error_response(unavailable)
    if isinstance(exc, AppError):
        return error_response(exc)
    if isinstance(exc, SuspiciousOperation):  # too many fields, a body over the size limit
        return error_response(InvalidData(_("The request is too large or malformed.")))
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), ErrorCode.INVALID_DATA)
    body: dict[str, Any] = {"code": str(code), "message": _message(exc)}
    if isinstance(exc, drf.ValidationError):
        body["fields"] = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
    response.data = {"error": body}
    return response


def _message(exc: Exception) -> str:
    detail = getattr(exc, "detail", None)
    if isinstance(detail, str):
        return detail
    if isinstance(exc, drf.ValidationError):
        return str(_("Invalid input."))
    return str(detail or exc)
