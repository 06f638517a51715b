"""Helpers shared by the presence and assignment tests."""
from __future__ import annotations

import time
from typing import Any

from chat.models import Availability, OperatorProfile, Role
from presence.tracker import OnlineStatusTracker
from tests.concurrency import run_concurrently
from tests.factories import InboxFactory, InboxMemberFactory, UserFactory

T0 = float(int(time.time()))  # a fixed "now" close to the real clock (store keys expire on it)


def operators(inbox, count: int, *, role: str = Role.AGENT) -> list[Any]:
    users = [UserFactory(profile=role) for _ in range(count)]
    for user in users:
        InboxMemberFactory(inbox=inbox, user=user)
    return users


def connect(tracker: OnlineStatusTracker, *users: Any, now: float = T0, tab: str = "tab1") -> None:
    for user in users:
        tracker.set_online(user_id=user.pk, socket_id=f"{user.pk}-{tab}", now=now)


def set_availability(user: Any, availability: str) -> None:
    OperatorProfile.objects.filter(user=user).update(availability=availability)


def auto_inbox(**kwargs: Any):
    kwargs.setdefault("enable_auto_assignment", True)
    return InboxFactory(**kwargs)


__all__ = ["T0", "Availability", "operators", "connect", "set_availability", "auto_inbox", "run_concurrently"]
