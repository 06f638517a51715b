"""Assignment services (DESIGN.md §6): manual assign, auto-assign, escalate, release.

Every change runs in one transaction under the conversation's row lock
(``lock_conversation``), so a conversation is never assigned twice. Capacity is decided under
a second lock, on the chosen operator's user row, taken inside a savepoint: every decision
that adds an open conversation to an operator (auto, manual, escalation) counts their open
conversations while holding it, so two assigners never both see "19 of 20". When the chosen
operator turns out full (or rate limited), the savepoint is rolled back, which releases that
lock at once: a transaction never holds one operator's lock while waiting for another's, so
assigners cannot deadlock.

Each change adds an activity line and emits ``assignee.changed`` ({"assignee": null|{...}})
and ``conversation.updated`` through the dispatcher; reactions to them (serving the next
waiting conversation) live in assignment/reactions.py.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from assignment.cooloff import cooling_off, cooloff_start
from assignment.engine import (
    apply_assignee,
    emit_updated,
    is_member,
    load_user,
    lock_operator,
    open_count,
    operator_name,
    reserve_operator,
)
from assignment.offers import (
    WithdrawReason,
    offer_create,
    offer_end_in_transaction,
    pending_offer,
    ring_turn_for,
    rings,
)
from assignment.policy import (
    Refusal,
    escalation_refusal,
    has_capacity,
    manual_assignment_refusal,
    reopened_assignee_must_go,
)
from assignment.rate_limiter import AssignmentRateLimiter
from assignment.round_robin import BranchSupervisorRoundRobin, InboxRoundRobinService
from chat.activity import ActivityKind, activity_data, person
from chat.activity import actor as activity_actor
from chat.errors import Conflict, InvalidData, NotFound, PermissionDenied
from chat.models import Conversation, ConversationOffer, ConversationStatus, Inbox, OfferState, Priority
from chat.selectors.scope import caller_scope
from chat.services.conversations import activity_add, conversation_for_event, lock_conversation
from chat.services.inboxes import inbox_member_hold
from presence import clock
from presence.policy import ONLINE
from presence.tracker import OnlineStatusTracker, get_tracker

User = get_user_model()


class Outcome(StrEnum):
    ASSIGNED = "assigned"
    OFFERED = "offered"  # ring mode: offered to the next operator in turn (assignment/offers.py)
    NOT_ELIGIBLE = "not_eligible"  # already assigned, not open, ringing, or the inbox does not auto-assign
    NO_OPERATOR = "no_operator"  # nobody available with capacity: the conversation waits
    # Ring mode: everyone free declined it (or let it ring out) this round; it waits for the
    # round's cooldown or someone not yet asked, while other conversations may still be served.
    RING_EXHAUSTED = "ring_exhausted"
    # Only operators who recently unassigned it are available (assignment/cooloff.py): it
    # waits, and the others waiting may still go to them.
    HELD_BACK = "held_back"


# --- Manual assignment ------------------------------------------------------------------------


def assign_conversation(
    *, conversation_id: int, assignee_id: int | None, actor: Any, now: float | None = None
) -> Conversation:
    """Manual assignment (or release with ``assignee_id=None``) by an operator.

    Agents may take an unassigned conversation or release their own; supervisors and
    administrators may assign any member of the inbox. The assignee must be a member of the
    conversation's inbox and under its ``max_assignment_limit`` (chat.errors.Conflict if not).
    Assigning the current assignee again changes and emits nothing. Unassigning starts the
    previous assignee's cool-off for this conversation (assignment/cooloff.py): auto-assignment
    does not hand it straight back to them.
    """
    if actor is None or not getattr(actor, "is_authenticated", False):
        raise PermissionDenied()
    if assignee_id is not None and (isinstance(assignee_id, bool) or not isinstance(assignee_id, int)):
        raise InvalidData(_("assignee_id must be an integer or null."), fields={"assignee_id": [_("Must be an integer or null.")]})
    scope = caller_scope(actor)
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        refusal = manual_assignment_refusal(
            actor_id=actor.pk,
            actor_role=scope.role,
            actor_sees_inbox=scope.sees_inbox(conversation.inbox_id),
            current_assignee_id=conversation.assignee_id,
            new_assignee_id=assignee_id,
            new_assignee_is_member=assignee_id is not None and is_member(conversation.inbox_id, assignee_id),
        )
        if refusal == Refusal.NOT_VISIBLE:
            raise NotFound(_("Conversation not found."))
        if refusal == Refusal.FORBIDDEN:
            raise PermissionDenied(_("Agents may only take unassigned conversations or release their own."))
        if refusal == Refusal.ASSIGNEE_NOT_MEMBER:
            raise InvalidData(
                _("The assignee must be a member of the conversation's inbox."),
                fields={"assignee_id": [_("Not a member of this inbox.")]},
            )
        if assignee_id == conversation.assignee_id:
            return conversation_for_event(conversation.pk)
        # Held until commit: a concurrent removal from the inbox waits for us, or we see it.
        if assignee_id is not None and not inbox_member_hold(inbox_id=conversation.inbox_id, user_id=assignee_id):
            raise InvalidData(
                _("The assignee must be a member of the conversation's inbox."),
                fields={"assignee_id": [_("Not a member of this inbox.")]},
            )
        by = activity_actor(user=actor)
        if assignee_id is None:
            assert conversation.assignee_id is not None  # unassigning nobody returned above
            # Before the write and its commit: whoever sees it unassigned sees the cool-off.
            cooloff_start(conversation_id=conversation.pk, user_id=conversation.assignee_id,
                          now=clock.now() if now is None else now)
            return apply_assignee(conversation, None, activity=activity_data(ActivityKind.UNASSIGNED, actor=by))
        if conversation.status == ConversationStatus.OPEN:
            # The operator's lock, with their user and profile read in the same statement.
            assignee = lock_operator(assignee_id) or load_user(assignee_id)
            limit = Inbox.objects.values_list("max_assignment_limit", flat=True).get(pk=conversation.inbox_id)
            if limit is not None and not has_capacity(
                open_count=open_count(assignee_id, conversation.inbox_id, except_offer_of=conversation.pk), capacity=limit
            ):
                raise Conflict(format_lazy(_("{name} already has {count} open conversations in this inbox."),
                                           name=operator_name(assignee), count=limit))
        else:
            assignee = load_user(assignee_id)
        return apply_assignee(conversation, assignee_id, activity=activity_data(
            ActivityKind.ASSIGNED, actor=by, assignee=person(assignee)))


# --- Automatic assignment ---------------------------------------------------------------------


def auto_assign_once(
    *, conversation_id: int, now: float | None = None, tracker: OnlineStatusTracker | None = None
) -> tuple[Outcome, Conversation | None]:
    """One attempt to auto-assign one conversation, and why it did or did not happen."""
    now = clock.now() if now is None else now
    tracker = tracker or get_tracker()
    with transaction.atomic():
        try:
            # The inbox comes with the locked row (one query); only the conversation is locked.
            conversation = (
                Conversation.objects.select_for_update(no_key=True, of=("self",)).select_related("inbox").get(pk=conversation_id)
            )
        except Conversation.DoesNotExist:
            raise NotFound(_("Conversation not found.")) from None
        if conversation.assignee_id is not None or conversation.status != ConversationStatus.OPEN:
            return Outcome.NOT_ELIGIBLE, None
        inbox = conversation.inbox
        if not inbox.enable_auto_assignment:
            return Outcome.NOT_ELIGIBLE, None
        ringing = pending_offer(conversation.pk)
        if ringing is not None:
            if rings(inbox):
                return Outcome.NOT_ELIGIBLE, None
            # The inbox stopped ringing with this offer out (ring → auto): end it, assign.
            offer_end_in_transaction(ringing, reason=WithdrawReason.MODE_CHANGED, now=now)
        turn = ring_turn_for(conversation.pk, now=now) if rings(inbox) else None
        statuses = tracker.member_statuses(inbox, now=now)
        held_back = cooling_off(conversation_id=conversation.pk, now=now) & {
            uid for uid, status in statuses.items() if status == ONLINE}
        statuses = {uid: status for uid, status in statuses.items() if uid not in held_back}
        pick = reserve_operator(
            conversation,
            inbox=inbox,
            queue=InboxRoundRobinService(inbox, member_ids=sorted(statuses)),
            statuses=statuses,
            limiter=AssignmentRateLimiter(inbox),
            now=now,
            exclude=turn.skip if turn else frozenset(),
        )
        if pick is None:
            if turn and turn.skip:
                return Outcome.RING_EXHAUSTED, None
            return (Outcome.HELD_BACK if held_back else Outcome.NO_OPERATOR), None
        if turn is not None:
            offer_create(conversation, inbox=inbox, user_id=pick.pk, round=turn.round, now=now)
            return Outcome.OFFERED, None
        activity = activity_data(ActivityKind.AUTO_ASSIGNED, assignee=person(pick))
        return Outcome.ASSIGNED, apply_assignee(conversation, pick.pk, activity=activity)


def auto_assign_conversation(*, conversation_id: int, now: float | None = None) -> Conversation | None:
    """Assign an unassigned open conversation to the next available operator, if any.

    Returns the assigned conversation, or None when it was not eligible (already assigned, not
    open, auto-assignment off), was offered (ring mode) or nobody is available (it waits for
    the next trigger).
    """
    outcome, conversation = auto_assign_once(conversation_id=conversation_id, now=now)
    return conversation if outcome == Outcome.ASSIGNED else None


def waiting_conversation_ids(
    *, inbox_id: int, limit: int = 50, exclude: set[int] | frozenset[int] = frozenset()
) -> list[int]:
    """Unassigned open conversations of an inbox, oldest ``waiting_since`` first (those with
    none after them), then oldest created; not those ringing (a pending offer)."""
    ringing = ConversationOffer.objects.filter(conversation_id=OuterRef("pk"), state=OfferState.PENDING)
    return list(
        Conversation.objects.filter(inbox_id=inbox_id, status=ConversationStatus.OPEN, assignee__isnull=True)
        .exclude(pk__in=exclude)
        .exclude(Exists(ringing))
        .order_by(F("waiting_since").asc(nulls_last=True), "created_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


def serve_waiting(*, inbox_id: int, now: float | None = None, max_assignments: int = 1000) -> int:
    """Assign (ring mode: offer) the inbox's waiting conversations, oldest first, until nobody
    is available. Returns how many were assigned or offered."""
    if not Inbox.objects.filter(pk=inbox_id, enable_auto_assignment=True).exists():
        return 0
    tracker = get_tracker()
    assigned = 0
    skipped: set[int] = set()
    while assigned < max_assignments:
        batch = waiting_conversation_ids(inbox_id=inbox_id, exclude=skipped)
        if not batch:
            return assigned
        for conversation_id in batch:
            try:
                outcome, _conversation = auto_assign_once(conversation_id=conversation_id, now=now, tracker=tracker)
            except NotFound:  # deleted meanwhile
                outcome = Outcome.NOT_ELIGIBLE
            if outcome == Outcome.NO_OPERATOR:
                return assigned
            if outcome in (Outcome.ASSIGNED, Outcome.OFFERED):
                assigned += 1
            else:  # not eligible, or held back for its releaser: the next one may still go
                skipped.add(conversation_id)
    return assigned


# --- Escalation -------------------------------------------------------------------------------


def escalate_conversation(*, conversation_id: int, actor: Any | None, now: float | None = None) -> Conversation:
    """Priority urgent, a fair pick among available supervisors of the branch, an activity line.

    Supervisors are operators with role supervisor whose branches include the conversation's
    branch; available means online (not busy) and under the inbox's capacity. Escalating a
    conversation already with an available supervisor of the branch keeps them. With nobody
    available the conversation keeps its assignee and the activity line says so.
    """
    now = clock.now() if now is None else now
    if actor is not None and not getattr(actor, "is_authenticated", False):
        raise PermissionDenied()
    tracker = get_tracker()
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        if actor is not None:
            refusal = escalation_refusal(actor_sees_inbox=caller_scope(actor).sees_inbox(conversation.inbox_id))
            if refusal is not None:
                raise NotFound(_("Conversation not found."))
        if conversation.priority != Priority.URGENT:
            Conversation.objects.filter(pk=conversation.pk).update(priority=Priority.URGENT)
        inbox = Inbox.objects.get(pk=conversation.inbox_id)
        queue = BranchSupervisorRoundRobin(conversation.branch_id)
        supervisors = queue.member_ids()
        statuses = tracker.statuses_of_users(supervisors, now=now)
        by = activity_actor(user=actor)
        if conversation.assignee_id in supervisors and statuses.get(conversation.assignee_id) == ONLINE:
            activity_add(conversation=conversation, activity=activity_data(ActivityKind.ESCALATED, actor=by))
            return emit_updated(conversation.pk)
        pick = reserve_operator(
            conversation, inbox=inbox, queue=queue, statuses=statuses, limiter=None, now=now, require_member=False
        )
        if pick is None:
            activity_add(conversation=conversation, activity=activity_data(ActivityKind.ESCALATED_NO_SUPERVISOR, actor=by))
            return emit_updated(conversation.pk)
        activity = activity_data(ActivityKind.ESCALATED_ASSIGNED, actor=by, assignee=person(pick))
        return apply_assignee(conversation, pick.pk, activity=activity)


# --- Release ----------------------------------------------------------------------------------


def release_conversations(
    *, user_id: int, activity: str | dict[str, Any], inbox_id: int | None = None, still_applies: Any = None
) -> list[int]:
    """Unassign the operator's open conversations (of one inbox, or all), one transaction each.
    ``still_applies()`` is re-checked under each conversation's lock. The release emits
    ``assignee.changed`` with a null assignee, which makes assignment serve the inbox again."""
    conversations = Conversation.objects.filter(assignee_id=user_id, status=ConversationStatus.OPEN)
    if inbox_id is not None:
        conversations = conversations.filter(inbox_id=inbox_id)
    released: list[int] = []
    for conversation_id in conversations.order_by("id").values_list("pk", flat=True):
        with transaction.atomic():
            conversation = lock_conversation(conversation_id)
            if conversation.assignee_id != user_id or conversation.status != ConversationStatus.OPEN:
                continue
            if still_applies is not None and not still_applies():
                return released
            apply_assignee(conversation, None, activity=activity)
            released.append(conversation_id)
    return released


def inbox_members_changed(*, inbox_id: int) -> None:
    """After an inbox's members changed (a notice from chat/services/inboxes.py, which already
    released what removed members held): rebuild the rotation, then serve the waiting
    conversations (a new member may take them)."""
    InboxRoundRobinService(inbox_id).validate()
    serve_waiting(inbox_id=inbox_id)


def release_if_assignee_left(*, conversation_id: int) -> Conversation | None:
    """An open conversation whose assignee is no longer an active member of its inbox (removed
    or deactivated while it was resolved) is unassigned, with an activity line; its
    ``assignee.changed`` to nobody makes assignment serve it again. None if nothing to do."""

    def must_go(inbox_id: int, assignee_id: int | None, status: str) -> bool:
        return assignee_id is not None and reopened_assignee_must_go(
            status=status, assignee_id=assignee_id, assignee_is_active_member=is_member(inbox_id, assignee_id)
        )

    row = Conversation.objects.filter(pk=conversation_id).values_list("inbox_id", "assignee_id", "status").first()
    if row is None or not must_go(*row):  # the usual case, without a lock
        return None
    with transaction.atomic():
        try:
            conversation = lock_conversation(conversation_id)
        except NotFound:
            return None
        assignee_id = conversation.assignee_id
        if assignee_id is None or not must_go(conversation.inbox_id, assignee_id, conversation.status):
            return None
        return apply_assignee(conversation, None, activity=activity_data(
            ActivityKind.RELEASED_NOT_MEMBER, assignee=person(load_user(assignee_id))))
