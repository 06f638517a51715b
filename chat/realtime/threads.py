"""Where socket and stream code runs its synchronous database work: one place to decide.

Channels' ``database_sync_to_async`` is thread-sensitive: every call of the process runs in one
shared thread, one after another, which serializes the database work of all the process's
sockets (bench/relay.py found the knee there). On PostgreSQL each call is an independent
transaction, so the calls run on a small pool of WS_DB_THREADS threads instead:

* each pool thread owns its connection (plain threads, no copied asgiref context, so Django's
  connection handler sees one context per thread), opened and recycled by
  ``close_old_connections()`` around each call, as CONN_MAX_AGE says. (``thread_sensitive=False``
  was tried first: connections then live in per-call contexts that close_old_connections() does
  not reach, and idle sessions accumulated);
* the thread knows the event loop it serves, so ``async_to_sync`` in it (the dispatcher's poke
  after commit, control messages) runs on that loop, exactly as from Channels' own thread.

SQLite (embedded mode, one writer) keeps Channels' single thread.

An outage (PostgreSQL or Redis out of reach, chat/outages.py) raised by the call surfaces as
``chat.errors.Unavailable``, so every socket command and stream request answers ``unavailable``
(never ``internal_error``, never an authentication failure).
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import close_old_connections

from chat.outages import unavailable_on_outage

_pools: dict[str, ThreadPoolExecutor] = {}
_pool_lock = threading.Lock()


def _executor(name: str) -> ThreadPoolExecutor:
    with _pool_lock:
        pool = _pools.get(name)
        if pool is None:
            # The stream reader has a thread of its own: it must never queue behind commands.
            workers = 1 if name == "stream" else settings.WS_DB_THREADS
            pool = _pools[name] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"realtime-{name}")
        return pool


def _in_pool_thread(loop: asyncio.AbstractEventLoop, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    # What asgiref's SyncToAsync records for its own threads: async_to_sync() then schedules
    # coroutines on ``loop`` instead of starting a private event loop.
    SyncToAsync.threadlocal.main_event_loop = loop
    SyncToAsync.threadlocal.main_event_loop_pid = os.getpid()
    with unavailable_on_outage():
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()


def run_db(func: Callable[..., Any], *, pool: str = "commands") -> Callable[..., Any]:
    """An awaitable version of ``func`` that runs it in a database thread (see above);
    ``pool="stream"`` is the hub reader's own thread."""
    if not settings.DATABASE_IS_POSTGRES:
        in_thread = database_sync_to_async(func)

        @functools.wraps(func)
        async def call_sqlite(*args: Any, **kwargs: Any) -> Any:
            with unavailable_on_outage():
                return await in_thread(*args, **kwargs)

        return call_sqlite

    @functools.wraps(func)
    async def call(*args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        # In the caller's context (its log request/socket id), as asgiref's sync_to_async does.
        context = contextvars.copy_context()
        return await loop.run_in_executor(_executor(pool), context.run, _in_pool_thread, loop, func, args, kwargs)

    return call
