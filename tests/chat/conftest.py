from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection, connections

from tests.factories import ContactInboxFactory, InboxFactory, UserFactory


@pytest.fixture
def inbox(db):
    return InboxFactory()


@pytest.fixture
def contact_inbox(inbox):
    return ContactInboxFactory(inbox=inbox)


@pytest.fixture
def operator(db):
    return UserFactory()


def run_concurrently(worker: Callable[[int], Any], count: int) -> list[Any]:
    """Run ``worker(i)`` in ``count`` threads released at the same moment; results or exceptions."""
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
        thread.join(timeout=120)
    return results


def is_postgres() -> bool:
    return connection.vendor == "postgresql"
