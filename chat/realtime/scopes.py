"""What one subscriber may see of the event stream, as a queryset filter (replay) and as
index keys for the hub's in-memory fan-out (live). Both follow chat/stream.py's rules."""
from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from chat.models import Event
from chat.realtime.codec import operator_event_frame, widget_event_frame
from chat.stream import operator_visible, widget_visible


@dataclass(frozen=True)
class OperatorScope:
    user_id: int
    inbox_ids: frozenset[int] | None  # None: every inbox

    def visible(self, queryset: QuerySet[Event]) -> QuerySet[Event]:
        return operator_visible(queryset, user_id=self.user_id, inbox_ids=self.inbox_ids)

    @staticmethod
    def encode(event: Event) -> str:
        return operator_event_frame(event)


@dataclass(frozen=True)
class WidgetScope:
    inbox_id: int
    contact_inbox_id: int

    def visible(self, queryset: QuerySet[Event]) -> QuerySet[Event]:
        return widget_visible(queryset, inbox_id=self.inbox_id, contact_inbox_id=self.contact_inbox_id)

    @staticmethod
    def encode(event: Event) -> str:
        return widget_event_frame(event)


Scope = OperatorScope | WidgetScope
