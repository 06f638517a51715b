"""Pure assignment decisions: plain data and ``now`` in, a decision out.

No database, no store, no settings: the services load, lock, call these, write and dispatch.
Tested in tests/assignment/test_policy.py without anything running.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from presence.policy import BUSY, OFFLINE, ONLINE, effective_status  # noqa: F401 (re-exported)

AGENT = "agent"
SUPERVISOR = "supervisor"
ADMINISTRATOR = "administrator"


@dataclass(frozen=True)
class Candidate:
    """One operator as the rotation sees them."""

    user_id: int
    status: str  # effective presence: online, busy or offline
    open_count: int  # open conversations assigned to them in the inbox
    recent_assignments: int  # auto-assignments in the rate window


def eligible_user_ids(candidates: Iterable[Candidate], *, capacity: int | None, rate_limit: int | None) -> list[int]:
    """Who may receive the next automatic assignment: online (not busy, not offline), under the
    inbox's capacity (``None``: no limit) and under the rate limit (``None``: no limit)."""
    return [
        c.user_id
        for c in candidates
        if c.status == ONLINE
        and (capacity is None or c.open_count < capacity)
        and (rate_limit is None or c.recent_assignments < rate_limit)
    ]


def has_capacity(*, open_count: int, capacity: int | None) -> bool:
    return capacity is None or open_count < capacity


def rebuild_queue(current: Sequence[str], members: Iterable[int]) -> list[str] | None:
    """The rotation to store for ``members``, or None when ``current`` already matches them.

    Members still present keep their place (so a rebuild does not reset fairness); members
    removed are dropped; newcomers go to the front, in id order: they carry no load yet.
    """
    wanted = {str(m) for m in members}
    if len(current) == len(wanted) and set(current) == wanted:
        return None
    kept: list[str] = []
    for item in current:
        if item in wanted and item not in kept:
            kept.append(item)
    newcomers = sorted(wanted.difference(kept), key=int)
    return newcomers + kept


class Refusal(StrEnum):
    NOT_VISIBLE = "not_visible"  # the actor may not see the conversation: NotFound
    FORBIDDEN = "forbidden"  # sees it but may not do this: PermissionDenied
    ASSIGNEE_NOT_MEMBER = "assignee_not_member"  # InvalidData


def manual_assignment_refusal(
    *,
    actor_id: int,
    actor_role: str,
    actor_sees_inbox: bool,
    current_assignee_id: int | None,
    new_assignee_id: int | None,
    new_assignee_is_member: bool,
) -> Refusal | None:
    """Who may assign whom (None: allowed).

    ``actor_role`` and ``actor_sees_inbox`` come from the caller-scope owner
    (chat/selectors/scope.py: administrators see every inbox, others their member inboxes).

    * an actor who does not see the conversation's inbox is told it does not exist;
    * supervisors and administrators may assign any member of the inbox, or unassign;
    * agents may take an unassigned conversation for themselves, or release their own;
    * the assignee must be a member of the conversation's inbox.
    """
    if not actor_sees_inbox:
        return Refusal.NOT_VISIBLE
    if actor_role in (SUPERVISOR, ADMINISTRATOR):
        allowed = True
    elif new_assignee_id is None:
        allowed = current_assignee_id in (None, actor_id)
    else:
        allowed = new_assignee_id == actor_id and current_assignee_id in (None, actor_id)
    if not allowed:
        return Refusal.FORBIDDEN
    if new_assignee_id is not None and not new_assignee_is_member:
        return Refusal.ASSIGNEE_NOT_MEMBER
    return None


def escalation_refusal(*, actor_sees_inbox: bool) -> Refusal | None:
    """Any operator who sees the conversation may escalate it."""
    if not actor_sees_inbox:
        return Refusal.NOT_VISIBLE
    return None


def reopened_assignee_must_go(*, status: str, assignee_id: int | None, assignee_is_active_member: bool) -> bool:
    """A conversation that is open again keeps its assignee only while they are an active
    member of its inbox (one removed while it was resolved must not keep it out of reach)."""
    return status == "open" and assignee_id is not None and not assignee_is_active_member


# --- Ring mode --------------------------------------------------------------------------------

# Offer states that mean "this operator said no (or did not answer) in this round".
REFUSED_STATES = frozenset({"declined", "expired"})


@dataclass(frozen=True)
class PastOffer:
    """One earlier offer of a conversation, as the ring sees it."""

    user_id: int
    round: int
    state: str
    ended_at: float | None  # epoch seconds; None while pending


@dataclass(frozen=True)
class RingTurn:
    round: int  # the round the next offer belongs to
    skip: frozenset[int]  # operators not to offer it to in that round


def ring_turn(offers: Sequence[PastOffer], *, now: float, cooldown: float) -> RingTurn:
    """Which round the next offer of a conversation is in, and whom it skips.

    A round skips everyone who declined or let the offer expire in it (a withdrawal, such as
    going offline, is no refusal). The next offer normally follows the previous one at once, so
    ``cooldown`` seconds without any offer since the last one ended means the round ran out of
    operators (everyone declined, or nobody was free): a new round starts and skips nobody. An
    operator who was not asked in the round (newly online, newly a member) is asked in it.
    """
    if not offers:
        return RingTurn(round=1, skip=frozenset())
    current = max(o.round for o in offers)
    in_round = [o for o in offers if o.round == current]
    ends = [o.ended_at for o in in_round]
    if all(end is not None for end in ends) and max(e for e in ends if e is not None) <= now - cooldown:
        return RingTurn(round=current + 1, skip=frozenset())
    return RingTurn(round=current, skip=frozenset(o.user_id for o in in_round if o.state in REFUSED_STATES))


def offer_is_live(*, expires_at: float, now: float) -> bool:
    """An offer may be accepted strictly before ``expires_at``; at that instant it has expired."""
    return now < expires_at
