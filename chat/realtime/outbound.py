"""How many bytes a subscriber has been handed and not yet taken: the measure behind the
per-socket send bound (``WS_SEND_BUFFER_MAX_BYTES``, docs/realtime.md "Slow subscribers").

Two parts are counted:

* frames queued in the sink and not yet handed to the server (exact: ``frame_bytes``);
* bytes the server accepted and has not written to the socket yet (``server_backlog``).
  - **daphne** writes a frame into Twisted's transport buffer at once, however slowly the
    client reads (that buffer held 60 MB for one socket that never read). Its size is not
    exposed to the application; it is reachable through the ``send`` callable daphne hands to
    the ASGI app (``functools.partial(server.handle_reply, protocol)``, which channels' session
    middleware keeps as ``real_send``): ``protocol.transport``
    is a Twisted ``FileDescriptor`` whose unwritten bytes are ``len(dataBuffer) - offset +
    _tempDataLen``. Reading three attributes is cheap, so it is read at every frame. A
    Twisted upgrade that renames them makes the probe return 0 (the queued part still counts):
    tests/realtime/test_slow_socket.py fails then.
  - **uvicorn** (websockets) makes ``send`` wait while its write buffer is above its high-water
    mark (64 KiB), so at most that much plus the frame being sent is in flight; frames wait in
    the sink's queue meanwhile, where they are counted.

Bytes in the kernel's socket buffers are not counted (the kernel bounds them).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def frame_bytes(text: str) -> int:
    """The UTF-8 size of a frame (``isascii`` is O(1): the count is free for ASCII frames)."""
    return len(text) if text.isascii() else len(text.encode())


def _no_backlog() -> int:
    return 0


def _server_protocol(send: Any) -> Any:
    """daphne's protocol object for this connection, from the ASGI ``send`` callable, or None."""
    # Middleware wraps ``send`` (channels' session middleware keeps the server's as ``real_send``).
    for _ in range(8):
        inner = getattr(getattr(send, "__self__", None), "real_send", None)
        if inner is None:
            break
        send = inner
    return next(iter(getattr(send, "args", ()) or ()), None)


def direct_writer(send: Any) -> Callable[[bytes], bool] | None:
    """A synchronous writer of one text frame (UTF-8 bytes) straight to the connection, for the
    fan-out (DESIGN §10: no per-socket task, thread hop or ASGI round trip per delivery); None
    where the server offers no such path (uvicorn, the test communicator), and the sink then
    sends through ASGI.

    On daphne, ``websocket.send`` ends in ``protocol.serverSend`` → autobahn's ``sendMessage``
    on the same event loop (daphne runs Twisted on asyncio), after re-encoding the text for
    every socket; autobahn then builds the frame, and Twisted's transport buffers it, registers
    the socket for writing with the loop (an ``epoll_ctl``), sends it on the next turn and
    unregisters it (another one): per delivery, most of the fan-out's cost (docs/benchmarks.md,
    "Fan-out"). The writer does the same write with the work done once per event where it can:

    * the frame (an unmasked, unfragmented text frame: header + payload, the same bytes for
      every socket) is built once per event (``text_frame``);
    * while Twisted holds nothing unwritten for the socket, the frame goes to the socket with
      one ``send``; what the kernel does not take (a slow reader) goes to Twisted's buffer as
      before, so the order is kept, the backlog probe (``server_backlog``) sees it and the
      slow-socket bound applies unchanged. With anything already buffered, the frame is appended
      behind it.

    The raw path is taken only for a plain TCP connection without per-message compression (what
    daphne serves: it negotiates no extension); otherwise the frame goes through autobahn's
    ``sendMessage``. The writer answers False when the socket is not open (not yet accepted, or
    closing): the caller then takes the ASGI path, which knows what to do in those states."""
    protocol = _server_protocol(send)
    if getattr(protocol, "sendMessage", None) is None or getattr(protocol, "STATE_OPEN", None) is None \
            or not hasattr(protocol, "state"):
        return None
    return _DaphneWriter(protocol)


class _DaphneWriter:
    """``direct_writer``'s writer, as a small object (every socket holds one)."""

    __slots__ = ("protocol", "transport", "sock", "raw")

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol
        transport: Any = getattr(protocol, "transport", None)
        self.transport = transport
        self.sock: Any = getattr(transport, "socket", None)
        self.raw = (
            self.sock is not None
            and getattr(protocol, "_perMessageCompress", None) is None
            and not getattr(transport, "TLS", False)
            and all(hasattr(transport, name) for name in ("dataBuffer", "offset", "_tempDataLen", "connected",
                                                          "disconnecting", "write"))
        )

    def __call__(self, data: bytes) -> bool:
        protocol = self.protocol
        if protocol.state != protocol.STATE_OPEN:
            return False
        if not self.raw:
            protocol.sendMessage(data, False)
            return True
        transport = self.transport
        if not transport.connected or transport.disconnecting:
            return False
        frame = text_frame(data)
        if len(transport.dataBuffer) - transport.offset + transport._tempDataLen:
            transport.write(frame)  # behind what is already waiting
            return True
        try:
            sent = self.sock.send(frame)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            sent = 0  # the connection is gone: Twisted finds out on its write and closes it
        if sent < len(frame):
            transport.write(frame[sent:] if sent else frame)
        return True


_last_frame: tuple[bytes | None, bytes] = (None, b"")  # None: no frame yet (b"" is a singleton)


def text_frame(data: bytes) -> bytes:
    """An unmasked, final WebSocket text frame carrying ``data`` (RFC 6455 §5.2: a server's frames
    are never masked), built once per event: the fan-out hands the same bytes object to every
    socket, so a one-entry cache by identity hits for all but the first."""
    global _last_frame
    cached_data, frame = _last_frame
    if cached_data is data:
        return frame
    size = len(data)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    frame = header + data
    _last_frame = (data, frame)
    return frame


def server_backlog(send: Any) -> Callable[[], int]:
    """A probe of the bytes the server holds for this connection and has not written yet, from
    the ASGI ``send`` callable; a probe that answers 0 where the server needs none (uvicorn,
    the test communicator) or hides it."""
    protocol = _server_protocol(send)
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(transport, "dataBuffer") or not hasattr(transport, "_tempDataLen"):
        return _no_backlog

    return _TwistedBacklog(transport)


class _TwistedBacklog:
    """The probe as a small object (every socket holds one; a closure cost twice the bytes)."""

    __slots__ = ("transport",)

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    def __call__(self) -> int:
        transport = self.transport
        try:
            return int(len(transport.dataBuffer) - transport.offset + transport._tempDataLen)
        except (AttributeError, TypeError):
            return 0
