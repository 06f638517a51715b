"""Ring mode (DESIGN.md §11; docs/assignment.md "Ring mode"): offer, accept, decline, expire,
withdraw. The one owner of every ``ConversationOffer`` transition.

An inbox with ``assignment_mode = "ring"`` picks the operator exactly as auto-assignment does
(assignment/services.py ``auto_assign_once``, the same rotation and filters) but writes a
pending offer instead of the assignee, and tells that operator alone
(``conversation.offered``, a personal durable event). The offer holds one of their slots
(capacity counts it, the rate limiter admitted it) until it ends:

* ``accepted``: the operator's ``conversation.accept`` before ``expires_at``: they become the
  assignee (``assignee.changed`` to everyone, which is what clears the other tabs' toasts);
* ``declined`` / ``expired``: ``conversation.decline``, or ``expires_at`` reached (the worker's
  ``offers`` task, or an accept that arrives too late); they are skipped for the rest of the
  round (assignment/policy.py ``ring_turn``);
* ``withdrawn``: the conversation was assigned some other way, left ``open``, the operator went
  offline or left the inbox, or the inbox stopped ringing.

Every end but an accept sends ``conversation.offer_withdrawn`` to the operator, and its
publication (assignment/reactions.py) serves the inbox again: the next operator in turn gets the
offer, and the slot the ended offer held is free.

Locking: every transition runs under the conversation's row lock (lock order: conversation →
operator → member row → inserts, docs/architecture.md) and is a conditional ``UPDATE ... WHERE
state = 'pending'``, so two enders (an accept and the worker's expiry, two workers, two tabs)
cannot both win; the partial unique index keeps one pending offer per conversation.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from assignment.engine import apply_assignee, load_user
from assignment.policy import PastOffer, RingTurn, offer_is_live, ring_turn
from chat.activity import ActivityKind, activity_data, person
from chat.activity import actor as activity_actor
from chat.errors import AppError, Conflict, NotFound
from chat.event_types import EventType
from chat.events import dispatch
from chat.models import AssignmentMode, Conversation, ConversationOffer, ConversationStatus, Inbox, OfferState
from chat.payloads import iso, offer_payload
from chat.selectors.scope import caller_scope
from chat.services.conversations import conversation_for_event, lock_conversation
from chat.services.inboxes import inbox_member_hold
from presence import clock
from presence.tracker import as_datetime


class WithdrawReason(StrEnum):
    TIMEOUT = "timeout"
    DECLINED = "declined"
    ASSIGNED = "assigned"  # assigned another way (manually, escalated, to someone else)
    CLOSED = "closed"  # no longer open (resolved, pending, snoozed)
    OFFLINE = "offline"
    REMOVED = "removed"  # no longer a member of the inbox
    MODE_CHANGED = "mode_changed"  # the inbox stopped ringing (auto mode, auto-assignment off)


_STATE_OF_REASON = {WithdrawReason.TIMEOUT: OfferState.EXPIRED, WithdrawReason.DECLINED: OfferState.DECLINED}


def rings(inbox: Inbox) -> bool:
    """Whether the inbox offers its conversations instead of assigning them."""
    return bool(inbox.enable_auto_assignment) and inbox.assignment_mode == AssignmentMode.RING


def pending_offer(conversation_id: int) -> ConversationOffer | None:
    return ConversationOffer.objects.filter(conversation_id=conversation_id, state=OfferState.PENDING).first()


# --- Making an offer (inside auto-assignment's transaction) ----------------------------------


def ring_turn_for(conversation_id: int, *, now: float) -> RingTurn:
    """The conversation's round and whom it skips (assignment/policy.py ``ring_turn``)."""
    rows = ConversationOffer.objects.filter(conversation_id=conversation_id).values_list(
        "user_id", "round", "state", "ended_at"
    )
    past = [PastOffer(user_id=u, round=r, state=s, ended_at=e.timestamp() if e else None) for u, r, s, e in rows]
    return ring_turn(past, now=now, cooldown=float(settings.RING_ROUND_COOLDOWN_SECONDS))


