"""Presence reads other apps may use (assignment, pages): the status last published for each
operator (presence/models.py) and who has been offline since when. Nothing outside presence
reads its models directly."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from chat.payloads import iso
from chat.services.business_hours import inbox_is_open, inbox_next_open_at
from presence.models import OperatorPresence
from presence.policy import OFFLINE


def published_statuses(*, user_ids: Iterable[int]) -> dict[int, str]:
    """The status last broadcast for each operator (offline when never published)."""
    ids = list(user_ids)
    published = dict(OperatorPresence.objects.filter(user_id__in=ids).values_list("user_id", "status"))
    return {uid: published.get(uid, OFFLINE) for uid in ids}


def offline_since_user_ids(*, before: datetime) -> QuerySet[Any]:
    """Operators published offline since ``before`` or earlier, as a subquery of user ids."""
    return OperatorPresence.objects.filter(status=OFFLINE, changed_at__lte=before).values("user_id")


def is_offline_since(*, user_id: int, before: datetime) -> bool:
    return OperatorPresence.objects.filter(user_id=user_id, status=OFFLINE, changed_at__lte=before).exists()


def widget_availability(*, inbox: Any, at: datetime | None = None) -> dict[str, Any]:
    """What the widget shows before and while the visitor writes (DESIGN.md §11, business hours):
    ``online`` = within the inbox's hours (chat.services.business_hours, from the loaded row, no
    query) and at least one member available (the tracker); ``next_open_at`` (ISO, UTC) while
    outside hours, else null; ``operators_available`` as before (presence alone); ``within_hours``."""
    from presence.tracker import get_tracker  # the tracker reads this module: imported late

    at = at or timezone.now()
    available = bool(get_tracker().get_available_users(inbox.pk))
    within = inbox_is_open(inbox, at=at)
    return {
        "within_hours": within,
        "online": within and available,
        "operators_available": available,
        "next_open_at": None if within else iso(inbox_next_open_at(inbox, at=at)),
    }
