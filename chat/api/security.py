"""Authentication, permissions and throttles of the REST API.

Operators: ``Authorization: Token <key>`` or the Django session (with CSRF on unsafe methods),
both from settings.REST_FRAMEWORK. Widget: ``X-Widget-Token: <pubsub_token>`` identifies one
visitor in one inbox (``request.auth`` is its ContactInbox).
"""
from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BaseAuthentication, SessionAuthentication, TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.throttling import SimpleRateThrottle

from chat.errors import ContactBlocked, NotAuthenticated
from chat.i18n import activate_for_operator
from chat.models import ContactInbox
from chat.selectors.scope import operator_is_admin, operator_profile
from chat.store import get_store
from chat.validation import clean_token

WIDGET_TOKEN_HEADER = "HTTP_X_WIDGET_TOKEN"


def _operator_language(request: Any, result: Any) -> Any:
    """Once the caller is known, the rest of the request (validation messages, errors, activity
    lines) speaks their profile's language (chat.i18n); before that, LocaleMiddleware's
    (Accept-Language or the language cookie)."""
    if result is not None and getattr(result[0], "is_authenticated", False):
        activate_for_operator(result[0], accept_language=request.META.get("HTTP_ACCEPT_LANGUAGE"))
    return result


class OperatorTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, then the operator's language."""

    def authenticate(self, request: Any) -> Any:
        return _operator_language(request, super().authenticate(request))

    def authenticate_credentials(self, key: str) -> Any:
        # DRF's, with the profile in the same query: the language and every permission check
        # read it, so this saves the query it would otherwise cost.
        try:
            token = Token.objects.select_related("user__operator_profile").get(key=key)
        except Token.DoesNotExist:
            raise AuthenticationFailed(_("Invalid token.")) from None
        if not token.user.is_active:
            raise AuthenticationFailed(_("User inactive or deleted."))
        return (token.user, token)


class OperatorSessionAuthentication(SessionAuthentication):
    """The Django session (CSRF on unsafe methods), then the operator's language."""

    def authenticate(self, request: Any) -> Any:
        return _operator_language(request, super().authenticate(request))


class WidgetTokenAuthentication(BaseAuthentication):
    """``X-Widget-Token: <pubsub_token>`` → (AnonymousUser, ContactInbox)."""

    def authenticate(self, request: Any) -> tuple[AnonymousUser, ContactInbox] | None:
        token = request.META.get(WIDGET_TOKEN_HEADER, "").strip()
        if not token:
            return None
        clean_token(token, field="X-Widget-Token")
        contact_inbox = ContactInbox.objects.select_related("contact", "inbox").filter(pubsub_token=token).first()
        if contact_inbox is None:
            # DRF's own exception: DRF then records "not authenticated" on the request.
            raise AuthenticationFailed(_("Unknown widget token."))
        return AnonymousUser(), contact_inbox

    def authenticate_header(self, request: Any) -> str:
        return "Widget-Token"


class IsOperator(BasePermission):
    """An authenticated, active user (any role)."""

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated and user.is_active):
            return False
        # Made (and cached on the user) now, not inside a read-only snapshot transaction.
        operator_profile(user)
        return True


class IsAdministrator(BasePermission):
    """A superuser or an operator whose role is administrator."""

    message = _("Administrators only.")

    def has_permission(self, request: Any, view: Any) -> bool:
        return operator_is_admin(request.user)


class IsWidgetVisitor(BasePermission):
    """A valid widget token of a contact that is not blocked."""

    def has_permission(self, request: Any, view: Any) -> bool:
        contact_inbox = request.auth
        if not isinstance(contact_inbox, ContactInbox):
            raise NotAuthenticated(_("X-Widget-Token header required."))
        if contact_inbox.contact.blocked:
            raise ContactBlocked()
        return True


class StoreRateThrottle(SimpleRateThrottle):
    """DRF's rates (settings ``DEFAULT_THROTTLE_RATES``) and keys, counted in the shared store's
    sliding window (``window_add``: one Lua script on Redis, a lock in memory), so concurrent
    requests on any number of processes admit exactly the rate. DRF's own cache throttle reads
    the history, then writes it back: under 8-way concurrency 680 of 680 requests passed a
    600/min limit. Refusals go through DRF's ``Throttled`` (429 ``rate_limited`` JSON)."""

    # Set by SimpleRateThrottle.__init__ from parse_rate (the stubs leave them out). Both are
    # None only when ``rate`` is None, and then neither is read.
    num_requests: int
    duration: int

    def allow_request(self, request: Any, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        admitted = get_store().window_add(
            self.key, now=self.now, window=self.duration, limit=self.num_requests, member=uuid.uuid4().hex
        )
        return admitted or self.throttle_failure()

    def wait(self) -> float | None:
        # The window's oldest entry is not read back: the whole window is an upper bound.
        return float(self.duration)


class LoginThrottle(StoreRateThrottle):
    """Login attempts per client IP (brute force)."""

    scope = "login"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WidgetIpThrottle(StoreRateThrottle):
    """Widget requests per client IP."""

    scope = "widget_ip"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class WidgetTokenThrottle(StoreRateThrottle):
    """Widget requests per visitor token (no token: not counted here, the IP throttle applies)."""

    scope = "widget_token"

    def get_cache_key(self, request: Any, view: Any) -> str | None:
        token = request.META.get(WIDGET_TOKEN_HEADER, "").strip()
        if not token:
            return None
        # A digest: whatever the header holds, the key is short and plain ASCII.
        ident = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return self.cache_format % {"scope": self.scope, "ident": ident}