def offer_create(conversation: Conversation, *, inbox: Inbox, user_id: int, round: int, now: float) -> ConversationOffer:
    """Write the offer and its personal ``conversation.offered``. The caller holds the
    conversation's lock and reserved the operator (``reserve_operator``: capacity recounted under
    their lock, rate admission recorded), so this offer counts against both from now on."""
    timeout = int(inbox.ring_timeout_seconds)
    offer = ConversationOffer.objects.create(
        conversation_id=conversation.pk,
        inbox_id=inbox.pk,
        user_id=user_id,
        round=round,
        state=OfferState.PENDING,
        created_at=as_datetime(now),
        expires_at=as_datetime(now + timeout),
    )
    full = conversation_for_event(conversation.pk)
    dispatch(
        EventType.CONVERSATION_OFFERED,
        payload=offer_payload(offer, conversation=full),
        inbox_id=conversation.inbox_id,
        conversation_id=conversation.pk,
        user_id=user_id,
    )
    return offer


# --- Ending an offer ----------------------------------------------------------------------------


def _end(offer: ConversationOffer, *, state: OfferState, reason: WithdrawReason | None, now: float) -> bool:
    """Move a pending offer to ``state`` (conditional: False if it had already ended) and, unless
    accepted, tell its operator. The caller holds the conversation's lock."""
    ended = ConversationOffer.objects.filter(pk=offer.pk, state=OfferState.PENDING).update(
        state=state, ended_at=as_datetime(now)
    )
    if not ended:
        return False
    offer.state = state
    if state != OfferState.ACCEPTED:
        dispatch(
            EventType.CONVERSATION_OFFER_WITHDRAWN,
            payload={"conversation_id": offer.conversation_id, "reason": str(reason)},
            inbox_id=offer.inbox_id,
            conversation_id=offer.conversation_id,
            user_id=offer.user_id,
        )
    return True


def offer_end_in_transaction(offer: ConversationOffer, *, reason: WithdrawReason, now: float) -> bool:
    """End a pending offer for ``reason`` (the conversation is locked by the caller)."""
    return _end(offer, state=_STATE_OF_REASON.get(reason, OfferState.WITHDRAWN), reason=reason, now=now)


def _locked_pending(conversation_id: int, *, skip_locked: bool = False) -> tuple[Conversation, ConversationOffer] | None:
    """Lock the conversation and read its pending offer; None if either is gone (or, with
    ``skip_locked``, if someone else holds the conversation right now)."""
    query = Conversation.objects.select_for_update(no_key=True, skip_locked=skip_locked).filter(pk=conversation_id)
    conversation = query.first()
    if conversation is None:
        return None
    offer = pending_offer(conversation_id)
    return None if offer is None else (conversation, offer)


def offer_withdraw(*, conversation_id: int, reason: WithdrawReason, now: float | None = None,
                   user_id: int | None = None) -> bool:
    """End the conversation's pending offer (only ``user_id``'s, if given). True if one ended."""
    now = clock.now() if now is None else now
    if not ConversationOffer.objects.filter(conversation_id=conversation_id, state=OfferState.PENDING).exists():
        return False  # the usual case, without a lock
    with transaction.atomic():
        found = _locked_pending(conversation_id)
        if found is None or (user_id is not None and found[1].user_id != user_id):
            return False
        return offer_end_in_transaction(found[1], reason=reason, now=now)


def offer_withdraw_if_moot(*, conversation_id: int, now: float | None = None) -> bool:
    """End the pending offer of a conversation that is no longer for offering: assigned, not
    open, or its inbox stopped ringing (reaction to ``assignee.changed`` and
    ``conversation.status_changed``)."""
    now = clock.now() if now is None else now
    if not ConversationOffer.objects.filter(conversation_id=conversation_id, state=OfferState.PENDING).exists():
        return False
    with transaction.atomic():
        found = _locked_pending(conversation_id)
        if found is None:
            return False
        conversation, offer = found
        reason = _moot_reason(conversation)
        return reason is not None and offer_end_in_transaction(offer, reason=reason, now=now)


