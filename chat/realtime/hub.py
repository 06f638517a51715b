"""The process-local stream hub: one per process (per event loop), shared by every socket.

Durable events never travel on the channel layer. The hub reads them from the outbox in the
order chat/outbox.py releases them and writes them straight to this process's subscribers:

* a listener on a layer channel in ``STREAM_GROUP`` turns every ``stream.poke`` into a wake-up;
* a reader waits for a wake-up or ``STREAM_POLL_SECONDS`` (the poll catches lost pokes and
  events of a process that died before poking), reads ``read_released(cursor)`` in one thread
  hop per batch, fans each event out in id order and advances ``cursor`` to the batch's
  watermark. Everything at or below ``cursor`` that will ever be visible has been delivered;
* fan-out looks subscribers up in in-memory indexes built when they joined (authorization is
  decided then), encodes each event once per audience and hands the same text to each sink.

A ``Sink`` remembers the last id it was sent, so it gets every event once, in increasing order.
Its queue is bounded: a subscriber that cannot keep up is closed (it resumes) instead of growing
memory or slowing the others. The hub starts with its first subscriber and stops with its last.
"""
from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from chat.errors import Unavailable
from chat.events import STREAM_GROUP
from chat.metrics import EVENTS_DELIVERED, child
from chat.models import Event
from chat.outbox import read_released, watermark
from chat.realtime.codes import CloseCode
from chat.realtime.outbound import frame_bytes
from chat.realtime.scopes import OperatorScope, Scope, WidgetScope
from chat.realtime.threads import run_db

logger = logging.getLogger(__name__)

# First re-check of an event held back by a transaction still in progress; doubles up to the poll.
_HELD_RETRY_SECONDS = 0.02


class Sink:
    """One subscriber: its scope, its position in the stream and its outgoing queue.

    ``last_sent_id``: the highest event id handed to it; lower ids are never sent again.
    ``covered_from``: it has been sent every event it may see in ``(covered_from, last_sent_id]``
    (a resume replays only outside that range). While a replay runs, live events are held and
    delivered after it.
    """

    # The ``transport`` label of messenger_events_delivered (chat/metrics.py).
    transport = "websocket"
    # Every idle socket holds one: no per-instance dict (docs/benchmarks.md, "Capacity").
    __slots__ = ("scope", "last_sent_id", "covered_from", "closed", "last_seen", "_held", "_held_bytes")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.last_sent_id = 0
        self.covered_from = 0
        self.closed = False
        self.last_seen = time.monotonic()
        self._held: list[tuple[int, str]] | None = None
        self._held_bytes = 0

    def start_at(self, cursor: int) -> None:
        self.last_sent_id = self.covered_from = cursor

    def deliver(self, event_id: int, text: str) -> None:
        """A live event from the hub (ids arrive in increasing order)."""
        if self.closed:
            return
        if self._held is not None:
            self._held.append((event_id, text))
            self._held_bytes += frame_bytes(text)
            if len(self._held) > settings.WS_SEND_QUEUE_MAX or self._held_bytes > settings.WS_SEND_BUFFER_MAX_BYTES:
                self.overflow()
            return
        if event_id <= self.last_sent_id:
            return
        self.last_sent_id = event_id
        self.put(text, event_id)

    def hold(self) -> None:
        """Hold live events (a replay is being read); ``release`` delivers them after it."""
        self._held = []
        self._held_bytes = 0

    def release(self, replayed: Iterable[tuple[int, str]], *, after: int, upto: int, reply: str | None) -> None:
        """Send the replayed events, then ``reply``, then the live events held meanwhile."""
        for event_id, text in replayed:
            self.put(text, event_id)
        self.covered_from = min(self.covered_from, after)
        self.last_sent_id = max(self.last_sent_id, upto, after)
        self._flush_held(reply)

    def abandon_hold(self, reply: str | None) -> None:
        """The replay was refused (resync required): position unchanged, live continues."""
        self._flush_held(reply)

    def _flush_held(self, reply: str | None) -> None:
        if reply is not None:
            self.put(reply, None)
        held, self._held = self._held or [], None
        self._held_bytes = 0
        for event_id, text in held:
            self.deliver(event_id, text)

    def put(self, text: str, event_id: int | None) -> None:
        raise NotImplementedError

    def overflow(self) -> None:
        """Too far behind: stop delivering; the subscriber is closed and resumes later."""
        self.closed = True

    def expire(self) -> None:
        """Silent for too long (sockets only)."""


