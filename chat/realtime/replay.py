"""The catch-up query behind ``resume``, SSE ``Last-Event-ID`` and long-poll ``after``.

Synchronous (runs in a thread). Given the events a subscriber may see (its scope), returns
those in ``(after, upto]`` that it has not been sent yet, encoded like live ones, or raises
ResyncRequired when too many were missed or the outbox no longer holds them.
"""
from __future__ import annotations

from django.conf import settings

from chat.errors import ResyncRequired
from chat.models import Event
from chat.realtime.scopes import Scope


def replay_events(*, scope: Scope, after: int, upto: int, skip_from: int = 0, skip_to: int = 0) -> list[tuple[int, str]]:
    """Encoded events the scope may see with ``after < id <= upto``, except ``(skip_from, skip_to]``
    (what this subscriber was already sent live), in id order.

    ``upto`` must be a released watermark (the hub's cursor): every event at or below it that
    will ever be visible already is, so the result is complete.
    """
    if upto <= after:
        return []
    oldest = Event.objects.order_by("id").values_list("id", flat=True).first()
    # Ids below the oldest retained one were pruned (or never existed: a rolled-back
    # transaction leaves a gap, which we cannot tell apart, so we ask for a resync too).
    # ``after == 0`` means "from the beginning of what is retained".
    if oldest is not None and 0 < after < oldest - 1:
        raise ResyncRequired("Events after this id are no longer retained; reload through the REST API.")
    limit = settings.STREAM_RESUME_MAX_EVENTS
    queryset = Event.objects.filter(id__gt=after, id__lte=upto)
    if skip_to > skip_from:
        queryset = queryset.exclude(id__gt=skip_from, id__lte=skip_to)
    rows = list(scope.visible(queryset).order_by("id")[: limit + 1])
    if len(rows) > limit:
        raise ResyncRequired(f"More than {limit} events were missed; reload through the REST API.")
    return [(row.id, scope.encode(row)) for row in rows]
