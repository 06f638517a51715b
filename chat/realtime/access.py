"""Who may subscribe to what, and which conversations a caller may touch.

Synchronous reads (consumers call them through ``database_sync_to_async``) and pure Origin
checks. Authorization is decided when a socket joins, never per delivered event.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user as get_session_user
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.http import HttpRequest
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain
from django.utils.translation import gettext_lazy as _

from chat.errors import ContactBlocked, NotAuthenticated, NotFound
from chat.models import ContactInbox, Conversation
from chat.payloads import user_summary
from chat.selectors.scope import caller_scope_for, conversation_visible_q
from chat.services.origins import normalize_origin, origin_listed
from chat.validation import clean_token

User = get_user_model()


# --- Origins ----------------------------------------------------------------------------------


def operator_origin_allowed(origin: str | None) -> bool:
    """A cookie-authenticated operator socket must come from one of our own pages: the Origin's
    host is in ALLOWED_HOSTS or the Origin is in CSRF_TRUSTED_ORIGINS (wildcards as Django's
    CSRF check reads them). No Origin at all is refused: browsers always send one, and a
    non-browser client should use a token."""
    if not origin:
        return False
    normalized = normalize_origin(origin)
    if normalized is None:
        return False
    parts = urlsplit(normalized)
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        trusted_parts = urlsplit(trusted.lower())
        # "https://*.example.com" trusts every subdomain, as Django's CSRF check reads it.
        pattern = trusted_parts.netloc[1:] if trusted_parts.netloc.startswith("*") else trusted_parts.netloc
        if trusted_parts.scheme == parts.scheme and is_same_domain(parts.netloc, pattern):
            return True
    domain, _port = split_domain_port(parts.netloc)
    allowed_hosts = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return bool(domain) and validate_host(domain, allowed_hosts)


def widget_origin_allowed(origin: str | None, allowed_origins: list[str]) -> bool:
    """The widget's page must be one of the inbox's allowed origins.

    The rule of the widget socket and of SSE / long-poll. An empty list means the inbox sets no restriction (any site may embed it; the visitor's
    secret pubsub_token is still required). A request without Origin (a native app, a server)
    is allowed: Origin only protects browsers, and a non-browser client can forge it anyway.
    ``*`` allows every origin.

    Our own origin is allowed too: the embed snippet runs the widget in an iframe served by
    this server, so its sockets and requests carry our origin, not the shop's. Which sites may
    show that iframe is enforced by its ``Content-Security-Policy: frame-ancestors`` (the
    inbox's allowed origins), and a browser cannot send our origin from another site's page.
    """
    if not allowed_origins or not origin:
        return True
    return operator_origin_allowed(origin) or origin_listed(origin, allowed_origins)


# --- Operators --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OperatorAccess:
    user_id: int
    # None: every inbox (administrators and superusers).
    inbox_ids: frozenset[int] | None
    # Inbox groups to join for ephemeral frames (every inbox for administrators).
    group_inbox_ids: frozenset[int]
    summary: dict[str, Any]
    # The profile's language ("" until chosen): chat.i18n decides with the handshake's header.
    locale: str = ""


def user_for_token(key: str) -> Any | None:
    """The active user of a DRF token, or None."""
    from rest_framework.authtoken.models import Token

    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return None
    return token.user


def operator_credential_valid(*, kind: str, key: str, user_id: int) -> bool:
    """Whether the token or session key still authenticates ``user_id`` (read now). The socket
    asks again once it has joined its groups: a logout or password change committed between its
    first check and the join sent its control message to nobody, and is caught here."""
    if kind == "token":
        from rest_framework.authtoken.models import Token

        return Token.objects.filter(key=key, user_id=user_id, user__is_active=True).exists()
    engine = import_module(settings.SESSION_ENGINE)
    request = HttpRequest()
    request.session = engine.SessionStore(session_key=key)
    user = get_session_user(request)
    return bool(user.is_authenticated and user.pk == user_id)


def operator_access(*, user_id: int) -> OperatorAccess:
    """What an operator may subscribe to, read now (again on ``membership.changed``); the rule
    is chat/selectors/scope.py's."""
    scope = caller_scope_for(user_id=user_id)
    if scope is None:
        raise NotAuthenticated(_("The account is inactive."))
    user = User.objects.select_related("operator_profile").get(pk=user_id)
    profile = getattr(user, "operator_profile", None)
    return OperatorAccess(user_id, scope.inbox_ids(), scope.group_inbox_ids(), user_summary(user) or {},
                          locale=profile.locale if profile is not None else "")


def operator_conversation_q(*, access: OperatorAccess) -> Q:
    """The conversations the operator may touch now, as a condition (for a service that decides
    it in the statement that locks the conversation, e.g. ``message_create(within=...)``)."""
    return conversation_visible_q(user_id=access.user_id)


def operator_conversation(*, conversation_id: int, access: OperatorAccess) -> Conversation:
    """The conversation if the operator may touch it now, else NotFound (never a hint it
    exists). Decided from the rows as they are (role, membership, active), not from
    ``access``: a demotion or removal refuses the next command even before the socket's
    control message arrives."""
    conversation = (
        Conversation.objects.filter(pk=conversation_id)
        .filter(operator_conversation_q(access=access))
        .first()
    )
    if conversation is None:
        raise NotFound(_("Conversation not found."))
    return conversation


# --- Widgets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WidgetAccess:
    contact_inbox_id: int
    contact_id: int
    inbox_id: int
    source_id: str
    contact_name: str
    allowed_origins: tuple[str, ...]


def widget_access(*, pubsub_token: str) -> WidgetAccess:
    """The visitor behind a pubsub token: NotAuthenticated if unknown, ContactBlocked if blocked."""
    if not pubsub_token or not isinstance(pubsub_token, str):
        raise NotAuthenticated(_("Unknown widget token."))
    clean_token(pubsub_token, field="token")  # NUL cannot reach the database (invalid_data)
    row = (
        ContactInbox.objects.select_related("contact", "inbox")
        .filter(pubsub_token=pubsub_token)
        .first()
    )
    if row is None:
        raise NotAuthenticated(_("Unknown widget token."))
    if row.contact.blocked:
        raise ContactBlocked()
    return WidgetAccess(
        contact_inbox_id=row.pk,
        contact_id=row.contact_id,
        inbox_id=row.inbox_id,
        source_id=row.source_id,
        contact_name=row.contact.name,
        allowed_origins=tuple(row.inbox.allowed_origins or ()),
    )
