"""Fair rotations in the shared store: one queue per inbox (and one per branch's supervisors).

The queue is a list of user ids. Before every pick it is compared with its source of truth
(InboxMember, or the branch's supervisors) and rebuilt when they differ: a member added or
removed, or the key lost (Redis restarted, flushed, evicted). Picking is the store's
``list_rotate_first``: one atomic step that takes the first queued id among the eligible and
moves it to the end, so any number of processes picking at once each get a different turn.
Who is eligible (online, not busy, under capacity, under the rate limit) is the caller's
decision (assignment/policy.py); the queue only remembers whose turn it is.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

from assignment.policy import rebuild_queue
from chat.models import Inbox, InboxMember, OperatorProfile, Role
from chat.store import SharedStore, get_store


class RoundRobinQueue:
    def __init__(self, key: str, members: Callable[[], list[int]], *, store: SharedStore | None = None) -> None:
        self.key = key
        self._members = members
        self.store = store or get_store()

    def member_ids(self) -> list[int]:
        return self._members()

    def validate(self) -> bool:
        """Make the stored queue match the members; True if it had to be rebuilt."""
        rebuilt = rebuild_queue(self.store.list_items(self.key), self.member_ids())
        if rebuilt is None:
            return False
        # Two processes rebuilding at once write the same members; the order may differ by
        # the newcomers' place only, which fairness tolerates.
        self.store.list_replace(self.key, rebuilt)
        return True

    def queue(self) -> list[int]:
        self.validate()
        return [int(item) for item in self.store.list_items(self.key)]

    def pick(self, eligible: Iterable[int]) -> int | None:
        """The next eligible user in turn (their turn moves to the end), or None."""
        wanted = [str(e) for e in eligible]
        if not wanted:
            return None
        self.validate()
        picked = self.store.list_rotate_first(self.key, wanted)
        return int(picked) if picked is not None else None

    def reset(self) -> None:
        self.store.delete(self.key)


class InboxRoundRobinService(RoundRobinQueue):
    """The inbox's operators in turn, built from InboxMember."""

    def __init__(
        self, inbox: Inbox | int, *, store: SharedStore | None = None, member_ids: list[int] | None = None
    ) -> None:
        self.inbox_id = inbox if isinstance(inbox, int) else inbox.pk
        # ``member_ids``: the caller just read the members (same transaction); saves a query.
        self._known_members = member_ids
        super().__init__(f"rr:inbox:{self.inbox_id}", self._load_members, store=store)

    def _load_members(self) -> list[int]:
        if self._known_members is not None:
            return list(self._known_members)
        return list(InboxMember.objects.filter(inbox_id=self.inbox_id).order_by("user_id").values_list("user_id", flat=True))


class BranchSupervisorRoundRobin(RoundRobinQueue):
    """The branch's supervisors in turn (escalations)."""

    def __init__(self, branch_id: int, *, store: SharedStore | None = None) -> None:
        self.branch_id = branch_id
        super().__init__(f"rr:branch:{branch_id}:supervisors", self._load_members, store=store)

    def _load_members(self) -> list[int]:
        return list(
            OperatorProfile.objects.filter(role=Role.SUPERVISOR, branches=self.branch_id)
            .order_by("user_id")
            .values_list("user_id", flat=True)
            .distinct()
        )
