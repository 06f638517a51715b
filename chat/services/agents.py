"""Operators (agents, supervisors, administrators): created and managed by administrators."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from chat.errors import Conflict, InvalidData
from chat.events import notify_group, user_group
from chat.models import OperatorProfile, Role
from chat.services.contacts import normalize_email

User = get_user_model()

# Close code the operator's sockets get when the account is deactivated (DESIGN.md §7: 4403).
CLOSE_FORBIDDEN = 4403


def _role(role: str) -> str:
    if role not in Role.values:
        raise InvalidData("Unknown role.", fields={"role": [f"One of {Role.values}."]})
    return role


def _password(password: str, user: Any | None = None) -> str:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InvalidData("The password is too weak.", fields={"password": list(exc.messages)}) from exc
    return password


@transaction.atomic
def agent_create(*, username: str, password: str, email: str = "", name: str = "", role: str = Role.AGENT) -> Any:
    """Create an operator account with its profile."""
    if not username:
        raise InvalidData("A username is required.", fields={"username": ["This field is required."]})
    _role(role)
    _password(password)
    email = normalize_email(email) or ""
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict("That username is taken.", fields={"username": ["Already taken."]})
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, email=email)
    except IntegrityError:
        raise Conflict("That username is taken.", fields={"username": ["Already taken."]}) from None
    OperatorProfile.objects.update_or_create(user=user, defaults={"role": role, "display_name": name or ""})
    return user


@transaction.atomic
def agent_update(
    *,
    user: Any,
    name: str | None = None,
    email: str | None = None,
    role: str | None = None,
    password: str | None = None,
    is_active: bool | None = None,
) -> Any:
    """Change an operator's name, email, role or password; ``is_active=False`` deactivates."""
    profile, _ = OperatorProfile.objects.get_or_create(user=user)
    if name is not None:
        profile.display_name = name
    if role is not None:
        profile.role = _role(role)
    profile.save()
    fields = []
    if email is not None:
        user.email = normalize_email(email) or ""
        fields.append("email")
    if password:
        user.set_password(_password(password, user))
        fields.append("password")
    if fields:
        user.save(update_fields=fields)
    if is_active is False and user.is_active:
        agent_deactivate(user=user)
    elif is_active is True and not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
    user.operator_profile = profile
    return user


@transaction.atomic
def agent_deactivate(*, user: Any) -> Any:
    """Deactivate an account: no login, its API token revoked, its open sockets closed (4403)."""
    from rest_framework.authtoken.models import Token

    user.is_active = False
    user.save(update_fields=["is_active"])
    Token.objects.filter(user=user).delete()
    notify_group(user_group(user.pk), {"type": "socket.close", "code": CLOSE_FORBIDDEN})
    return user
