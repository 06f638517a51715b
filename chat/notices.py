"""In-process domain notices: how other apps learn about changes that have no durable event.

Some changes matter to ``assignment`` and ``presence`` but to no client: an inbox's members
changed (serve its waiting conversations, rebuild the rotation, re-tell the widgets whether
anyone can answer), an inbox was deleted. ``chat`` may not import those apps (STYLE.md §12), so
its services ``announce()`` a notice and the apps ``listen()`` from their ``ready()``, exactly
like the durable events' subscribers (chat/events.py): after commit, in the committing thread,
each listener in its own error boundary; nothing for a transaction that rolls back.

A notice is not durable and is not sent to other processes: a listener must only do work that
a periodic safety net also does (the worker's ``waiting_tick`` serves waiting conversations,
the round robin is validated against the members before each use), so a crash between commit
and notice delays the reaction, it never loses it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)


class NoticeType(StrEnum):
    # payload: {"added": [user ids], "removed": [user ids]}
    INBOX_MEMBERS_CHANGED = "inbox.members_changed"
    # payload: {}
    INBOX_DELETED = "inbox.deleted"
    # payload: {"fields": [names]}: assignment settings changed (mode, auto-assignment, limits)
    INBOX_SETTINGS_CHANGED = "inbox.settings_changed"
    # payload: {"user_id": id} (no inbox): an operator account was deactivated
    OPERATOR_DEACTIVATED = "operator.deactivated"


@dataclass(frozen=True)
class Notice:
    type: str
    inbox_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)


Listener = Callable[[Notice], None]
_listeners: list[tuple[frozenset[str], Listener]] = []


def listen(callback: Listener, *, types: set[str]) -> None:
    """Call ``callback(notice)`` after commit for every notice of ``types``."""
    entry = (frozenset(types), callback)
    if entry not in _listeners:
        _listeners.append(entry)


def unlisten(callback: Listener) -> None:
    _listeners[:] = [entry for entry in _listeners if entry[1] is not callback]


def announce(kind: NoticeType, *, inbox_id: int | None = None, payload: dict[str, Any] | None = None) -> None:
    """Tell the listeners about ``kind`` once the current transaction commits (now outside one)."""
    notice = Notice(type=str(kind), inbox_id=inbox_id, payload=dict(payload or {}))
    transaction.on_commit(lambda: _deliver(notice))


def _deliver(notice: Notice) -> None:
    for types, callback in list(_listeners):
        if notice.type in types:
            try:
                callback(notice)
            except Exception:  # one listener's failure must not stop the others
                logger.exception("notice listener %r failed for %s", callback, notice.type)
