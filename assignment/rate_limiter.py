"""AssignmentRateLimiter: at most N automatic assignments per operator per window.

N is the inbox's ``assignment_rate_limit`` or ASSIGNMENT_RATE_LIMIT (10), the window
ASSIGNMENT_RATE_WINDOW_SECONDS (60). Counted per (inbox, operator), since the limit is an
inbox setting.

A sliding window (a log of admission times in a sorted set, ``window_add`` / ``window_count``)
rather than a fixed one: with fixed minute buckets an operator can receive 2N conversations in
a few seconds across a bucket boundary (N at 12:00:59, N more at 12:01:00), which is exactly
the burst the limit exists to prevent. The log costs at most N entries per operator and inbox,
and admission is one atomic script, so concurrent assigners in many processes never admit
more than N.
"""
from __future__ import annotations

from django.conf import settings

from chat.models import Inbox
from chat.store import SharedStore, get_store
from presence import clock


class AssignmentRateLimiter:
    def __init__(self, inbox: Inbox, *, store: SharedStore | None = None) -> None:
        self.inbox_id = inbox.pk
        self.limit = int(inbox.assignment_rate_limit or settings.ASSIGNMENT_RATE_LIMIT)
        self.window = float(settings.ASSIGNMENT_RATE_WINDOW_SECONDS)
        self.store = store or get_store()

    def _key(self, user_id: int) -> str:
        return f"asg:rate:{self.inbox_id}:{user_id}"

    def count(self, user_id: int, *, now: float | None = None) -> int:
        """Automatic assignments to the operator in the window ending at ``now``."""
        now = clock.now() if now is None else now
        return self.store.window_count(self._key(user_id), now=now, window=self.window)

    def counts(self, user_ids: list[int], *, now: float | None = None) -> dict[int, int]:
        """``count`` for many operators. On Redis in one round trip (a pipeline of ZCOUNTs, the
        same query as ``window_count``): the rotation checks every candidate on each pick."""
        now = clock.now() if now is None else now
        client, prefixed = getattr(self.store, "client", None), getattr(self.store, "_k", None)
        if client is None or prefixed is None or not user_ids:
            return {uid: self.count(uid, now=now) for uid in user_ids}
        pipe = client.pipeline(transaction=False)
        for uid in user_ids:
            pipe.zcount(prefixed(self._key(uid)), f"({now - self.window!r}", "+inf")
        return {uid: int(n) for uid, n in zip(user_ids, pipe.execute(), strict=True)}

    def allowed(self, user_id: int, *, now: float | None = None) -> bool:
        return self.count(user_id, now=now) < self.limit

    def record(self, user_id: int, *, token: str, now: float | None = None) -> bool:
        """Count one assignment (``token`` names it) if the operator is under the limit;
        False, and nothing counted, if they are not. Atomic across processes."""
        now = clock.now() if now is None else now
        return self.store.window_add(self._key(user_id), now=now, window=self.window, limit=self.limit, member=token)
