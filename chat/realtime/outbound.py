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
    every socket. Calling ``sendMessage`` with bytes encoded once per event is the same write
    without the per-socket middleware and encoding. The writer answers False when the socket
    is not open (not yet accepted, or closing): the caller then takes the ASGI path, which
    knows what to do in those states."""
    protocol = _server_protocol(send)
    send_message = getattr(protocol, "sendMessage", None)
    state_open = getattr(protocol, "STATE_OPEN", None)
    if send_message is None or state_open is None or not hasattr(protocol, "state"):
        return None

    def write(data: bytes) -> bool:
        if protocol.state != state_open:
            return False
        send_message(data, False)
        return True

    return write


def server_backlog(send: Any) -> Callable[[], int]:
    """A probe of the bytes the server holds for this connection and has not written yet, from
    the ASGI ``send`` callable; a probe that answers 0 where the server needs none (uvicorn,
    the test communicator) or hides it."""
    protocol = _server_protocol(send)
    transport = getattr(protocol, "transport", None)
    if transport is None or not hasattr(transport, "dataBuffer") or not hasattr(transport, "_tempDataLen"):
        return _no_backlog

    def twisted_backlog() -> int:
        try:
            return int(len(transport.dataBuffer) - transport.offset + transport._tempDataLen)
        except (AttributeError, TypeError):
            return 0

    return twisted_backlog
