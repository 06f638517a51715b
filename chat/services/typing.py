"""Typing indicators: ephemeral frames (no id, not stored), the one owner of who sees them.

* **The visitor types** (``side="contact"``): the conversation's operators (its inbox's group)
  see it; with the inbox's ``sneak_peek`` on, the frame carries the unsent text in
  ``data.draft`` (at most DRAFT_MAX_CHARS), otherwise any draft is dropped here. A widget never
  receives a visitor's typing frame, so a draft never goes back to any widget.
* **An operator types** (``side="agent"``): the other operators of the conversation always see
  it, with ``data.user`` ({"id", "name"}) and ``data.private`` (writing a note, not a reply), so
  two agents do not answer at once; the visitor's widgets see it only when ``private`` is false.
  A stop goes to both audiences (hiding an indicator that was never shown is harmless, and an
  operator who switched from reply to note must stop showing in the widget).

Drafts are throttled per sender: at most one draft frame per DRAFT_INTERVAL_SECONDS, and the
latest draft offered within a window is sent at the window's end (trailing edge), so the last
keystrokes are never lost. ``DraftThrottle`` is that rule as a pure state machine (a socket holds
one); ``visitor_typing_shared`` is the same rule over the shared store, for the widget's REST
fallback, whose requests may land on any server process.
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any

from asgiref.sync import SyncToAsync, sync_to_async
from django.conf import settings
from django.db import connections
from django.utils.translation import gettext_lazy as _

from chat.errors import NotFound
from chat.event_types import ControlType
from chat.events import EphemeralType, contact_inbox_group, inbox_group, notify_group
from chat.models import Conversation
from chat.store import get_store

logger = logging.getLogger(__name__)

# Control-message type the consumers handle: forward ``frame`` to the socket unless it is the
# sender's own socket (``exclude_channel``).
EPHEMERAL_MESSAGE_TYPE = ControlType.EPHEMERAL_FRAME.value

# DESIGN §11: "cut to 1,000 chars; at most one frame per 500 ms per socket".
DRAFT_MAX_CHARS = 1000


def draft_interval() -> float:
    return float(settings.TYPING_DRAFT_INTERVAL_SECONDS)


def typist(user: dict[str, Any] | None) -> dict[str, Any] | None:
    """The typist as frames show them: ``{"id", "name"}`` (no username: the widget sees it)."""
    if not user:
        return None
    return {"id": user.get("id"), "name": user.get("name") or ""}


def typing_set(
    *,
    conversation_id: int,
    typing: bool,
    side: str,
    user: dict[str, Any] | None = None,
    private: bool = False,
    draft: str | None = None,
    exclude_channel: str | None = None,
) -> None:
    """Broadcast that the contact (``side="contact"``) or an operator (``side="agent"``) started
    or stopped typing, to the audiences of the module docstring. Receivers hide the indicator
    after ``expires_in`` seconds without news, so a client that vanishes mid-typing never leaves
    it on."""
    row = (
        Conversation.objects.filter(pk=conversation_id)
        .values("inbox_id", "contact_inbox_id", "inbox__sneak_peek")
        .first()
    )
    if row is None:
        raise NotFound(_("Conversation not found."))
    kind = str(EphemeralType.TYPING_STARTED if typing else EphemeralType.TYPING_STOPPED)
    data: dict[str, Any] = {"side": side, "user": typist(user), "expires_in": settings.TYPING_TIMEOUT_SECONDS}
    if side == "contact":
        if typing and draft is not None and row["inbox__sneak_peek"]:
            data["draft"] = draft[:DRAFT_MAX_CHARS]
        _send(inbox_group(row["inbox_id"]), kind, conversation_id, data, exclude_channel)
        return
    _send(inbox_group(row["inbox_id"]), kind, conversation_id, {**data, "private": private}, exclude_channel)
    if not (typing and private):
        _send(contact_inbox_group(row["contact_inbox_id"]), kind, conversation_id, {**data, "private": False},
              exclude_channel)


def _send(group: str, kind: str, conversation_id: int, data: dict[str, Any], exclude_channel: str | None) -> None:
    frame = {"type": kind, "conversation_id": conversation_id, "data": data}
    notify_group(group, {"type": EPHEMERAL_MESSAGE_TYPE, "frame": frame, "exclude_channel": exclude_channel})


# --- Draft throttle -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DraftOffer:
    conversation_id: int
    draft: str | None


class DraftThrottle:
    """One sender's typing starts: at most one per ``interval``; within a window the latest
    offer is kept (``offer`` answers how long until it is due) and ``take`` hands it over at the
    window's end. Pure: the caller passes the clock and runs the timer."""

    __slots__ = ("interval", "last_sent", "pending")

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last_sent = -math.inf
        self.pending: DraftOffer | None = None

    def offer(self, item: DraftOffer, now: float) -> tuple[bool, float | None]:
        """``(True, None)``: send ``item`` now. ``(False, delay)``: kept; call ``take`` after
        ``delay`` seconds (``delay`` None: a timer is already running for this window)."""
        if self.pending is None and now - self.last_sent >= self.interval:
            self.last_sent = now
            return True, None
        timer_running = self.pending is not None
        self.pending = item
        return False, None if timer_running else max(0.0, self.last_sent + self.interval - now)

    def take(self, now: float) -> DraftOffer | None:
        """The kept offer, due now (None if a stop or a message cancelled it)."""
        item, self.pending = self.pending, None
        if item is not None:
            self.last_sent = now
        return item

    def cancel(self) -> None:
        """The sender stopped typing or sent the message: a kept draft is stale."""
        self.pending = None