_last_encoded: tuple[str | None, bytes] = (None, b"")  # None: nothing yet ("" is a singleton)


def utf8(text: str) -> bytes:
    """``text`` as UTF-8, encoded once per frame however many sockets it goes to: the fan-out
    hands the same string object to every sink in turn, so a one-entry cache by identity hits
    for all but the first."""
    global _last_encoded
    cached_text, data = _last_encoded
    if cached_text is not text:
        data = text.encode()
        _last_encoded = (text, data)
    return data


class SocketSink(Sink):
    """A WebSocket: frames go through a queue drained by a task that exists only while frames
    are waiting (an idle socket costs no task).

    Bounded in frames (``WS_SEND_QUEUE_MAX``) and in bytes (``WS_SEND_BUFFER_MAX_BYTES``): the
    bytes queued here plus the bytes the server accepted and has not written yet
    (``backlog``, chat/realtime/outbound.py). Past either bound the socket is closed with 4429
    and its client resumes; memory stays bounded and other sockets are never slowed.
    """

    __slots__ = ("_send", "_write", "_close", "_queue", "_queued_bytes", "_writer", "backlog", "idle_timeout")

    def __init__(self, scope: Scope, *, send: Callable[[str], Awaitable[None]],
                 close: Callable[[int], Coroutine[Any, Any, None]], backlog: Callable[[], int] | None = None,
                 write: Callable[[bytes], bool] | None = None) -> None:
        super().__init__(scope)
        self._send = send
        # The server's synchronous write (chat/realtime/outbound.direct_writer), used while
        # nothing is queued: a delivery is then one call, with no task and no ASGI round trip.
        self._write = write
        self._close = close
        # Made when a frame first has to wait (most sockets never need one: 0.8 KiB each).
        self._queue: deque[tuple[str, int]] | None = None
        self._queued_bytes = 0  # queued, plus the frame being handed to the server
        self._writer: asyncio.Task[None] | None = None
        self.backlog: Callable[[], int] = backlog or (lambda: 0)
        self.idle_timeout = True

    @property
    def pending_bytes(self) -> int:
        """Bytes given to this socket that its client has not taken yet (as far as we can see)."""
        return self._queued_bytes + self.backlog()

    def put(self, text: str, event_id: int | None) -> None:
        if self.closed:
            return
        size = frame_bytes(text)
        if self._write is not None and self._writer is None and not self._queue:
            if size + self.backlog() > settings.WS_SEND_BUFFER_MAX_BYTES:
                self.overflow()
                return
            try:
                if self._write(utf8(text)):
                    return
            except Exception:  # the connection went away under us; its disconnect cleans up
                self.closed = True
                return
            # Not open for direct writes (accept or close in progress): the ASGI path below.
        if self._queue is None:
            self._queue = deque()
        self._queue.append((text, size))
        self._queued_bytes += size
        if len(self._queue) > settings.WS_SEND_QUEUE_MAX or self.pending_bytes > settings.WS_SEND_BUFFER_MAX_BYTES:
            self.overflow()
            return
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while self._queue:
                text, size = self._queue.popleft()
                try:
                    await self._send(text)
                finally:
                    self._queued_bytes -= size
        except Exception:  # the socket went away; its disconnect cleans up
            self.closed = True
            self._clear()
        finally:
            self._writer = None
            if not self._queue:
                self._queue = None  # an idle socket keeps no queue

    def _clear(self) -> None:
        for _text, size in self._queue or ():
            self._queued_bytes -= size
        self._queue = None

    async def flushed(self) -> None:
        """Wait until every queued frame was handed to the server (before a close)."""
        while self._writer is not None:
            await asyncio.shield(self._writer)

    async def drained(self, timeout: float) -> bool:
        """Wait (up to ``timeout``) until the client has taken what the server holds for it:
        a too-slow socket's close frame then reaches a client that reads again, instead of
        queuing behind bytes it may never read. True if it drained."""
        deadline = time.monotonic() + timeout
        while self._writer is not None or self.backlog() > 0:
            if time.monotonic() >= deadline:
                return False
            # The server offers no wake-up for "written": look again shortly.
            await asyncio.sleep(0.05)
        return True

    def overflow(self) -> None:
        self._shut(CloseCode.TOO_SLOW)

    def expire(self) -> None:
        self._shut(CloseCode.IDLE_TIMEOUT)

    def _shut(self, code: int) -> None:
        if self.closed:
            return
        self.closed = True
        self._clear()
        asyncio.get_running_loop().create_task(self._close(code))


