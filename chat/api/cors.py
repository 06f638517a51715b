"""CORS for the widget endpoints: only an inbox's ``allowed_origins`` may read its answers.

Written here (a few lines) rather than with a generic CORS middleware because the rule is per
inbox, known only once the request is authenticated:

* an actual request gets ``Access-Control-Allow-Origin: <origin>`` only when the Origin is in
  the allowed origins of the inbox behind the widget token (or the website token for sessions);
* a preflight (``OPTIONS``) carries no token, so it is answered for any Origin that some inbox
  allows; the browser still refuses the actual answer unless that inbox allows the Origin.

No credentials (cookies) are allowed: the widget authenticates with its token header.
"""
from __future__ import annotations

from typing import Any, TypeVar

from django.http import HttpResponse, HttpResponseBase
from django.utils.cache import patch_vary_headers

from chat.models import ChannelType, Inbox
from chat.services.origins import normalize_origin, origin_listed

ALLOWED_METHODS = "GET, POST, OPTIONS"
ALLOWED_HEADERS = "Content-Type, X-Widget-Token, Last-Event-ID"
PREFLIGHT_MAX_AGE = "600"


def request_origin(request: Any) -> str | None:
    """The request's Origin, normalized (chat/services/origins.py), or None."""
    return normalize_origin(request.META.get("HTTP_ORIGIN"))


def origin_allowed(origin: str | None, inbox: Inbox | None) -> bool:
    return inbox is not None and origin_listed(origin, inbox.allowed_origins)


def origin_allowed_by_any_inbox(origin: str | None) -> bool:
    if not origin:
        return False
    # A JSON list per inbox (no portable "contains" lookup on SQLite); inboxes are few.
    for origins in Inbox.objects.filter(channel_type=ChannelType.WEB_WIDGET).values_list("allowed_origins", flat=True):
        if origin_listed(origin, origins):
            return True
    return False


ResponseT = TypeVar("ResponseT", bound=HttpResponseBase)


def add_cors_headers(response: ResponseT, *, origin: str | None, allowed: bool) -> ResponseT:
    patch_vary_headers(response, ["Origin"])
    if allowed and origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After"
    return response


def preflight_response(request: Any) -> HttpResponse:
    origin = request_origin(request)
    response = HttpResponse(status=204)
    allowed = origin_allowed_by_any_inbox(origin)
    add_cors_headers(response, origin=origin, allowed=allowed)
    if allowed:
        response["Access-Control-Allow-Methods"] = ALLOWED_METHODS
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = PREFLIGHT_MAX_AGE
    return response
