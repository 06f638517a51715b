"""The widget's real-time fallbacks (DESIGN.md §7): SSE and long-poll, fed by the stream hub.

Both are async views: a waiting client holds a coroutine and a hub subscription, never a
thread. They deliver the same durable events, with the same ids and frames, as the widget
socket, and the operators' typing frames (ephemeral: no id, nothing replayed) while the request
is open. Authentication: the ``X-Widget-Token`` header, or
``?token=`` for ``EventSource``, which cannot set headers.

* ``GET /api/widget/v1/stream``: ``text/event-stream``; each event is ``id: <id>``,
  ``event: <type>``, ``data: <frame JSON>``. ``Last-Event-ID`` (or ``?last_event_id=``) resumes
  exactly like the socket's ``resume``; ``409 resync_required`` when too much was missed. A
  ``: keep-alive`` comment every SSE_KEEPALIVE_SECONDS without events; the server ends the
  response after SSE_MAX_SECONDS and the browser reconnects with ``Last-Event-ID``.
* ``GET /api/widget/v1/events?after=N``: answers at once with the events after N, else waits
  up to LONGPOLL_WAIT_SECONDS; ``{"events": [...], "last_event_id": M}``: poll again with
  ``after=M``. Without ``after`` it answers at once with no events and the current position.

At most WIDGET_STREAMS_PER_TOKEN such requests per widget token are open at once, across every
process (``429 rate_limited`` beyond; chat/realtime/limits.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpResponse, HttpResponseBase, JsonResponse, StreamingHttpResponse
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.api.cors import ResponseT, add_cors_headers, preflight_response
from chat.errors import AppError, InvalidData, PermissionDenied, RateLimited
from chat.events import contact_inbox_group
from chat.realtime import codec
from chat.realtime.access import WidgetAccess, widget_access, widget_origin_allowed
from chat.realtime.control import EPHEMERAL_FRAME, SOCKET_CLOSE
from chat.realtime.hub import QueueSink, StreamHub, get_hub
from chat.realtime.limits import Lease, lease_claim, lease_release, widget_stream_lease
from chat.realtime.replay import check_position, resume
from chat.realtime.scopes import WidgetScope
from chat.realtime.threads import run_db
from chat.services.origins import normalize_origin, origin_listed
from chat.services.queue import queue_frame, queue_status
from chat.services.widget import widget_current_conversation

logger = logging.getLogger(__name__)

class EphemeralListener:
    """While a fallback request is open, forward the visitor's ephemeral frames (typing) and
    close orders from the channel layer into its sink, as the widget socket's handlers do."""

    def __init__(self, sink: QueueSink, contact_inbox_id: int) -> None:
        self._sink = sink
        self._group = contact_inbox_group(contact_inbox_id)
        self._layer = get_channel_layer()
        self._channel: str | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._layer is None:
            return
        try:
            self._channel = await self._layer.new_channel("widget-fallback.")
            await self._layer.group_add(self._group, self._channel)
        except Exception:  # typing is best effort; durable events do not depend on it
            logger.warning("fallback could not subscribe to %s", self._group, exc_info=True)
            self._channel = None
            return
        self._task = asyncio.get_running_loop().create_task(self._forward())

    async def _forward(self) -> None:
        while True:
            message = await self._layer.receive(self._channel)
            kind = message.get("type")
            if kind == EPHEMERAL_FRAME and message.get("exclude_channel") != self._channel:
                self._sink.put(codec.dumps(message["frame"]), None)
            elif kind == SOCKET_CLOSE:
                self._sink.overflow()  # ends the response; the client's next request is refused

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._layer.group_discard(self._group, self._channel)


def _queue_now(*, contact_inbox_id: int) -> dict[str, Any] | None:
    status = queue_status(conversation=widget_current_conversation(contact_inbox_id=contact_inbox_id))
    if status is None:
        return None
    return queue_frame(status["conversation_id"], status["position"], status["expected_wait_seconds"])


def _error(exc: AppError, request: Any, access: WidgetAccess | None = None) -> HttpResponse:
    return _cors(JsonResponse({"error": exc.as_dict()}, status=exc.http_status), request, access)


def _cors(response: ResponseT, request: Any, access: WidgetAccess | None) -> ResponseT:
    origin = normalize_origin(request.META.get("HTTP_ORIGIN"))
    allowed = access is not None and origin_listed(origin, access.allowed_origins)
    return add_cors_headers(response, origin=origin, allowed=allowed)


def _token(request: Any) -> str:
    return (request.META.get("HTTP_X_WIDGET_TOKEN") or request.GET.get("token") or "").strip()


async def _authenticate(request: Any) -> WidgetAccess:
    access = await run_db(widget_access)(pubsub_token=_token(request))
    if not widget_origin_allowed(request.META.get("HTTP_ORIGIN"), list(access.allowed_origins)):
        raise PermissionDenied(_("This site may not use this widget."))
    return access


