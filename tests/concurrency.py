"""Running test code in real threads, released at the same moment (concurrency tests)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections


def run_concurrently(worker: Callable[[int], Any], count: int, *, join_timeout: float = 240) -> list[Any]:
    """Run ``worker(i)`` in ``count`` threads released by one barrier; each result, or the
    exception it raised (the test asserts on them). Each thread closes its connections."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = worker(index)
        except Exception as exc:  # collected and asserted on by the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=join_timeout)
    return results


class HeldTransaction:
    """A transaction in another thread that dispatches one durable event and stays open until
    ``commit()``: the "late commit" of docs/architecture.md. Use as a context manager; leaving
    the block commits it (and joins the thread) if the test did not.

        with HeldTransaction(EventType.CONVERSATION_UPDATED, payload={}, inbox_id=1) as late:
            late.start()          # returns once the event id is allocated
            ...                   # other transactions commit later ids meanwhile
            late.commit()
    """

    def __init__(self, event_type: Any, *, batch: int = 1, **dispatch_kwargs: Any) -> None:
        """``batch`` > 1: that many events of the type, written together (``dispatch_all``);
        ``event_id`` is then the first, ``event_ids`` all of them."""
        self._event_type = event_type
        self._batch = batch
        self._kwargs = dispatch_kwargs
        self.event_ids: list[int] = []
        self._allocated = threading.Event()
        self._may_commit = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self.event_id: int | None = None

    def _run(self) -> None:
        from django.db import transaction

        from chat.events import EventDraft, dispatch, dispatch_all

        try:
            with transaction.atomic():
                if self._batch == 1:
                    self.event_ids = [dispatch(self._event_type, **self._kwargs).id]
                else:
                    draft = EventDraft(self._event_type, **self._kwargs)
                    self.event_ids = [row.id for row in dispatch_all([draft] * self._batch)]
                self.event_id = self.event_ids[0]
                self._allocated.set()
                self._may_commit.wait(timeout=30)
        finally:
            connections.close_all()
            self._allocated.set()

    def start(self, timeout: float = 30) -> int:
        """Begin the transaction; returns the allocated (not yet committed) event id."""
        self._thread.start()
        assert self._allocated.wait(timeout), "the held transaction did not allocate its event"
        assert self.event_id is not None, "the held transaction failed"
        return self.event_id

    def commit(self, timeout: float = 30) -> None:
        """Let the transaction commit and wait until it has."""
        self._may_commit.set()
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join(timeout)

    def __enter__(self) -> HeldTransaction:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread.ident is not None:
            self.commit()
