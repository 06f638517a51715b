"""Graceful shutdown on SIGTERM (DESIGN.md §13): finish in-flight commands, close with 4503.

A process told to stop (a deploy, a scale-down) must not drop its sockets with 1006 or leave
its clients waiting for a TCP timeout: each client should learn at once that it has to
reconnect (to another process, behind the load balancer) and resume from its last event id.

The mechanism is the same under daphne and uvicorn: ``install_sigterm_handler()`` runs on the
server's event loop once (``project.asgi.ServerProcess``: at the lifespan startup under uvicorn,
at the first connection under daphne, which sends no lifespan), after the server installed its
own SIGTERM handler (Twisted's reactor for daphne, ``Server.capture_signals`` for uvicorn), and
puts a handler in front of it that

1. marks the process as draining: new sockets are accepted and closed with 4503, commands
   arriving now are answered ``unavailable``, ``/readyz`` answers 503 so the load balancer
   stops sending new clients;
2. ends every SSE and long-poll stream of the hub (their clients reconnect and resume);
3. lets every socket finish the command it is running (its reply is sent), then closes it with
   4503 — everything bounded by ``SHUTDOWN_GRACE_SECONDS``;
4. calls the server's own handler, which stops the server as it always did (or, with no server
   handler, the default action: the process ends).

A second SIGTERM during the drain goes to the server's handler at once.
"""
from __future__ import annotations

import asyncio
import logging
import signal
import threading
import weakref
from types import FrameType
from typing import Any, Protocol

from django.conf import settings

from chat.metrics import SHUTTING_DOWN
from chat.realtime.hub import current_hubs

logger = logging.getLogger(__name__)


class Drainable(Protocol):
    async def shut_down(self) -> None:
        """Finish the command in flight, then close with 4503."""


_state = {"draining": False, "installed": False}
_open: weakref.WeakSet[Any] = weakref.WeakSet()
_tasks: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks


def draining() -> bool:
    """True once this process received SIGTERM (or ``drain`` was called)."""
    return _state["draining"]


def track(socket: Drainable) -> None:
    _open.add(socket)


def untrack(socket: Drainable) -> None:
    _open.discard(socket)


async def drain(*, grace: float) -> None:
    """Steps 1–3 of the module docstring; returns when every socket closed or ``grace`` passed."""
    _state["draining"] = True
    SHUTTING_DOWN.set(1)
    sockets = list(_open)
    logger.warning("shutting down: closing %d socket(s) with 4503", len(sockets))
    for hub in current_hubs():
        hub.close_streams()
    if sockets:
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(socket.shut_down()) for socket in sockets]
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("shutting down: %d socket(s) not closed within %.1f s", len(pending), grace)


def _chain(previous: Any, signum: int, frame: FrameType | None) -> None:
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:  # SIG_DFL or unknown (set from C): the default action
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)


async def _drain_then_stop(previous: Any, signum: int) -> None:
    try:
        await drain(grace=settings.SHUTDOWN_GRACE_SECONDS)
    except Exception:
        logger.exception("graceful shutdown failed")
    finally:
        _chain(previous, signum, None)


def _start_drain(loop: asyncio.AbstractEventLoop, previous: Any, signum: int) -> None:
    task = loop.create_task(_drain_then_stop(previous, signum))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def install_sigterm_handler() -> bool:
    """Put the graceful drain in front of the server's SIGTERM handler (once per process; only
    from the main thread, where the servers run their loop). True if installed now."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return False
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if _state["draining"] or not loop.is_running():  # asked twice, or no loop to drain on: stop now
            _chain(previous, signum, frame)
            return
        _state["draining"] = True
        loop.call_soon_threadsafe(_start_drain, loop, previous, signum)

    signal.signal(signal.SIGTERM, on_sigterm)
    _state["installed"] = True
    return True
