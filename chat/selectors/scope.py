"""Who may see what: the caller's role and inboxes, as querysets to filter by.

Every read of the REST API goes through a selector that takes the caller; the selectors build
their scope from these functions, so the rule lives in one place: an administrator (a Django
superuser, or an operator whose profile role is ``administrator``) sees every inbox, any other
operator only the inboxes they are a member of (``InboxMember``).
"""
from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from chat.models import InboxMember, OperatorProfile, Role


def operator_profile(user: Any) -> OperatorProfile:
    """The operator's profile, created on demand (users made outside the API have none)."""
    profile = getattr(user, "_profile_cache", None)
    if profile is None:
        try:
            profile = user.operator_profile
        except OperatorProfile.DoesNotExist:
            profile, _ = OperatorProfile.objects.get_or_create(user=user)
        user._profile_cache = profile
    return profile


def operator_role(user: Any) -> str:
    """``administrator`` for a superuser, else the profile's role."""
    if user.is_superuser:
        return Role.ADMINISTRATOR
    return operator_profile(user).role


def operator_is_admin(user: Any) -> bool:
    return bool(user and user.is_authenticated and user.is_active) and operator_role(user) == Role.ADMINISTRATOR


def operator_inbox_ids(user: Any) -> QuerySet | None:
    """A subquery of the inbox ids the operator belongs to, or None for all inboxes (admins).

    A subquery, not a list: the scope joins the caller's query instead of costing one more.
    """
    if operator_is_admin(user):
        return None
    return InboxMember.objects.filter(user_id=user.pk).values("inbox_id")


def inbox_scope_q(user: Any, *, field: str = "inbox_id") -> Q:
    """A filter on ``field`` (an inbox id) restricted to the operator's inboxes."""
    inbox_ids = operator_inbox_ids(user)
    return Q() if inbox_ids is None else Q(**{f"{field}__in": inbox_ids})
