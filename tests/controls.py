"""Capture the control messages an action sends, on the real channel layer (no mocks).

``controls_sent(groups, action)`` subscribes a fresh channel to ``groups``, runs ``action`` in
the test's thread and database connection with its on-commit callbacks executed (the control
messages go out after commit), then reads what arrived until the layer stays quiet.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.test import TestCase


def _run_committing(action: Callable[[], Any]) -> Any:
    if connection.in_atomic_block:  # a non-transactional test: run the on-commit callbacks
        with TestCase.captureOnCommitCallbacks(execute=True):
            return action()
    return action()


def controls_sent(groups: Iterable[str], action: Callable[[], Any], *, quiet: float = 0.3) -> tuple[Any, list[tuple[str, dict]]]:
    """``action()``'s result and the (group, message) pairs it sent to ``groups``."""
    groups = list(groups)

    async def run() -> tuple[Any, list[tuple[str, dict]]]:
        layer = get_channel_layer()
        channels = {}
        for group in groups:
            channel = await layer.new_channel("test-control.")
            await layer.group_add(group, channel)
            channels[channel] = group
        result = await sync_to_async(_run_committing, thread_sensitive=True)(action)
        received: list[tuple[str, dict]] = []
        for channel, group in channels.items():
            while True:
                try:
                    message = await asyncio.wait_for(layer.receive(channel), quiet)
                except TimeoutError:
                    break
                received.append((group, message))
            await layer.group_discard(group, channel)
        return result, received

    return async_to_sync(run)()
