"""What both socket consumers share: frames in, replies out, limits, resume, heartbeat, typing.

A consumer parses a frame, looks its ``type`` up in ``commands`` (an allow-list of handler
names), and the handler validates ``data``, authorizes, calls one service through
``database_sync_to_async`` and returns the reply's data. Every frame with a ``ref`` gets exactly
one reply; errors become ``ok: false`` replies with a stable code and the socket stays open.

Everything the socket sends (events from the hub, ephemeral frames, replies) goes through one
bounded queue (chat.realtime.hub.SocketSink), so a resume's reply is ordered after its events.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, ClassVar

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat import logcontext
from chat.errors import (
    AppError,
    ContactBlocked,
    InvalidFrame,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    RateLimited,
    ResyncRequired,
    Unavailable,
    UnknownCommand,
)
from chat.i18n import default_language, language_for_visitor
from chat.metrics import COMMANDS, SOCKETS_OPEN, child
from chat.outages import as_unavailable, is_outage
from chat.realtime import codec, shutdown
from chat.realtime.codes import CloseCode
from chat.realtime.control import CREDENTIAL_REVOKED, EPHEMERAL_FRAME, MEMBERSHIP_CHANGED, SOCKET_CLOSE
from chat.realtime.hub import SocketSink, StreamHub, get_hub
from chat.realtime.limits import Lease, lease_claim, lease_release, operator_socket_lease, widget_socket_lease
from chat.realtime.outbound import direct_writer, server_backlog
from chat.realtime.replay import resume
from chat.realtime.scopes import OperatorScope, Scope
from chat.realtime.threads import run_db
from chat.services.typing import typing_set

logger = logging.getLogger(__name__)

# The ``kind`` label of messenger_sockets_open, from the side the consumer speaks for.
SOCKET_KINDS = {"agent": "operator", "contact": "widget"}

# A handler returns the reply's data, or NO_REPLY when it sent its reply itself.
NO_REPLY: Any = object()


class SocketRefused(Exception):
    """Close the socket with ``code`` and ``reason`` (raised while it joins; like channels'
    DenyConnection, but after accept so that the client can read the code)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def handshake_close_code(exc: BaseException) -> CloseCode:
    """The close code for a handshake (operator connect, widget ``auth``) that failed with ``exc``.

    4401 only for a wrong, expired or revoked credential and 4403 only for "not allowed": the
    clients stop retrying on those (and the widget forgets its visitor on 4401). An outage, or
    anything unexpected, is 4503: the client retries with backoff and keeps its credentials.
    """
    if isinstance(exc, NotAuthenticated):
        return CloseCode.UNAUTHORIZED
    if isinstance(exc, PermissionDenied | ContactBlocked):
        return CloseCode.FORBIDDEN
    return CloseCode.UNAVAILABLE


