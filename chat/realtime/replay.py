"""Resume: one catch-up for the socket's ``resume``, SSE's ``Last-Event-ID`` and long-poll's ``after``.

``resume(hub, sink, after=N)`` holds the sink's live events, takes the hub's cursor W as the
end of the replay (one synchronous step: no event is fanned out between the two), reads the
events the sink's scope may see in ``(N, W]`` that it was not already sent live
(``replay_events``, in a thread), queues them, then the caller's reply frame, then the live
events held meanwhile. ``resync_required`` (ResyncRequired) when too many were missed (more than
STREAM_RESUME_MAX_EVENTS, or more bytes than WS_SEND_BUFFER_MAX_BYTES) or the outbox no longer
holds them; the sink's position is then unchanged and live delivery goes on.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import AppError, InvalidData, ResyncRequired
from chat.models import Event
from chat.realtime.hub import Sink, StreamHub
from chat.realtime.outbound import frame_bytes
from chat.realtime.scopes import Scope
from chat.realtime.threads import run_db


@dataclass(frozen=True)
class Resumed:
    replayed: int  # events sent by the replay
    last_event_id: int  # the sink's position after it


def replay_events(*, scope: Scope, after: int, upto: int, skip_from: int = 0, skip_to: int = 0) -> list[tuple[int, str]]:
    """Encoded events the scope may see with ``after < id <= upto``, except ``(skip_from, skip_to]``
    (what this subscriber was already sent live), in id order. Synchronous (runs in a thread).

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
        raise ResyncRequired(_("Events after this id are no longer retained; reload through the REST API."))
    limit = settings.STREAM_RESUME_MAX_EVENTS
    queryset = Event.objects.filter(id__gt=after, id__lte=upto)
    if skip_to > skip_from:
        queryset = queryset.exclude(id__gt=skip_from, id__lte=skip_to)
    rows = list(scope.visible(queryset).order_by("id")[: limit + 1])
    if len(rows) > limit:
        raise ResyncRequired(format_lazy(_("More than {count} events were missed; reload through the REST API."), count=limit))
    encoded = [(row.id, scope.encode(row)) for row in rows]
    # A replay larger than a subscriber's send bound could never be taken in one piece.
    if sum(frame_bytes(text) for _id, text in encoded) > settings.WS_SEND_BUFFER_MAX_BYTES:
        raise ResyncRequired(_("The missed events are too large to replay; reload through the REST API."))
    return encoded


def check_position(after: int, *, name: str = "last_event_id") -> int:
    """A client's position: an integer >= 0 (0: from the oldest retained event)."""
    if isinstance(after, bool) or not isinstance(after, int):
        raise InvalidData(format_lazy(_("{name} must be an integer."), name=name), fields={name: [_("Must be an integer.")]})
    if after < 0:
        raise InvalidData(format_lazy(_("{name} must be >= 0."), name=name), fields={name: [_("Must be >= 0.")]})
    return after


async def resume(hub: StreamHub, sink: Sink, *, after: int, reply: Callable[[Resumed], str] | None = None,
                 error_reply: Callable[[AppError], str] | None = None) -> Resumed:
    """Replay what ``sink`` may see after ``after`` and continue live (see the module docstring).

    ``reply`` builds the frame queued after the replayed events and before the held live ones
    (the socket's ``resume`` reply; SSE and long-poll have none). On ResyncRequired,
    ``error_reply``'s frame is queued instead, live delivery resumes, and the error is raised.
    """
    check_position(after)
    upto = hub.hold(sink)
    try:
        events = await run_db(replay_events)(
            scope=sink.scope, after=after, upto=upto, skip_from=sink.covered_from, skip_to=sink.last_sent_id
        )
    except ResyncRequired as exc:
        sink.abandon_hold(error_reply(exc) if error_reply else None)
        raise
    except BaseException:
        sink.abandon_hold(None)
        raise
    result = Resumed(replayed=len(events), last_event_id=max(sink.last_sent_id, upto, after))
    sink.release(events, after=after, upto=upto, reply=reply(result) if reply else None)
    return result
