"""Operators (agents, supervisors, administrators): created and managed by administrators."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from rest_framework.authtoken.models import Token

from chat.activity import ActivityKind, activity_data
from chat.errors import Conflict, InvalidData
from chat.i18n import default_language, language_for_operator, normalize_language, supported_languages
from chat.models import OperatorProfile, Role
from chat.notices import NoticeType, announce
from chat.realtime import control
from chat.realtime.codes import CloseCode
from chat.selectors.scope import operator_profile
from chat.services.assignee import conversations_release_in_transaction, operator_person
from chat.services.contacts import normalize_email

User = get_user_model()


def _role(role: str) -> str:
    if role not in Role.values:
        raise InvalidData(_("Unknown role."), fields={"role": [format_lazy(_("One of {choices}."), choices=", ".join(Role.values))]})
    return role


def _password(password: str, user: Any | None = None) -> str:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise InvalidData(_("The password is too weak."), fields={"password": list(exc.messages)}) from exc
    return password


@transaction.atomic
def agent_create(*, username: str, password: str, email: str = "", name: str = "", role: str = Role.AGENT) -> Any:
    """Create an operator account with its profile."""
    if not username:
        raise InvalidData(_("A username is required."), fields={"username": [_("This field is required.")]})
    _role(role)
    _password(password)
    email = normalize_email(email) or ""
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(_("That username is taken."), fields={"username": [_("Already taken.")]})
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=password, email=email)
    except IntegrityError:
        raise Conflict(_("That username is taken."), fields={"username": [_("Already taken.")]}) from None
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
    """Change an operator's name, email, role or password; ``is_active=False`` deactivates.

    Each change brings its side effects (after commit): a role change re-scopes the operator's
    open sockets (``membership.changed``: an administrator demoted to agent keeps only their
    member inboxes), a password change revokes every token and session (``agent_set_password``),
    a deactivation closes everything (``agent_deactivate``).
    """
    profile, _created = OperatorProfile.objects.get_or_create(user=user)
    role_changed = role is not None and _role(role) != profile.role
    if name is not None:
        profile.display_name = name
    if role is not None:
        profile.role = role
    profile.save()
    if email is not None:
        user.email = normalize_email(email) or ""
        user.save(update_fields=["email"])
    if password:
        agent_set_password(user=user, password=password)
    if role_changed:
        control.notify_membership_changed(user_id=user.pk)
    if is_active is False and user.is_active:
        agent_deactivate(user=user)
    elif is_active is True and not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
    user.operator_profile = profile
    user._profile_cache = None
    return user


@transaction.atomic
def agent_set_password(*, user: Any, password: str) -> Any:
    """A new password: every credential the operator had is void. Their API token is deleted
    (the old key answers 401), their sessions stop authenticating (Django checks the password
    hash stored in each session), and every open socket closes with 4401, in every process."""
    user.set_password(_password(password, user))
    user.save(update_fields=["password"])
    Token.objects.filter(user=user).delete()
    control.revoke_operator_credentials(user_id=user.pk)
    return user


def agent_access_changed(*, user_id: int) -> None:
    """Something that decides the operator's scope changed outside ``agent_update`` (the
    superuser flag in the Django admin): re-scope their open sockets after commit."""
    control.notify_membership_changed(user_id=user_id)


@transaction.atomic
def agent_deactivate(*, user: Any) -> Any:
    """Deactivate an account: no login, its API token revoked, every conversation it held that
    is not resolved released (activity line, events; assignment serves them again), its open
    sockets closed (4403) and its pending ring offers ended, after commit."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    Token.objects.filter(user=user).delete()
    conversations_release_in_transaction(
        user_id=user.pk,
        activity=activity_data(ActivityKind.RELEASED_DEACTIVATED, assignee=operator_person(user.pk)),
    )
    control.close_operator_sockets(user_id=user.pk, code=CloseCode.FORBIDDEN)
    # Ring mode ends their pending offers (assignment listens): the next operator is asked now,
    # not when presence gives up on the closed sockets or the offer times out.
    announce(NoticeType.OPERATOR_DEACTIVATED, payload={"user_id": user.pk})
    return user


# --- Login and logout -------------------------------------------------------------------------


def operator_authenticate(*, identity: str, password: str) -> Any | None:
    """The active account for a username (or email) and password, or None."""
    user = authenticate(username=identity, password=password)
    if user is None and "@" in identity:
        match = User.objects.filter(email__iexact=identity).order_by("id").first()
        if match is not None:
            user = authenticate(username=match.get_username(), password=password)
    return user if user is not None and user.is_active else None


def operator_locale_on_login(*, user: Any, accept_language: str | None) -> str:
    """At login, an operator who never chose a language gets their browser's (the first
    supported one of ``Accept-Language``, else the server's default); a chosen one stays.
    Returns the operator's language. Called by every login (REST, the panel's form)."""
    profile = operator_profile(user)
    if not profile.locale:
        language = language_for_operator(locale=None, accept_language=accept_language)
        # Only while still empty: two logins at once cannot overwrite a choice made meanwhile.
        OperatorProfile.objects.filter(pk=profile.pk, locale="").update(locale=language)
        profile.refresh_from_db(fields=["locale"])
    return profile.locale or default_language()


def operator_set_locale(*, user: Any, locale: Any) -> str:
    """The operator's chosen language, one of settings.LANGUAGES (``ru-RU`` is ``ru``), else
    InvalidData naming the field."""
    language = normalize_language(locale)
    if language is None:
        choices = ", ".join(supported_languages())
        raise InvalidData(format_lazy(_("Unknown language; one of {choices}."), choices=choices),
                          fields={"locale": [format_lazy(_("One of {choices}."), choices=choices)]})
    profile = operator_profile(user)
    OperatorProfile.objects.filter(pk=profile.pk).update(locale=language)
    profile.locale = language
    return language


def operator_token(*, user: Any) -> str:
    """The operator's API token (made on first login)."""
    token, _created = Token.objects.get_or_create(user=user)
    return str(token.key)


@transaction.atomic
def operator_logout(*, user_id: int, token_key: str | None = None, session_key: str | None = None) -> None:
    """End one credential: the token is deleted (it answers 401 from now on) and the sockets
    that authenticated with that token or that session close with 4401, in every process;
    the operator's other sessions stay. (The caller ends the session itself: Django's
    ``logout()`` flushes it and clears the cookie.)"""
    if token_key:
        Token.objects.filter(user_id=user_id, key=token_key).delete()
        control.revoke_operator_credential(user_id=user_id, kind=control.CredentialKind.TOKEN, key=token_key)
    if session_key:
        control.revoke_operator_credential(user_id=user_id, kind=control.CredentialKind.SESSION, key=session_key)