class TokenBucket:
    """``rate`` commands per ``per`` seconds, with bursts up to ``rate``."""

    __slots__ = ("capacity", "per", "tokens", "stamp")

    def __init__(self, rate: int, per: float) -> None:
        self.capacity = float(rate)
        self.per = per
        self.tokens = float(rate)
        self.stamp = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.capacity / self.per)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class StreamConsumer(AsyncWebsocketConsumer):
    """Base of the operator and widget consumers (see the module docstring)."""

    # command type -> handler method name
    commands: ClassVar[dict[str, str]] = {}
    # "contact" or "agent": whose typing this socket reports
    typing_side: ClassVar[str] = ""

    sink: SocketSink | None
    hub: StreamHub | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sink = None
        self.hub = None
        self.joined = False
        self.closing = False
        self.bucket = TokenBucket(settings.WS_COMMANDS_PER_10S, 10.0)
        self.typing: dict[int, asyncio.TimerHandle] = {}
        self.groups_joined: set[str] = set()
        self.lease: Lease | None = None
        self.lease_renewed = 0.0
        self.counted = False  # in messenger_sockets_open
        # A command in flight (graceful shutdown waits for it). A flag, and a future only while
        # shutdown waits: an asyncio.Event per idle socket cost 0.8 KiB (docs/benchmarks.md).
        self.presence_written = float("-inf")  # monotonic time of the last presence heartbeat
        self.busy = False
        self._idle_waiter: asyncio.Future[None] | None = None
        # The language of this socket's reply messages (chat.i18n): the handshake's
        # Accept-Language, then the operator's at connect, the visitor's at auth.
        self.language = default_language()

    # --- Channels plumbing ---------------------------------------------------------------------

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels would run close_old_connections() in a thread for every message; these
        # consumers touch the database only through database_sync_to_async, which already
        # does, so the extra thread hop per message is skipped.
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None:
            logger.warning("no handler for %s", message["type"])
            return
        with translation.override(self.language):
            await handler(message)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        # Channels opens the socket's layer channel before the first ASGI message; on Redis that
        # fails while Redis is out of reach. Answer the handshake as any other outage: accept,
        # then close with 4503, so the client reads a code that says "retry".
        # Every log line of this socket (its own task and the tasks and threads it starts)
        # carries its id (chat/logcontext.py).
        logcontext.request_id.set(logcontext.new_id("ws-"))
        try:
            await super().__call__(scope, receive, send)
        except Exception as exc:
            if getattr(self, "channel_receive", None) is not None or not is_outage(exc):
                raise
            logger.warning("socket refused: channel layer unavailable (%s)", exc)
            message = await receive()
            if message.get("type") == "websocket.connect":
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": int(CloseCode.UNAVAILABLE)})

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        self.sink = SocketSink(None, send=self.send_text, close=self.close_with,  # type: ignore[arg-type]
                               backlog=server_backlog(self.base_send), write=direct_writer(self.base_send))
        SOCKETS_OPEN.labels(kind=SOCKET_KINDS.get(self.typing_side, "other")).inc()
        self.counted = True
        self.language = language_for_visitor(accept_language=header(self.scope, b"accept-language"))
        if shutdown.draining():  # this process is going away: the client retries elsewhere at once
            await self.accept()
            await self.close_with(CloseCode.UNAVAILABLE, reason="Server restarting.")
            return
        shutdown.track(self)
        try:
            await self.connect()
        except Exception as exc:
            await self.refuse(exc)

    async def refuse(self, exc: BaseException) -> None:
        """Close a socket whose handshake failed with ``exc``: SocketRefused's own code and
        reason (too many sockets), else ``handshake_close_code``."""
        if isinstance(exc, SocketRefused):
            await self.close_with(exc.code, reason=exc.reason)
            return
        code = handshake_close_code(exc)
        if code == CloseCode.UNAVAILABLE and is_outage(exc):
            logger.warning("socket handshake refused, service unavailable: %r", exc)
        elif code == CloseCode.UNAVAILABLE:
            logger.error("socket handshake failed", exc_info=exc)
        await self.close_with(code)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        try:
            await self.cleanup()
        finally:
            raise StopConsumer()

    async def send_text(self, text: str) -> None:
        await self.send(text_data=text)

    def emit(self, text: str) -> None:
        """Queue one frame for this socket (after the events already queued)."""
        if self.sink is not None:
            self.sink.put(text, None)
        else:
            asyncio.get_running_loop().create_task(self.send_text(text))

    async def join_stream(self, scope: Scope) -> int:
        """Start receiving live events visible to ``scope``; returns the cursor joined at.

        Takes one of the identity's socket leases first (chat/realtime/limits.py): SocketRefused
        (4429) when it already holds the maximum, on any process."""
        assert self.sink is not None
        if isinstance(scope, OperatorScope):
            lease, whose = operator_socket_lease(user_id=scope.user_id), "operator"
        else:
            lease, whose = widget_socket_lease(contact_inbox_id=scope.contact_inbox_id), "visitor"
        if not await run_db(lease_claim)(lease):
            raise SocketRefused(CloseCode.TOO_MANY_SOCKETS, f"Too many open sockets for this {whose} ({lease.limit}).")
        self.lease, self.lease_renewed = lease, time.monotonic()
        self.sink.scope = scope
        self.hub = get_hub()
        cursor = await self.hub.join(self.sink)
        self.joined = True
        return cursor

    async def join_groups(self, groups: set[str]) -> None:
        for group in groups - self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        for group in self.groups_joined - groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = set(groups)

    async def close_with(self, code: int, *, reason: str | None = None) -> None:
        """Close the socket from the server side with ``code`` (once)."""
        if self.closing:
            return
        self.closing = True
        if self.sink is not None:
            sink, self.sink.closed = self.sink, True
            if code == CloseCode.TOO_SLOW:
                # Its queue was dropped; let it take what the server already holds, so that the
                # 4429 reaches a client that reads again (daphne drops a connection 1 s after a
                # close frame the client has not answered).
                await sink.drained(settings.WS_SLOW_CLOSE_SECONDS)
            else:
                await sink.flushed()
        await self.cleanup()
        await self.close(code=int(code), reason=reason)

    async def cleanup(self) -> None:
        """Leave the hub and groups, stop typing, tell presence. Idempotent."""
        if getattr(self, "_cleaned", False):
            return
        self._cleaned = True
        shutdown.untrack(self)
        if self.counted:
            self.counted = False
            SOCKETS_OPEN.labels(kind=SOCKET_KINDS.get(self.typing_side, "other")).dec()
        if self.sink is not None:
            self.sink.closed = True
            if self.hub is not None:
                await self.hub.leave(self.sink)
        for conversation_id in list(self.typing):
            await self.stop_typing(conversation_id)
        if self.channel_layer is not None:
            for group in self.groups_joined:
                await self.channel_layer.group_discard(group, self.channel_name)
        self.groups_joined = set()
        if self.lease is not None:
            lease, self.lease = self.lease, None
            try:
                await run_db(lease_release)(lease)
            except Exception:  # it expires by itself
                logger.warning("socket lease release failed", exc_info=True)
        if self.joined:
            try:
                await self.socket_closed()
            except Exception:
                logger.exception("presence hook failed on close")

    # --- Frames in -----------------------------------------------------------------------------

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        if self.closing:
            return
        if self.sink is not None:
            self.sink.last_seen = time.monotonic()
        # Renewed on a frame at most once per half lease (the idle timeout): a socket that keeps
        # talking never lets it lapse (its frames come every 20 s, the lease lasts twice the idle
        # timeout), and an idle widget costs one Redis round trip a minute for it, not two.
        if self.lease is not None and time.monotonic() - self.lease_renewed > self.lease.ttl / 2:
            self.lease_renewed = time.monotonic()
            asyncio.get_running_loop().create_task(self._renew_lease(self.lease))
        text = message.get("text")
        if text is None:
            self.emit(codec.reply_app_error(None, InvalidFrame(_("Binary frames are not accepted."))))
            return
        # len() counts characters, which is at most the UTF-8 byte count; encode only near the bound.
        limit = settings.WS_MAX_FRAME_BYTES
        if len(text) > limit or (len(text) * 4 > limit and len(text.encode()) > limit):
            await self.close_with(CloseCode.MESSAGE_TOO_BIG)
            return
        try:
            command = codec.decode_command(text)
        except codec.FrameError as exc:
            await self.bad_frame(exc)
            return
        if not self.bucket.take():
            self.count_command(command.type, RateLimited.code)
            self.emit(codec.reply_app_error(command.ref, RateLimited(format_lazy(
                _("More than {count} commands in 10 s; slow down."), count=settings.WS_COMMANDS_PER_10S))))
            return
        if shutdown.draining():  # closing with 4503 soon: the client sends it again after resuming
            self.count_command(command.type, Unavailable.code)
            self.emit(codec.reply_app_error(command.ref, Unavailable(_("The server is restarting; reconnect."))))
            return
        self.busy = True
        try:
            await self.run_command(command)
        except SocketRefused as exc:  # the widget's auth frame joins the stream
            await self.close_with(exc.code, reason=exc.reason)
        finally:
            self.busy = False
            if self._idle_waiter is not None and not self._idle_waiter.done():
                self._idle_waiter.set_result(None)

    async def shut_down(self) -> None:
        """Graceful shutdown (chat/realtime/shutdown.py): let the command in flight finish and
        its reply go out, then close with 4503."""
        while self.busy:
            self._idle_waiter = asyncio.get_running_loop().create_future()
            await self._idle_waiter
        await self.close_with(CloseCode.UNAVAILABLE, reason="Server restarting.")

    def count_command(self, command_type: str, outcome: str) -> None:
        # Only allow-listed types become label values: a client cannot grow the metric.
        known = command_type in self.commands
        child(COMMANDS, command_type if known else "unknown", str(outcome)).inc()

    async def _renew_lease(self, lease: Lease) -> None:
        try:
            await run_db(lease_claim)(lease)
        except Exception:  # the store blinked: the lease lasts a while longer
            logger.warning("socket lease renewal failed", exc_info=True)

    async def bad_frame(self, exc: codec.FrameError) -> None:
        self.emit(codec.reply_app_error(exc.ref, exc.error))

    async def run_command(self, command: codec.Command) -> None:
        name = self.allowed_commands().get(command.type)
        if name is None:
            self.count_command(command.type, UnknownCommand.code)
            self.emit(codec.reply_app_error(command.ref, UnknownCommand(format_lazy(_("Unknown command {type}."), type=repr(command.type)))))
            return
        handler = getattr(self, name)
        try:
            data = await handler(command.data, command.ref)
        except AppError as exc:
            self.count_command(command.type, exc.code)
            self.emit(codec.reply_app_error(command.ref, exc))
            return
        except Exception as exc:
            unavailable = as_unavailable(exc)
            if unavailable is not None:  # PostgreSQL or Redis out of reach: retry later
                self.count_command(command.type, unavailable.code)
                logger.warning("command %s: service unavailable: %r", command.type, exc)
                self.emit(codec.reply_app_error(command.ref, unavailable))
                return
            self.count_command(command.type, codec.INTERNAL_ERROR)
            logger.exception("command %s failed", command.type)
            self.emit(codec.reply_error(command.ref, {"code": codec.INTERNAL_ERROR,
                                                      "message": str(codec.INTERNAL_ERROR_MESSAGE)}))
            return
        self.count_command(command.type, "ok")
        if data is not NO_REPLY:
            self.emit(codec.reply_ok(command.ref, data))

    def allowed_commands(self) -> dict[str, str]:
        return self.commands

    # --- Commands both sides have --------------------------------------------------------------

    async def cmd_ping(self, data: dict[str, Any], ref: Any) -> Any:
        """``ping`` → ``{"type": "pong"}``, and a reply when it has a ref. Feeds presence, at
        most once per half presence TTL: a heartbeat moves the socket's deadline to now + TTL,
        so writing every other 20 s ping keeps it ≥ 30 s ahead and a silent socket still goes
        offline within the TTL of its last ping, for half the Redis round trips and thread hops
        of 50,000 idle widgets (docs/benchmarks.md, "Capacity")."""
        now = time.monotonic()
        if now - self.presence_written >= settings.PRESENCE_TTL_SECONDS / 2:
            self.presence_written = now
            try:
                await self.socket_heartbeat()
            except Exception:
                self.presence_written = float("-inf")  # the next ping tries again
                logger.exception("presence hook failed on heartbeat")
        self.emit(codec.PONG)
        if ref is None:
            return NO_REPLY
        return {"last_event_id": self.sink.last_sent_id if self.sink else 0}

    async def cmd_resume(self, data: dict[str, Any], ref: Any) -> Any:
        """Replay what this socket may see after ``last_event_id``, then continue live.

        The reply comes after the replayed events and before any live one that arrived
        meanwhile: ``{"replayed": n, "last_event_id": id}``. ``resync_required`` when too much
        was missed; the socket then stays live from where it was.
        """
        after = codec.field_value(data, "last_event_id", int)
        assert self.sink is not None and self.hub is not None
        try:
            await resume(
                self.hub, self.sink, after=after,
                reply=lambda done: codec.reply_ok(
                    ref, {"replayed": done.replayed, "last_event_id": done.last_event_id}),
                error_reply=lambda exc: codec.reply_app_error(ref, exc),
            )
        except ResyncRequired:
            pass  # its reply is queued in order
        return NO_REPLY

    # --- Typing --------------------------------------------------------------------------------

    async def set_typing(self, conversation_id: int, typing: bool, user: dict[str, Any] | None, *,
                         private: bool = False, draft: str | None = None) -> None:
        """Broadcast typing (chat/services/typing.py decides who sees it); a start expires by
        itself after TYPING_TIMEOUT_SECONDS without a renewed ``typing.start``."""
        handle = self.typing.pop(conversation_id, None)
        if handle is not None:
            handle.cancel()
        if typing:
            loop = asyncio.get_running_loop()
            self.typing[conversation_id] = loop.call_later(
                settings.TYPING_TIMEOUT_SECONDS, lambda: loop.create_task(self.stop_typing(conversation_id))
            )
        await run_db(typing_set)(
            conversation_id=conversation_id, typing=typing, side=self.typing_side, user=user,
            private=private, draft=draft, exclude_channel=self.channel_name,
        )

    async def stop_typing(self, conversation_id: int) -> None:
        handle = self.typing.pop(conversation_id, None)
        if handle is not None:
            handle.cancel()
        try:
            await run_db(typing_set)(
                conversation_id=conversation_id, typing=False, side=self.typing_side,
                user=self.typing_user(), exclude_channel=self.channel_name,
            )
        except NotFound:
            pass
        except Exception:
            logger.exception("typing stop failed")

    def typing_user(self) -> dict[str, Any] | None:
        return None

    # --- Channel-layer control messages ----------------------------------------------------------

    async def ephemeral_frame(self, message: dict[str, Any]) -> None:
        if message.get("exclude_channel") == self.channel_name or not self.joined or self.closing:
            return
        self.emit(codec.dumps(message["frame"]))

    async def socket_close(self, message: dict[str, Any]) -> None:
        await self.close_with(int(message.get("code") or CloseCode.FORBIDDEN))

    async def membership_changed(self, message: dict[str, Any]) -> None:
        """Only operators follow membership; widgets ignore it."""

    async def credential_revoked(self, message: dict[str, Any]) -> None:
        """Only operator sockets hold a revocable credential; widgets ignore it."""

    # --- Presence (overridden per side) ----------------------------------------------------------

    async def socket_heartbeat(self) -> None: ...

    async def socket_closed(self) -> None: ...


# Keep the control type names and the handler names in step.
assert StreamConsumer.ephemeral_frame.__name__ == EPHEMERAL_FRAME.replace(".", "_")
assert StreamConsumer.socket_close.__name__ == SOCKET_CLOSE.replace(".", "_")
assert StreamConsumer.membership_changed.__name__ == MEMBERSHIP_CHANGED.replace(".", "_")
assert StreamConsumer.credential_revoked.__name__ == CREDENTIAL_REVOKED.replace(".", "_")