def _moot_reason(conversation: Conversation) -> WithdrawReason | None:
    if conversation.assignee_id is not None:
        return WithdrawReason.ASSIGNED
    if conversation.status != ConversationStatus.OPEN:
        return WithdrawReason.CLOSED
    if not rings(Inbox.objects.get(pk=conversation.inbox_id)):
        return WithdrawReason.MODE_CHANGED
    return None


def offers_withdraw_for_user(*, user_id: int, reason: WithdrawReason, inbox_id: int | None = None,
                             now: float | None = None) -> list[int]:
    """End the operator's pending offers (of one inbox, or all): they went offline or left the
    inbox. Returns the conversations whose offer ended."""
    offers = ConversationOffer.objects.filter(user_id=user_id, state=OfferState.PENDING)
    if inbox_id is not None:
        offers = offers.filter(inbox_id=inbox_id)
    ended = []
    for conversation_id in list(offers.order_by("conversation_id").values_list("conversation_id", flat=True)):
        if offer_withdraw(conversation_id=conversation_id, reason=reason, now=now, user_id=user_id):
            ended.append(conversation_id)
    return ended


def offers_withdraw_if_inbox_stopped_ringing(*, inbox_id: int, now: float | None = None) -> list[int]:
    """After an inbox's settings changed: if it no longer rings (auto mode, auto-assignment
    off), end its pending offers; auto-assignment then serves those conversations."""
    inbox = Inbox.objects.filter(pk=inbox_id).first()
    if inbox is None or rings(inbox):
        return []
    ended = []
    pending = ConversationOffer.objects.filter(inbox_id=inbox_id, state=OfferState.PENDING)
    for conversation_id in list(pending.order_by("conversation_id").values_list("conversation_id", flat=True)):
        if offer_withdraw_if_moot(conversation_id=conversation_id, now=now):
            ended.append(conversation_id)
    return ended


def offers_expire_due(*, now: float | None = None, batch: int = 500) -> list[int]:
    """The worker's ``offers`` task: expire the offers whose time has come (each then offers the
    conversation to the next operator, through the reaction to its ``offer_withdrawn``).

    Safe with several workers: a conversation another transaction holds (an accept in flight,
    another worker) is skipped (``SKIP LOCKED``) and looked at again next tick, and the end
    itself is conditional. Returns the conversations whose offer this call expired."""
    now = clock.now() if now is None else now
    due = list(
        ConversationOffer.objects.filter(state=OfferState.PENDING, expires_at__lte=as_datetime(now))
        .order_by("expires_at", "id")
        .values_list("conversation_id", flat=True)[:batch]
    )
    expired = []
    for conversation_id in due:
        with transaction.atomic():
            found = _locked_pending(conversation_id, skip_locked=True)
            if found is None:
                continue
            _key, offer = found
            if offer_is_live(expires_at=offer.expires_at.timestamp(), now=now):
                continue
            if offer_end_in_transaction(offer, reason=WithdrawReason.TIMEOUT, now=now):
                expired.append(conversation_id)
    return expired


# --- The operator's answers ---------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    conversation: Conversation | None
    state: str  # the offer's state after the answer
    error: AppError | None = None


def _my_latest_offer(conversation_id: int, user_id: int) -> ConversationOffer | None:
    return ConversationOffer.objects.filter(conversation_id=conversation_id, user_id=user_id).order_by("-id").first()


def _answer(conversation_id: int, actor: Any, decide: Any) -> Answer:
    """Lock the conversation, find the caller's offer (NotFound for anyone it was never
    offered to, or who no longer sees the inbox) and let ``decide`` act on it. An answer that
    ends an offer (an accept too late) commits that end and reports the error afterwards."""
    scope = caller_scope(actor)
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        offer = _my_latest_offer(conversation_id, actor.pk)
        if offer is None or not scope.sees_inbox(conversation.inbox_id):
            raise NotFound(_("Conversation not found."))
        answer: Answer = decide(conversation, offer)
    if answer.error is not None:
        raise answer.error
    return answer


