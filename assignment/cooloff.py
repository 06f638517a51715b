"""Release cool-off: an operator who unassigns a conversation is not handed the same
conversation back by auto-assignment for ``ASSIGNMENT_RELEASE_COOLOFF_SECONDS`` (600).

Without it, an operator alone online who released a conversation got it straight back (the
release's ``assignee.changed`` to nobody serves the inbox, and they were the only one eligible),
with a "New conversation assigned to you" notice. During the cool-off the conversation waits
for someone else; when it ends, the worker's ``waiting`` tick serves it again (to them, if they
are still the only one). Manual assignment is never held back: "Assign to me" works at once.

One sorted set per conversation in the shared store, member = operator id, score = the end of
their cool-off; the key expires with the latest cool-off. ``ZADD`` is atomic, so concurrent
releases of one conversation (two processes, two operators in turn) each keep their entry, and
the release writes it inside its transaction, before commit: whoever sees the conversation
unassigned also sees the cool-off (a rolled-back release leaves a harmless entry that only
keeps auto-assignment from giving that operator the conversation they still hold).
"""
from __future__ import annotations

from django.conf import settings

from chat.store import SharedStore, get_store


def _key(conversation_id: int) -> str:
    return f"asg:cooloff:{conversation_id}"


def cooloff_start(*, conversation_id: int, user_id: int, now: float, store: SharedStore | None = None) -> None:
    """Hold the operator back from being auto-assigned this conversation until ``now`` + the cool-off."""
    seconds = float(settings.ASSIGNMENT_RELEASE_COOLOFF_SECONDS)
    if seconds <= 0:
        return
    store = store or get_store()
    store.zadd(_key(conversation_id), {str(user_id): now + seconds})
    store.expire(_key(conversation_id), seconds)


def cooling_off(*, conversation_id: int, now: float, store: SharedStore | None = None) -> set[int]:
    """Operators held back from this conversation at ``now`` (one store read)."""
    store = store or get_store()
    return {int(member) for member in store.zrangebyscore(_key(conversation_id), now, float("inf"))}
