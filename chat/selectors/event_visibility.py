"""Which events a subscriber may see: one declaration, two forms.

The rule is declared once, per kind of subscriber, as a small tree of conditions on an event's
columns (``operator_event_rule``, ``widget_event_rule``). The tree gives

* ``rule.q()``: a ``Q`` for the outbox query (resume, SSE ``Last-Event-ID``, long-poll ``after``);
* ``rule.test(event)``: the same predicate on an event already in memory (the hub's live
  fan-out), compiled once per subscriber.

tests/realtime/test_visibility.py generates events and subscribers and checks that both forms
agree (on PostgreSQL and SQLite) and that the hub delivers exactly that.

The rule (DESIGN.md §5, §7): operators see every event of the inboxes they belong to
(administrators: of every inbox, and events of no inbox), except personal events
(``Event.user_id``) of someone else; their own personal events reach them whatever their
inboxes are now (a ring offer withdrawn because they were removed from its inbox). A widget sees ``audience=everyone`` events of its inbox that
belong to its own contact inbox or to no contact inbox (inbox-wide), never personal events and
never operator-only types.
"""
from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from django.db.models import Q

from chat.event_types import OPERATOR_ONLY_TYPES
from chat.models import Audience


class EventColumns(Protocol):
    """What the predicate reads of an event (an ``Event`` row or a ``PublishedEvent``)."""

    type: str
    inbox_id: int | None
    conversation_id: int | None
    contact_inbox_id: int | None
    user_id: int | None
    audience: str


class Rule:
    def q(self) -> Q:
        raise NotImplementedError

    def compile(self) -> Callable[[Any], bool]:
        raise NotImplementedError

    def test(self, event: EventColumns) -> bool:
        return self.compile()(event)


@dataclass(frozen=True)
class Eq(Rule):
    """``column = value``: false for a null column (SQL's unknown is not a match)."""

    column: str
    value: Any

    def q(self) -> Q:
        return Q(**{self.column: self.value})

    def compile(self) -> Callable[[Any], bool]:
        column, value = self.column, self.value
        return lambda event: getattr(event, column) == value


@dataclass(frozen=True)
class IsNull(Rule):
    column: str

    def q(self) -> Q:
        return Q(**{f"{self.column}__isnull": True})

    def compile(self) -> Callable[[Any], bool]:
        column = self.column
        return lambda event: getattr(event, column) is None


@dataclass(frozen=True)
class In(Rule):
    """``column IN values``: false for a null column."""

    column: str
    values: frozenset[Any]

    def q(self) -> Q:
        return Q(**{f"{self.column}__in": sorted(self.values)})

    def compile(self) -> Callable[[Any], bool]:
        column, values = self.column, self.values
        return lambda event: (value := getattr(event, column)) is not None and value in values


@dataclass(frozen=True)
class Not(Rule):
    rule: Rule

    def q(self) -> Q:
        return ~self.rule.q()

    def compile(self) -> Callable[[Any], bool]:
        inner = _compiled(self.rule)
        return lambda event: not inner(event)


@dataclass(frozen=True)
class AllOf(Rule):
    rules: tuple[Rule, ...]

    def q(self) -> Q:
        q = Q()
        for rule in self.rules:
            q &= rule.q()
        return q

    def compile(self) -> Callable[[Any], bool]:
        return _chain([_compiled(rule) for rule in self.rules], all_of=True)


@dataclass(frozen=True)
class AnyOf(Rule):
    rules: tuple[Rule, ...]

    def q(self) -> Q:
        q = Q(pk__in=[])  # an empty OR matches nothing
        for rule in self.rules:
            q |= rule.q()
        return q

    def compile(self) -> Callable[[Any], bool]:
        return _chain([_compiled(rule) for rule in self.rules], all_of=False)


def _chain(parts: list[Callable[[Any], bool]], *, all_of: bool) -> Callable[[Any], bool]:
    """``a(e) and b(e) and ...`` (or ``or``) as closures: the live fan-out calls this per
    subscriber and event, and a generator per call would cost more than the tests themselves.
    Up to three parts make one closure (every subscriber holds one: fewer objects, fewer calls)."""
    if not parts:
        return (lambda event: True) if all_of else (lambda event: False)
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        a, b = parts
        return (lambda event: a(event) and b(event)) if all_of else (lambda event: a(event) or b(event))
    if len(parts) == 3:
        a, b, c = parts
        return ((lambda event: a(event) and b(event) and c(event)) if all_of
                else (lambda event: a(event) or b(event) or c(event)))
    head = _chain(parts[:3], all_of=all_of)
    return _chain([head, _chain(parts[3:], all_of=all_of)], all_of=all_of)


# Subtrees that are the same for every subscriber are built and compiled once, at import, and
# shared by every subscriber's tree: a widget socket's rule was ~5 KiB of objects and closures of
# its own, most of it these constants (docs/benchmarks.md, "Capacity"). Keyed by identity: they
# are module-level objects that live as long as the process.
_SHARED: dict[int, Callable[[Any], bool]] = {}


def _shared(rule: Rule) -> Rule:
    _SHARED[id(rule)] = rule.compile()
    return rule


# Leaves equal between subscribers (every widget of one inbox tests the same ``inbox_id``) share
# one compiled test while any subscriber holds it.
_LEAVES: weakref.WeakValueDictionary[Rule, Callable[[Any], bool]] = weakref.WeakValueDictionary()


def _compiled(rule: Rule) -> Callable[[Any], bool]:
    shared = _SHARED.get(id(rule))
    if shared is not None:
        return shared
    if not isinstance(rule, Eq | IsNull | In):
        return rule.compile()
    leaf = _LEAVES.get(rule)
    if leaf is None:
        leaf = _LEAVES[rule] = rule.compile()
    return leaf


# --- The declaration ---------------------------------------------------------------------------

_NO_USER = _shared(IsNull("user_id"))
_WIDGET_AUDIENCE = _shared(AllOf((
    Eq("audience", str(Audience.EVERYONE)),
    _NO_USER,
    Not(In("type", frozenset(str(t) for t in OPERATOR_ONLY_TYPES))),
)))
_INBOX_WIDE = _shared(IsNull("contact_inbox_id"))


def operator_event_rule(*, user_id: int, inbox_ids: Iterable[int] | None, conversation_id: int | None = None) -> Rule:
    """Events an operator may see; ``inbox_ids=None``: every inbox (administrators).

    ``conversation_id``: only that conversation's events (the per-conversation operator stream,
    ``/api/messenger/conversations/{id}/stream/``); the rest of the rule is unchanged, so its
    operator-only events are in and other operators' personal events out."""
    mine = Eq("user_id", user_id)
    if inbox_ids is None:
        parts: tuple[Rule, ...] = (AnyOf((_NO_USER, mine)),)
    else:
        # A personal event reaches its operator whatever their inboxes are now: an offer ended
        # because they left the inbox still tells them (``conversation.offer_withdrawn``).
        parts = (AnyOf((AllOf((In("inbox_id", frozenset(inbox_ids)), _NO_USER)), mine)),)
    if conversation_id is not None:
        parts = (Eq("conversation_id", conversation_id), *parts)
    return AllOf(parts)


def widget_event_rule(*, inbox_id: int, contact_inbox_id: int) -> Rule:
    """Events a visitor's widget may see."""
    return AllOf((
        Eq("inbox_id", inbox_id),
        _WIDGET_AUDIENCE,  # audience everyone, no personal event, no operator-only type
        AnyOf((_INBOX_WIDE, Eq("contact_inbox_id", contact_inbox_id))),
    ))