def offer_accept(*, conversation_id: int, actor: Any, now: float | None = None) -> Conversation:
    """The offered operator takes the conversation. Exactly one accept wins: the others, and
    any accept after the offer ended (expired, declined, withdrawn), get ``Conflict``; a repeat
    by the winner (another tab) returns the conversation again. NotFound for anyone it was
    never offered to."""
    now = clock.now() if now is None else now

    def decide(conversation: Conversation, offer: ConversationOffer) -> Answer:
        if conversation.assignee_id == actor.pk and conversation.status == ConversationStatus.OPEN:
            # Already theirs: this accept's twin won, or they were assigned it meanwhile.
            _end(offer, state=OfferState.ACCEPTED, reason=None, now=now)
            return Answer(conversation_for_event(conversation.pk), OfferState.ACCEPTED)
        if offer.state != OfferState.PENDING:
            return Answer(None, offer.state, Conflict(_("This offer has ended.")))
        if not offer_is_live(expires_at=offer.expires_at.timestamp(), now=now):
            offer_end_in_transaction(offer, reason=WithdrawReason.TIMEOUT, now=now)
            return Answer(None, offer.state, Conflict(_("This offer has expired.")))
        moot = _moot_reason(conversation)
        if moot is not None:
            offer_end_in_transaction(offer, reason=moot, now=now)
            return Answer(None, offer.state, Conflict(_("This offer has ended.")))
        # Still a member, and kept so until commit (a removal waits for us, or we see it).
        if not inbox_member_hold(inbox_id=conversation.inbox_id, user_id=actor.pk):
            offer_end_in_transaction(offer, reason=WithdrawReason.REMOVED, now=now)
            return Answer(None, offer.state, NotFound(_("Conversation not found.")))
        # No capacity check: the pending offer already held this slot.
        _end(offer, state=OfferState.ACCEPTED, reason=None, now=now)
        user = load_user(actor.pk)
        assigned = apply_assignee(conversation, actor.pk, activity=activity_data(
            ActivityKind.ACCEPTED_OFFER, actor=activity_actor(user=user), assignee=person(user)))
        return Answer(assigned, OfferState.ACCEPTED)

    answer = _answer(conversation_id, actor, decide)
    assert answer.conversation is not None
    return answer.conversation


def offer_decline(*, conversation_id: int, actor: Any, now: float | None = None) -> str:
    """The offered operator says no: the next operator in turn is asked, this one is skipped
    for the round. Idempotent: declining an offer that already ended (a repeat from another
    tab, a late click after the timeout) answers its state; declining one accepted and still
    held is a ``Conflict`` (release the conversation instead). Returns the offer's state."""
    now = clock.now() if now is None else now

    def decide(conversation: Conversation, offer: ConversationOffer) -> Answer:
        if offer.state == OfferState.PENDING:
            live = offer_is_live(expires_at=offer.expires_at.timestamp(), now=now)
            offer_end_in_transaction(offer, reason=WithdrawReason.DECLINED if live else WithdrawReason.TIMEOUT, now=now)
            return Answer(None, offer.state)
        if offer.state == OfferState.ACCEPTED and conversation.assignee_id == actor.pk:
            return Answer(None, offer.state, Conflict(_("You accepted this conversation; unassign it instead.")))
        return Answer(None, offer.state)

    return _answer(conversation_id, actor, decide).state


# --- Reads ---------------------------------------------------------------------------------------


def offers_pending_for(*, actor: Any, now: float | None = None) -> list[dict[str, Any]]:
    """The caller's live offers (panel load, reload mid-ring), soonest to expire first, in the
    shape of ``conversation.offered``; only inboxes the caller sees."""
    now = clock.now() if now is None else now
    scope = caller_scope(actor)
    offers = (
        ConversationOffer.objects.filter(user_id=actor.pk, state=OfferState.PENDING, expires_at__gt=as_datetime(now))
        .filter(scope.inbox_q("inbox_id"))
        .select_related("conversation__contact")
        .order_by("expires_at", "id")[:100]
    )
    return [offer_payload(o, conversation=o.conversation) for o in offers]


def server_time(now: float | None = None) -> str:
    """The server's clock as the offers' ``expires_at`` read it (clients correct their skew)."""
    return iso(as_datetime(clock.now() if now is None else now)) or ""
