"""Who the caller is and what they may see: the one owner of the administrator rule.

An administrator is a Django superuser or an active operator whose profile role is
``administrator`` (DESIGN.md §8); administrators see every inbox, any other operator only the
inboxes they are a member of (``InboxMember``). Every transport asks here: REST selectors and
permissions (``caller_scope``), the operator socket (``caller_scope_for`` on join and on
``membership.changed``; ``conversation_visible_q`` per command), assignment (the role it feeds
its pure decisions), the pages. The rule exists in two forms that must agree, Python
(``effective_role``) and SQL (``administrator_q``); tests/chat/test_scope.py checks one against
the other.

Commands re-check visibility in the same query that loads the conversation, from the rows as
they are now: a demoted administrator, a removed member or a deactivated account is refused at
once, before the control message that re-scopes their sockets has arrived.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from chat.models import Inbox, InboxMember, OperatorProfile, Role

User = get_user_model()


def effective_role(*, is_superuser: bool, role: str | None) -> str:
    """The role the rules see: ``administrator`` for a superuser, else the profile's role
    (``agent`` without a profile)."""
    if is_superuser:
        return Role.ADMINISTRATOR
    return role or Role.AGENT


def administrator_q(prefix: str = "") -> Q:
    """SQL form of ``effective_role(...) == administrator`` on User rows (``prefix`` e.g.
    ``"user__"``), active accounts only."""
    return Q(**{f"{prefix}is_active": True}) & (
        Q(**{f"{prefix}is_superuser": True}) | Q(**{f"{prefix}operator_profile__role": Role.ADMINISTRATOR})
    )


@dataclass(frozen=True)
class CallerScope:
    """An operator as the rules see them: id, effective role, and which inboxes they see."""

    user_id: int
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMINISTRATOR

    def inbox_subquery(self) -> QuerySet[Any] | None:
        """The ids of the inboxes the caller sees as a subquery (joins the caller's query
        instead of costing one more), or None for every inbox."""
        if self.is_admin:
            return None
        return InboxMember.objects.filter(user_id=self.user_id).values("inbox_id")

    def inbox_q(self, field: str = "inbox_id") -> Q:
        """A filter on ``field`` (an inbox id) restricted to the caller's inboxes."""
        subquery = self.inbox_subquery()
        return Q() if subquery is None else Q(**{f"{field}__in": subquery})

    def inbox_ids(self) -> frozenset[int] | None:
        """The caller's inbox ids read now (None: every inbox)."""
        if self.is_admin:
            return None
        return frozenset(InboxMember.objects.filter(user_id=self.user_id).values_list("inbox_id", flat=True))

    def group_inbox_ids(self) -> frozenset[int]:
        """Inboxes whose ephemeral frames (typing) the caller receives: all for administrators."""
        ids = self.inbox_ids()
        return frozenset(Inbox.objects.values_list("pk", flat=True)) if ids is None else ids

    def sees_inbox(self, inbox_id: int) -> bool:
        return self.is_admin or InboxMember.objects.filter(user_id=self.user_id, inbox_id=inbox_id).exists()


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


def caller_scope(user: Any) -> CallerScope:
    """The scope of a user loaded for this request (REST, pages, assignment's actor)."""
    if not (user and user.is_authenticated and user.is_active):
        # Anonymous or inactive: no role, no inbox (PermissionDenied comes from the caller).
        return CallerScope(user_id=getattr(user, "pk", None) or 0, role="")
    return CallerScope(user_id=user.pk, role=effective_role(is_superuser=user.is_superuser,
                                                            role=operator_profile(user).role))


def caller_scope_for(*, user_id: int) -> CallerScope | None:
    """The scope of an account read now by id (sockets); None if it is gone or inactive."""
    row = (
        User.objects.filter(pk=user_id, is_active=True)
        .values_list("is_superuser", "operator_profile__role")
        .first()
    )
    if row is None:
        return None
    return CallerScope(user_id=user_id, role=effective_role(is_superuser=row[0], role=row[1]))


def operator_get(*, user_id: int) -> Any:
    """An account with its profile, read now."""
    return User.objects.select_related("operator_profile").get(pk=user_id)


def operator_member_inbox_ids(*, user_id: int) -> list[int]:
    """The inboxes the operator is a member of (whatever their role), in id order."""
    return sorted(InboxMember.objects.filter(user_id=user_id).values_list("inbox_id", flat=True))


def operator_role(user: Any) -> str:
    """``administrator`` for a superuser, else the profile's role."""
    return effective_role(is_superuser=user.is_superuser, role=operator_profile(user).role)


def operator_is_admin(user: Any) -> bool:
    return caller_scope(user).is_admin


def operator_inbox_ids(user: Any) -> QuerySet[Any] | None:
    """A subquery of the inbox ids the operator belongs to, or None for all inboxes (admins)."""
    return caller_scope(user).inbox_subquery()


def inbox_scope_q(user: Any, *, field: str = "inbox_id") -> Q:
    """A filter on ``field`` (an inbox id) restricted to the operator's inboxes."""
    return caller_scope(user).inbox_q(field)


def conversation_visible_q(*, user_id: int, inbox_field: str = "inbox_id") -> Q:
    """On Conversation rows (or rows with an inbox id in ``inbox_field``): visible to the
    account ``user_id`` as it is now (active administrator, or member of the inbox). One
    query with the row it filters: no state cached in the caller."""
    admin = User.objects.filter(administrator_q(), pk=user_id)
    member = InboxMember.objects.filter(
        inbox_id=OuterRef(inbox_field), user_id=user_id, user__is_active=True
    )
    return Q(Exists(admin)) | Q(Exists(member))
