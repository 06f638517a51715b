"""The seed's per-conversation operator stream (DESIGN.md §12):
``GET /api/messenger/conversations/{id}/stream/``.

An async view, like the widget's SSE (chat/api/stream_views.py, whose body it shares): a client
costs a coroutine, a hub subscription (a ``QueueSink`` bounded in frames and bytes) and a
channel-layer listener, never a thread.

* Auth: ``Authorization: Token <key>`` (DRF token), or the Django session cookie; with the
  cookie an ``Origin`` header, when the browser sends one, must be ours
  (``operator_origin_allowed``, the operator socket's rule; same-origin ``EventSource`` GETs
  often carry none). No or bad credentials: 401; a foreign Origin: 403.
* Scope: the conversation must be visible to the caller now (``operator_access`` +
  ``operator_conversation`` over ``chat.selectors.scope.conversation_visible_q``); anything
  else is 404, exactly like a conversation that does not exist.
* Events: the caller's operator rule narrowed to this conversation
  (``OperatorScope(conversation_id=...)`` → ``operator_event_rule``): private notes and
  operator-only events are in, other operators' personal events out. SSE ``event:`` names:
  ``message.created`` and ``message.updated`` as they are; every conversation-state change
  (``STATE_TYPES``) is ``conversation.updated`` while ``data`` (the frame, as the socket sends
  it) keeps the original ``type``; typing frames are ``conversation.typing_started`` /
  ``typing_stopped`` without an ``id:`` line.
* ``Last-Event-ID`` (or ``?last_event_id=``) resumes through ``chat.realtime.replay.resume``
  (409 ``resync_required`` when too much was missed); keep-alive comment every
  SSE_KEEPALIVE_SECONDS; the server ends the response after SSE_MAX_SECONDS (or once it carried
  WS_SEND_BUFFER_MAX_BYTES).
* Revocation (chat.realtime.control): ``socket.close`` to the operator (deactivation, password
  change), ``credential.revoked`` of the credential it used (logout), and ``membership.changed``
  after which the conversation is no longer visible, end the response.
* Each open stream holds one of the operator's ``WS_MAX_SOCKETS_PER_OPERATOR`` connection
  leases (chat/realtime/limits.py): 429 ``rate_limited`` beyond.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from channels.layers import get_channel_layer
from django.contrib.auth import get_user as get_session_user
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.views import APIView

from chat.api import serializers as s
from chat.api.stream_views import frame_type, position_param, release_lease, sse_body
from chat.errors import AppError, NotAuthenticated, PermissionDenied, RateLimited
from chat.event_types import EventType
from chat.events import inbox_group, user_group
from chat.realtime import codec
from chat.realtime.access import (
    operator_access,
    operator_conversation,
    operator_credential_valid,
    operator_origin_allowed,
    user_for_token,
)
from chat.realtime.control import (
    CREDENTIAL_REVOKED,
    EPHEMERAL_FRAME,
    MEMBERSHIP_CHANGED,
    SOCKET_CLOSE,
    CredentialKind,
    credential_fingerprint,
)
from chat.realtime.hub import QueueSink, StreamHub, get_hub
from chat.realtime.limits import Lease, lease_claim, operator_socket_lease
from chat.realtime.replay import resume
from chat.realtime.scopes import OperatorScope
from chat.realtime.threads import run_db

logger = logging.getLogger(__name__)

# Changes of the conversation's own state: their SSE ``event:`` name is ``conversation.updated``
# (DESIGN.md §12). first_reply.created / reply.created set first_reply_created_at and clear
# waiting_since, conversation.read moves a last-seen time: conversation fields, so state too.
# message.created and message.updated are about a message and keep their names.
STATE_TYPES: frozenset[str] = frozenset({
    EventType.CONVERSATION_CREATED, EventType.CONVERSATION_UPDATED, EventType.CONVERSATION_STATUS_CHANGED,
    EventType.ASSIGNEE_CHANGED, EventType.FIRST_REPLY_CREATED, EventType.REPLY_CREATED,
    EventType.CONVERSATION_READ,
})


def sse_event_name(text: str) -> str:
    kind = frame_type(text)
    return str(EventType.CONVERSATION_UPDATED) if kind in STATE_TYPES else kind


# --- Synchronous reads (in a database thread) ----------------------------------------------------


def _authenticate(request: Any) -> tuple[int, str, str]:
    """(user id, credential kind, key) of a token or session; NotAuthenticated otherwise."""
    authorization = request.META.get("HTTP_AUTHORIZATION") or ""
    if authorization:
        scheme, _space, key = authorization.partition(" ")
        user = user_for_token(key.strip()) if scheme.lower() == "token" and key.strip() else None
        if user is None:
            raise NotAuthenticated(_("Invalid token."))
        return user.pk, CredentialKind.TOKEN, key.strip()
    user = get_session_user(request)
    if not (user.is_authenticated and user.is_active):
        raise NotAuthenticated(_("Authentication credentials were not provided."))
    return user.pk, CredentialKind.SESSION, request.session.session_key or ""


def _conversation_inbox(*, user_id: int, conversation_id: int) -> int:
    """The conversation's inbox if the operator may see it now; NotFound (or NotAuthenticated
    for an account gone inactive) otherwise."""
    access = operator_access(user_id=user_id)
    return operator_conversation(conversation_id=conversation_id, access=access).inbox_id


def _still_allowed(*, user_id: int, kind: str, key: str, conversation_id: int) -> None:
    """Asked again once the listener has joined the groups: a revocation committed between the
    first check and the join sent its control message to nobody, and is caught here."""
    if not operator_credential_valid(kind=kind, key=key, user_id=user_id):
        raise NotAuthenticated(_("The credential was revoked."))
    _conversation_inbox(user_id=user_id, conversation_id=conversation_id)


# --- The stream ----------------------------------------------------------------------------------


class OperatorStreamListener:
    """While the stream is open: the conversation's typing frames (its inbox's group) and the
    operator's control messages (their user group) from the channel layer."""

    def __init__(self, sink: QueueSink, *, user_id: int, inbox_id: int, conversation_id: int,
                 fingerprint: str) -> None:
        self._sink = sink
        self._user_id = user_id
        self._conversation_id = conversation_id
        self._fingerprint = fingerprint
        self._groups = (user_group(user_id), inbox_group(inbox_id))
        self._layer = get_channel_layer()
        self._channel: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._layer is None:
            return
        self._channel = await self._layer.new_channel("operator-stream.")
        for group in self._groups:
            await self._layer.group_add(group, self._channel)
        self._task = asyncio.get_running_loop().create_task(self._forward())

    async def _forward(self) -> None:
        try:
            await self._receive_forever()
        except asyncio.CancelledError:
            raise
        except Exception:
            # Without the listener a revocation could not reach this stream: end it, the client
            # reconnects (and is checked again).
            logger.warning("operator stream listener failed; ending the stream", exc_info=True)
            self._end()

    async def _receive_forever(self) -> None:
        while True:
            message = await self._layer.receive(self._channel)
            kind = message.get("type")
            if kind == EPHEMERAL_FRAME:
                frame = message.get("frame") or {}
                if frame.get("conversation_id") == self._conversation_id and message.get("exclude_channel") != self._channel:
                    self._sink.put(codec.dumps(frame), None)
            elif kind == SOCKET_CLOSE or (kind == CREDENTIAL_REVOKED and message.get("fingerprint") == self._fingerprint):
                self._end()
            elif kind == MEMBERSHIP_CHANGED:
                try:
                    await run_db(_conversation_inbox)(user_id=self._user_id, conversation_id=self._conversation_id)
                except AppError:  # no longer visible, or the account is inactive
                    self._end()

    def _end(self) -> None:
        # Closing the sink ends the response (sse_body checks ``closed``); a reconnect is
        # then refused by the checks above.
        self._sink.overflow()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._channel is not None:
            for group in self._groups:
                with contextlib.suppress(Exception):
                    await self._layer.group_discard(group, self._channel)