class QueueSink(Sink):
    """An SSE response or a long-poll request: items are taken by the view's coroutine. Bounded
    like a socket's queue, in frames and in bytes."""

    def __init__(self, scope: Scope, *, transport: str = "http") -> None:
        super().__init__(scope)
        self.transport = transport
        self.items: deque[tuple[int | None, str]] = deque()
        self.queued_bytes = 0
        self.ready = asyncio.Event()

    def put(self, text: str, event_id: int | None) -> None:
        if self.closed:
            return
        self.items.append((event_id, text))
        self.queued_bytes += frame_bytes(text)
        if len(self.items) > settings.WS_SEND_QUEUE_MAX or self.queued_bytes > settings.WS_SEND_BUFFER_MAX_BYTES:
            self.overflow()
        self.ready.set()

    def overflow(self) -> None:
        self.closed = True
        self.ready.set()

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for items (or an overflow); True if something arrived."""
        if self.items or self.closed:
            return True
        self.ready.clear()
        try:
            async with asyncio.timeout(timeout):
                await self.ready.wait()
        except TimeoutError:
            return False
        return True

    def take(self) -> list[tuple[int | None, str]]:
        items = list(self.items)
        self.items.clear()
        self.queued_bytes = 0
        return items


class StreamHub:
    def __init__(self) -> None:
        self.cursor = 0
        self.reads = 0  # outbox reads done (tests wait for one that started after a commit)
        self._sinks: set[Sink] = set()
        self._operators_by_inbox: dict[int, set[Sink]] = {}
        self._operators_everywhere: set[Sink] = set()
        self._operators_by_user: dict[int, set[Sink]] = {}  # personal events (Event.user_id)
        self._widgets_by_contact_inbox: dict[int, set[Sink]] = {}
        self._widgets_by_inbox: dict[int, set[Sink]] = {}
        self._other_transports = 0  # subscribed sinks that are not WebSockets (SSE, long-poll)
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._outage = False  # the last outbox read failed for an outage (logged once)
        self._channel: str | None = None

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def __len__(self) -> int:
        return len(self._sinks)

    # --- Subscribers --------------------------------------------------------------------------

    async def join(self, sink: Sink) -> int:
        """Subscribe a sink; it receives every event after the returned cursor."""
        async with self._lock:
            if not self._tasks:
                await self._start()
            self._sinks.add(sink)
            self._index(sink)
            if sink.transport != "websocket":
                self._other_transports += 1
            sink.start_at(self.cursor)
            return self.cursor

    async def leave(self, sink: Sink) -> None:
        async with self._lock:
            if sink not in self._sinks:
                return
            self._sinks.discard(sink)
            self._unindex(sink)
            if sink.transport != "websocket":
                self._other_transports -= 1
            if not self._sinks:
                await self._stop()

    def rescope(self, sink: Sink, scope: Scope) -> None:
        """The subscriber may now see something else (an operator's inboxes changed)."""
        if sink in self._sinks:
            self._unindex(sink)
            sink.scope = scope
            self._index(sink)
        else:
            sink.scope = scope

    def hold(self, sink: Sink) -> int:
        """Start a replay: hold the sink's live events; returns the watermark to replay up to.
        Synchronous, so no event can be fanned out between the two steps."""
        sink.hold()
        return self.cursor

    def close_streams(self) -> None:
        """Shutdown: end every SSE and long-poll sink now (their clients reconnect to another
        process and resume). Sockets are closed by their consumers, with 4503."""
        for sink in list(self._sinks):
            if isinstance(sink, QueueSink):
                sink.overflow()

    def poke(self) -> None:
        """Read the outbox now (tests, and anyone who knows something was committed)."""
        self._wake.set()

    def _index(self, sink: Sink) -> None:
        scope = sink.scope
        if isinstance(scope, OperatorScope):
            self._operators_by_user.setdefault(scope.user_id, set()).add(sink)
            if scope.inbox_ids is None:
                self._operators_everywhere.add(sink)
            for inbox_id in scope.inbox_ids or ():
                self._operators_by_inbox.setdefault(inbox_id, set()).add(sink)
        elif isinstance(scope, WidgetScope):
            self._widgets_by_contact_inbox.setdefault(scope.contact_inbox_id, set()).add(sink)
            self._widgets_by_inbox.setdefault(scope.inbox_id, set()).add(sink)

    def _unindex(self, sink: Sink) -> None:
        scope = sink.scope

        def drop(index: dict[int, set[Sink]], key: int) -> None:
            members = index.get(key)
            if members is not None:
                members.discard(sink)
                if not members:
                    del index[key]

        if isinstance(scope, OperatorScope):
            drop(self._operators_by_user, scope.user_id)
            self._operators_everywhere.discard(sink)
            for inbox_id in scope.inbox_ids or ():
                drop(self._operators_by_inbox, inbox_id)
        elif isinstance(scope, WidgetScope):
            drop(self._widgets_by_contact_inbox, scope.contact_inbox_id)
            drop(self._widgets_by_inbox, scope.inbox_id)

    # --- Fan-out ------------------------------------------------------------------------------

    def fan_out(self, events: Iterable[Event]) -> None:
        """Deliver events (in id order) to the subscribers that may see them. Synchronous: sinks
        only queue, so nothing else runs on the loop while an event is being fanned out.

        The indexes only narrow the candidates; each scope's ``sees`` (chat.selectors.
        event_visibility, the same rule replay queries with) decides.

        Frames handed out are counted in locals and added to the metric once per batch (the
        loop runs once per subscriber of each event: an int increment, ~13 ns, where a dict
        update per sink cost ~75 ns). Sinks of other transports than WebSocket are looked at
        only while some are subscribed."""
        handed = 0
        others: dict[str, int] | None = {} if self._other_transports else None
        for event in events:
            text = None
            for sink in self._operator_candidates(event):
                if sink.scope.sees(event):
                    if text is None:
                        text = OperatorScope.encode(event)
                    sink.deliver(event.id, text)
                    handed += 1
                    if others is not None and sink.transport != "websocket":
                        others[sink.transport] = others.get(sink.transport, 0) + 1
            text = None
            for sink in self._widget_candidates(event):
                if sink.scope.sees(event):
                    if text is None:
                        text = WidgetScope.encode(event)
                    sink.deliver(event.id, text)
                    handed += 1
                    if others is not None and sink.transport != "websocket":
                        others[sink.transport] = others.get(sink.transport, 0) + 1
        if handed:
            for transport, count in (others or {}).items():
                handed -= count
                child(EVENTS_DELIVERED, transport).inc(count)
            if handed:
                child(EVENTS_DELIVERED, "websocket").inc(handed)

    def _operator_candidates(self, event: Event) -> Iterable[Sink]:
        """Every operator sink that could see ``event``: its inbox's, and the all-inbox ones; for
        a personal event, its operator's (whatever their inboxes are now)."""
        if event.user_id is not None:
            yield from self._operators_by_user.get(event.user_id) or ()
            return
        by_inbox = self._operators_by_inbox.get(event.inbox_id) if event.inbox_id is not None else None
        if by_inbox:
            yield from by_inbox
        yield from self._operators_everywhere

    def _widget_candidates(self, event: Event) -> Iterable[Sink]:
        """Every widget sink that could see ``event``: its contact inbox's, or (an event of no
        contact inbox) every widget of its inbox."""
        if event.contact_inbox_id is not None:
            return self._widgets_by_contact_inbox.get(event.contact_inbox_id) or ()
        if event.inbox_id is not None:
            return self._widgets_by_inbox.get(event.inbox_id) or ()
        return ()

    # --- Reader, listener, sweeper -------------------------------------------------------------

    async def _start(self) -> None:
        self.cursor = await run_db(watermark, pool="stream")()
        self._wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        layer = get_channel_layer()
        if layer is not None:
            try:
                self._channel = await layer.new_channel("stream-hub.")
                await layer.group_add(STREAM_GROUP, self._channel)
                self._tasks.append(loop.create_task(self._listen(layer, self._channel)))
            except Exception:  # no pokes: the poll alone still delivers everything
                logger.warning("stream hub could not subscribe to pokes", exc_info=True)
                self._channel = None
        self._tasks.append(loop.create_task(self._read_forever()))
        self._tasks.append(loop.create_task(self._sweep_forever()))

    async def _stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        layer = get_channel_layer()
        if layer is not None and self._channel is not None:
            try:
                await layer.group_discard(STREAM_GROUP, self._channel)
            except Exception:
                logger.warning("stream hub could not unsubscribe", exc_info=True)
        self._channel = None

    async def _listen(self, layer: Any, channel: str) -> None:
        while True:
            try:
                await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: the poll covers until it is back
                logger.warning("stream poke listener failed; retrying", exc_info=True)
                await asyncio.sleep(settings.STREAM_POLL_SECONDS)
                continue
            self._wake.set()

    async def _read_forever(self) -> None:
        delay: float | None = 0.0  # read once at start: pokes sent before we subscribed
        while True:
            if delay:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
                # races with the wake-up, and the hub would never stop.
                try:
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                except TimeoutError:
                    pass
            self._wake.clear()
            try:
                held = await self._catch_up()
            except asyncio.CancelledError:
                raise
            except Unavailable:  # PostgreSQL is out of reach: say so once, poll until it is back
                if not self._outage:
                    logger.warning("stream hub: database unavailable; delivering again when it returns")
                    self._outage = True
                held = False
            except Exception:  # anything else: logged in full, tried again at the next poll
                logger.exception("stream hub read failed")
                held = False
            else:
                if self._outage:
                    logger.warning("stream hub: database back; delivery resumed")
                    self._outage = False
            poll = settings.STREAM_POLL_SECONDS
            if held:
                delay = min(poll, (delay * 2) if delay and delay < poll else _HELD_RETRY_SECONDS)
            else:
                delay = poll

    async def _catch_up(self) -> bool:
        """Deliver every released event after the cursor; True if one is still held back."""
        read = run_db(read_released, pool="stream")
        while True:
            batch = await read(self.cursor)
            # No await between the fan-out and the cursor move: a replay that captures the
            # cursor always sees it next to what was delivered.
            self.fan_out(batch.events)
            self.cursor = max(self.cursor, batch.watermark)
            self.reads += 1
            if not batch.more:
                return batch.held

    async def _sweep_forever(self) -> None:
        while True:
            idle = settings.WS_IDLE_TIMEOUT_SECONDS
            await asyncio.sleep(min(5.0, idle / 4))
            deadline = time.monotonic() - idle
            for sink in [s for s in self._sinks if s.last_seen < deadline]:
                sink.expire()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StreamHub] = weakref.WeakKeyDictionary()


def current_hubs() -> list[StreamHub]:
    """The hubs of this process's live event loops (one in production), without creating one.
    A closed loop's hub (tests run one loop per test) no longer delivers anything."""
    return [hub for loop, hub in list(_hubs.items()) if not loop.is_closed()]


def get_hub() -> StreamHub:
    """This event loop's hub (one per process in production; one per test loop in tests)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = StreamHub()
    return hub
