"""What one subscriber may see of the event stream.

A scope holds the subscriber's rule from ``chat.selectors.event_visibility`` (the one owner of
"which events may this subscriber see") in both its forms: ``visible(queryset)`` for replay and
``sees(event)`` for the hub's live fan-out. ``encode`` is the frame its audience receives.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet

from chat.models import Event
from chat.realtime.codec import operator_event_frame, widget_event_frame
from chat.selectors.event_visibility import Rule, operator_event_rule, widget_event_rule


@dataclass(frozen=True)
class OperatorScope:
    user_id: int
    inbox_ids: frozenset[int] | None  # None: every inbox
    # One conversation only (the operator stream of chat/api/operator_stream_views.py).
    conversation_id: int | None = None
    sees: Callable[[Any], bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sees", self.rule.compile())

    @property
    def rule(self) -> Rule:
        """Built when asked (replay): a live subscriber keeps only the compiled predicate."""
        return operator_event_rule(user_id=self.user_id, inbox_ids=self.inbox_ids, conversation_id=self.conversation_id)

    def visible(self, queryset: QuerySet[Event]) -> QuerySet[Event]:
        return queryset.filter(self.rule.q())

    @staticmethod
    def encode(event: Event) -> str:
        return operator_event_frame(event)


@dataclass(frozen=True)
class WidgetScope:
    inbox_id: int
    contact_inbox_id: int
    sees: Callable[[Any], bool] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sees", self.rule.compile())

    @property
    def rule(self) -> Rule:
        """Built when asked (replay): a live subscriber keeps only the compiled predicate."""
        return widget_event_rule(inbox_id=self.inbox_id, contact_inbox_id=self.contact_inbox_id)

    def visible(self, queryset: QuerySet[Event]) -> QuerySet[Event]:
        return queryset.filter(self.rule.q())

    @staticmethod
    def encode(event: Event) -> str:
        return widget_event_frame(event)


Scope = OperatorScope | WidgetScope