def _error(exc: AppError) -> HttpResponse:
    response = JsonResponse({"error": exc.as_dict()}, status=exc.http_status)
    if exc.http_status == 401:
        response["WWW-Authenticate"] = "Token"
    return response


async def operator_conversation_stream(request: Any, conversation_id: int) -> HttpResponseBase:
    if request.method != "GET":
        return JsonResponse({"error": {"code": "method_not_allowed", "message": "GET only."}}, status=405)
    lease: Lease | None = None
    listener: OperatorStreamListener | None = None
    hub: StreamHub | None = None
    sink: QueueSink | None = None
    try:
        user_id, kind, key = await run_db(_authenticate)(request)
        origin = request.META.get("HTTP_ORIGIN")
        if kind == CredentialKind.SESSION and origin and not operator_origin_allowed(origin):
            raise PermissionDenied(_("This origin may not use the operator's session."))
        after = position_param(
            request.META.get("HTTP_LAST_EVENT_ID") or request.GET.get("last_event_id"), "last_event_id"
        )
        inbox_id = await run_db(_conversation_inbox)(user_id=user_id, conversation_id=conversation_id)
        lease = operator_socket_lease(user_id=user_id)
        if not await run_db(lease_claim)(lease):
            raise RateLimited(format_lazy(_("Too many open connections for this operator ({limit})."), limit=lease.limit))
        sink = QueueSink(OperatorScope(user_id, frozenset({inbox_id}), conversation_id=conversation_id))
        listener = OperatorStreamListener(sink, user_id=user_id, inbox_id=inbox_id, conversation_id=conversation_id,
                                          fingerprint=credential_fingerprint(kind, key))
        await listener.start()
        await run_db(_still_allowed)(user_id=user_id, kind=kind, key=key, conversation_id=conversation_id)
        hub = get_hub()
        await hub.join(sink)
        if after is not None:
            await resume(hub, sink, after=after)
    except BaseException as exc:
        if hub is not None and sink is not None:
            await hub.leave(sink)
        if listener is not None:
            await listener.stop()
        if lease is not None:
            await release_lease(lease)
        if isinstance(exc, AppError):
            return _error(exc)
        raise
    response = StreamingHttpResponse(sse_body(hub, sink, lease, listener, sse_event_name),
                                     content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


class OperatorStreamSchema(APIView):
    """Documentation only: drf-spectacular lists DRF views, and the stream is a plain async view
    (DRF has none). ``operator_conversation_stream.cls`` points here, so the schema generator
    sees the route with this description; requests never reach this class."""

    @extend_schema(
        operation_id="messenger_conversation_stream",
        summary="Server-sent events of one conversation, for operators (closed after 30 s; reconnect)",
        description=(
            "text/event-stream. Each durable event is `id: <event id>`, `event: <name>`, `data: <frame>` where the "
            "frame is the socket's `{type, id, conversation_id, data}`. Names: `message.created`, `message.updated`, "
            "and `conversation.updated` for every conversation-state change (conversation.updated, "
            "conversation.status_changed, assignee.changed, first_reply.created, reply.created, conversation.read; "
            "`data.type` keeps the original). Typing: `conversation.typing_started` / `conversation.typing_stopped` "
            "without an `id:` line. `: keep-alive` every 5 s. Token or session auth; 404 outside the caller's scope."
        ),
        parameters=[
            OpenApiParameter("Last-Event-ID", int, OpenApiParameter.HEADER, description="Resume after this event id."),
            OpenApiParameter("last_event_id", int, description="The same as the Last-Event-ID header."),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(OpenApiTypes.STR, description="The event stream"),
            **dict.fromkeys((400, 401, 403, 404, 409, 429), s.ErrorSerializer),
        },
        tags=["conversations"],
    )
    def get(self, request: Any, conversation_id: int) -> HttpResponse:
        raise NotImplementedError


# The schema generator finds DRF views by ``cls`` and ``initkwargs`` on the URL's callback.
operator_conversation_stream.cls = OperatorStreamSchema  # type: ignore[attr-defined]
operator_conversation_stream.initkwargs = {}  # type: ignore[attr-defined]