def _shared_keys(contact_inbox_id: int) -> tuple[str, str, str]:
    base = f"typing:draft:{contact_inbox_id}"
    return f"{base}:window", f"{base}:pending", f"{base}:flush"


def visitor_typing_shared(*, contact_inbox_id: int, conversation_id: int, typing: bool, draft: str | None) -> None:
    """The visitor's typing over REST (SSE / long-poll mode): ``DraftThrottle``'s rule with its
    state in the shared store, per visitor (contact inbox). The process that keeps a draft for
    later sends it at the window's end; if it dies meanwhile the draft is lost, like any
    ephemeral frame."""
    store = get_store()
    window, pending, flush = _shared_keys(contact_inbox_id)
    interval = draft_interval()
    if not typing:
        store.delete(pending)
        typing_set(conversation_id=conversation_id, typing=False, side="contact")
        return
    if draft is not None:
        draft = draft[:DRAFT_MAX_CHARS]
    if store.acquire(window, interval):
        store.delete(pending)
        typing_set(conversation_id=conversation_id, typing=True, side="contact", draft=draft)
        return
    store.set(pending, json.dumps({"conversation_id": conversation_id, "draft": draft}), ttl=interval * 4)
    if store.acquire(flush, interval):
        _later(interval, contact_inbox_id)


def _later(delay: float, contact_inbox_id: int) -> None:
    """Run ``_flush_shared`` after ``delay``: on the server's event loop when this thread was
    started from one (a view under ASGI), so the frame leaves through the loop's channel layer
    (the in-memory layer's queues belong to that loop); else (WSGI, a test client) a timer thread."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is not None and loop.is_running():
        asyncio.run_coroutine_threadsafe(_flush_after(delay, contact_inbox_id), loop)
        return
    timer = threading.Timer(delay, _flush_shared, kwargs={"contact_inbox_id": contact_inbox_id})
    timer.daemon = True
    timer.start()


async def _flush_after(delay: float, contact_inbox_id: int) -> None:
    await asyncio.sleep(delay)
    await sync_to_async(_flush_shared, thread_sensitive=False)(contact_inbox_id=contact_inbox_id)


def _flush_shared(*, contact_inbox_id: int) -> None:
    """The end of a REST sender's window: send the latest kept draft, if any."""
    store = get_store()
    window, pending, _flush = _shared_keys(contact_inbox_id)
    try:
        raw = store.get(pending)
        if raw is None or not store.delete(pending):
            return  # a stop, a message or a newer direct send took it
        item = json.loads(raw)
        store.set(window, "1", ttl=draft_interval())
        typing_set(conversation_id=int(item["conversation_id"]), typing=True, side="contact", draft=item["draft"])
    except NotFound:
        pass
    except Exception:
        logger.warning("typing draft flush failed", exc_info=True)
    finally:
        connections.close_all()  # this thread's own connections (they are per thread)


def visitor_draft_discard(*, contact_inbox_id: int) -> None:
    """The visitor sent their message over REST: a draft kept for later is stale."""
    get_store().delete(_shared_keys(contact_inbox_id)[1])
