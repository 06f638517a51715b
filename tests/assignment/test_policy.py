"""Pure decisions: no database, no store."""
from __future__ import annotations

from assignment.policy import (
    Candidate,
    Refusal,
    effective_status,
    eligible_user_ids,
    escalation_refusal,
    manual_assignment_refusal,
    rebuild_queue,
    reopened_assignee_must_go,
)
from presence.policy import closed_socket_deadline, socket_deadline


def test_eligible_skips_offline_busy_full_and_rate_limited():
    candidates = [
        Candidate(1, "online", 0, 0),
        Candidate(2, "busy", 0, 0),
        Candidate(3, "offline", 0, 0),
        Candidate(4, "online", 5, 0),  # at capacity 5
        Candidate(5, "online", 1, 10),  # at rate limit 10
        Candidate(6, "online", 4, 9),
    ]
    assert eligible_user_ids(candidates, capacity=5, rate_limit=10) == [1, 6]
    assert eligible_user_ids(candidates, capacity=None, rate_limit=None) == [1, 4, 5, 6]


def test_rebuild_keeps_order_drops_removed_and_puts_newcomers_first():
    assert rebuild_queue(["3", "1", "2"], [1, 2, 3]) is None
    assert rebuild_queue(["3", "1", "2"], [1, 3, 4]) == ["4", "3", "1"]
    assert rebuild_queue([], [5, 2, 10]) == ["2", "5", "10"]
    assert rebuild_queue(["1", "1"], [1]) == ["1"]


def test_effective_status_and_deadlines():
    assert effective_status(connected=False, availability="online") == "offline"
    assert effective_status(connected=True, availability="busy") == "busy"
    assert effective_status(connected=True, availability="offline") == "offline"
    assert effective_status(connected=True, availability="online") == "online"
    assert socket_deadline(now=100, ttl=60) == 160
    assert closed_socket_deadline(now=100, grace=5) == 105


def refusal(role, *, sees=True, current=None, new=None, new_member=True, actor=1):
    return manual_assignment_refusal(
        actor_id=actor,
        actor_role=role,
        actor_sees_inbox=sees,
        current_assignee_id=current,
        new_assignee_id=new,
        new_assignee_is_member=new_member,
    )


def test_agents_take_unassigned_or_release_their_own():
    assert refusal("agent", new=1) is None
    assert refusal("agent", current=1, new=None) is None
    assert refusal("agent", current=1, new=1) is None
    assert refusal("agent", new=2) == Refusal.FORBIDDEN
    assert refusal("agent", current=2, new=1) == Refusal.FORBIDDEN
    assert refusal("agent", current=2, new=None) == Refusal.FORBIDDEN
    assert refusal("agent", sees=False, new=1) == Refusal.NOT_VISIBLE


def test_supervisors_and_administrators_assign_any_member():
    assert refusal("supervisor", current=2, new=3) is None
    assert refusal("supervisor", current=2, new=None) is None
    assert refusal("supervisor", new=3, new_member=False) == Refusal.ASSIGNEE_NOT_MEMBER
    assert refusal("supervisor", sees=False, new=3) == Refusal.NOT_VISIBLE
    assert refusal("administrator", current=2, new=3) is None


def test_escalation_needs_to_see_the_conversation():
    assert escalation_refusal(actor_sees_inbox=True) is None
    assert escalation_refusal(actor_sees_inbox=False) == Refusal.NOT_VISIBLE


def test_a_reopened_conversation_keeps_only_an_active_member_as_assignee():
    assert reopened_assignee_must_go(status="open", assignee_id=3, assignee_is_active_member=False)
    assert not reopened_assignee_must_go(status="open", assignee_id=3, assignee_is_active_member=True)
    assert not reopened_assignee_must_go(status="open", assignee_id=None, assignee_is_active_member=False)
    assert not reopened_assignee_must_go(status="resolved", assignee_id=3, assignee_is_active_member=False)