def position_param(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidData(format_lazy(_("{name} must be an integer."), name=name), fields={name: [_("Must be an integer.")]}) from None
    return check_position(number, name=name)


async def _subscribe(access: WidgetAccess, after: int | None) -> tuple[StreamHub, QueueSink]:
    """Join the hub and, from ``after``, replay what was missed (ResyncRequired if too much)."""
    hub = get_hub()
    sink = QueueSink(WidgetScope(access.inbox_id, access.contact_inbox_id))
    await hub.join(sink)
    if after is None:
        return hub, sink
    try:
        await resume(hub, sink, after=after)
    except BaseException:
        await hub.leave(sink)
        raise
    return hub, sink


def frame_type(text: str) -> str:
    # Frames are encoded with "type" as their first key: {"type":"message.created",...}
    return text[9 : text.index('"', 9)] if text.startswith('{"type":"') else "message"


async def widget_stream(request: Any) -> HttpResponseBase:
    if request.method == "OPTIONS":
        return await sync_to_async(preflight_response)(request)
    access = None
    try:
        access = await _authenticate(request)
        after = position_param(request.META.get("HTTP_LAST_EVENT_ID") or request.GET.get("last_event_id"), "last_event_id")
        lease = await _claim(access)
        try:
            hub, sink = await _subscribe(access, after)
        except BaseException:
            await release_lease(lease)
            raise
    except AppError as exc:
        return _error(exc, request, access)
    listener = EphemeralListener(sink, access.contact_inbox_id)
    await listener.start()
    try:  # "on connect": the visitor's place in line, if waiting (later changes come live)
        queue = await run_db(_queue_now)(contact_inbox_id=access.contact_inbox_id)
    except Exception:  # advisory: the stream works without it
        logger.warning("queue position on connect failed", exc_info=True)
        queue = None
    if queue is not None:
        sink.put(codec.dumps(queue), None)
    response = StreamingHttpResponse(sse_body(hub, sink, lease, listener), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return _cors(response, request, access)


def _sse_item(event_id: int | None, text: str, event_name: Callable[[str], str] = frame_type) -> bytes:
    # Ephemeral frames carry no id line, so they never move the browser's Last-Event-ID.
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event_name(text)}\ndata: {text}\n\n".encode()


class Listener(Protocol):
    async def stop(self) -> None: ...


async def sse_body(hub: StreamHub, sink: QueueSink, lease: Lease, listener: Listener,
                   event_name: Callable[[str], str] = frame_type) -> AsyncIterator[bytes]:
    """The SSE body of a subscribed sink (widget stream and the operator conversation stream,
    chat/api/operator_stream_views.py); gives back the sink, the listener and the lease at the end."""
    try:
        yield b"retry: 1000\n\n"
        deadline = time.monotonic() + settings.SSE_MAX_SECONDS
        # The server buffers what we yield whether or not the client reads it, and a view cannot
        # see that buffer: one response carries at most WS_SEND_BUFFER_MAX_BYTES, then the
        # browser reconnects with Last-Event-ID. Unread bytes per stream stay under twice the bound
        # (the last chunk is itself bounded by the sink).
        budget = settings.WS_SEND_BUFFER_MAX_BYTES
        while True:
            items = sink.take()
            if items:
                chunk = b"".join(_sse_item(event_id, text, event_name) for event_id, text in items)
                budget -= len(chunk)
                yield chunk
            remaining = deadline - time.monotonic()
            if sink.closed or remaining <= 0 or budget <= 0:
                break  # too far behind, time is up, or the byte budget is spent: the client resumes
            if not await sink.wait(min(settings.SSE_KEEPALIVE_SECONDS, remaining)):
                yield b": keep-alive\n\n"
    finally:
        await listener.stop()
        await hub.leave(sink)
        await release_lease(lease)


async def _claim(access: WidgetAccess) -> Lease:
    """One of the widget token's stream leases (chat/realtime/limits.py, across processes), or
    RateLimited; ``_release`` gives it back."""
    lease = widget_stream_lease(contact_inbox_id=access.contact_inbox_id)
    if not await run_db(lease_claim)(lease):
        raise RateLimited(format_lazy(_("Too many open streams for this visitor ({limit})."), limit=lease.limit))
    return lease


async def release_lease(lease: Lease) -> None:
    try:
        await run_db(lease_release)(lease)
    except Exception:  # it expires by itself
        logger.warning("stream lease release failed", exc_info=True)


async def widget_events(request: Any) -> HttpResponse:
    if request.method == "OPTIONS":
        return await sync_to_async(preflight_response)(request)
    access = None
    try:
        access = await _authenticate(request)
        after = position_param(request.GET.get("after"), "after")
        lease = await _claim(access)
        try:
            hub, sink = await _subscribe(access, after)
            try:
                items = sink.take()
                if not items and after is not None:
                    listener = EphemeralListener(sink, access.contact_inbox_id)
                    await listener.start()
                    try:
                        if await sink.wait(settings.LONGPOLL_WAIT_SECONDS):
                            items = sink.take()
                    finally:
                        await listener.stop()
                last_event_id = sink.last_sent_id
            finally:
                await hub.leave(sink)
        finally:
            await release_lease(lease)
    except AppError as exc:
        return _error(exc, request, access)
    # The frames are already encoded: splice them instead of decoding and encoding again.
    texts = ",".join(text for _event_id, text in items)
    body = f'{{"events":[{texts}],"last_event_id":{last_event_id}}}'
    return _cors(HttpResponse(body, content_type="application/json"), request, access)

