"""Contacts: validated email and phone (E.164), block and unblock."""
from __future__ import annotations

from typing import Any

import phonenumbers
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from email_validator import EmailNotValidError, validate_email

from chat.errors import InvalidData
from chat.models import Contact
from chat.realtime import control
from chat.validation import clean_text


def normalize_email(value: str | None) -> str | None:
    """A syntactically valid email, normalized (domain lower-cased), or InvalidData."""
    if value in (None, ""):
        return None
    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InvalidData(_("Invalid email address."), fields={"email": [str(exc)]}) from exc


def normalize_phone(value: str | None, *, region: str | None = None) -> str | None:
    """A valid phone number in E.164 (``+33612345678``), or InvalidData.

    Without a ``+`` country prefix the number needs a ``region`` (ISO 3166 alpha-2).
    """
    if value in (None, ""):
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidData(_("Invalid phone number."), fields={"phone": [str(exc)]}) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidData(_("Invalid phone number."), fields={"phone": [_("Not a valid number.")]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def contact_create(
    *,
    name: str = "",
    email: str | None = None,
    phone: str | None = None,
    identifier: str | None = None,
    custom_attributes: dict[str, Any] | None = None,
    additional_attributes: dict[str, Any] | None = None,
) -> Contact:
    """Create a contact after validating email and phone."""
    return Contact.objects.create(
        name=name or "",
        email=normalize_email(email),
        phone=normalize_phone(phone),
        identifier=identifier or None,
        custom_attributes=custom_attributes or {},
        additional_attributes=additional_attributes or {},
    )


_UNSET: Any = object()


@transaction.atomic
def contact_update(
    *,
    contact: Contact,
    name: str | None = None,
    email: str | None = _UNSET,
    phone: str | None = _UNSET,
    custom_attributes: dict[str, Any] | None = None,
    additional_attributes: dict[str, Any] | None = None,
) -> Contact:
    """Update the given fields of a contact (email and phone validated)."""
    if name is not None:
        contact.name = name
    if email is not _UNSET:
        contact.email = normalize_email(email)
    if phone is not _UNSET:
        contact.phone = normalize_phone(phone)
    if custom_attributes is not None:
        contact.custom_attributes = custom_attributes
    if additional_attributes is not None:
        contact.additional_attributes = additional_attributes
    contact.save()
    return contact


@transaction.atomic
def contact_set_blocked(*, contact: Contact, blocked: bool) -> Contact:
    """Block or unblock a contact. Blocking refuses their new messages and, after commit,
    closes every widget socket, SSE stream and long-poll of theirs with 4403, in every process
    (a blocked visitor's reconnect is refused with 4403 too)."""
    Contact.objects.filter(pk=contact.pk).update(blocked=blocked)
    contact.blocked = blocked
    if blocked:
        control.close_contact_sockets(contact_id=contact.pk)
    return contact


def contact_block(*, contact: Contact) -> Contact:
    return contact_set_blocked(contact=contact, blocked=True)


def contact_unblock(*, contact: Contact) -> Contact:
    return contact_set_blocked(contact=contact, blocked=False)


@transaction.atomic
def contact_update_by_visitor(*, contact_inbox: Any, email: str, name: str | None = None) -> Contact:
    """The visitor leaves an email (required, validated) and optionally a name, e.g. after the
    out-of-office answer. An identified contact (the host site vouches for its details) keeps
    them: only an email it lacks is filled in, its name never changes."""
    contact = Contact.objects.select_for_update(no_key=True).get(pk=contact_inbox.contact_id)
    cleaned_name = clean_text(name.strip(), field="name") if name else None
    if contact.identifier is not None:
        if contact.email:
            normalize_email(email)  # still refuse a bad one: the answer must not depend on who asks
            return contact
        cleaned_name = None
    return contact_update(contact=contact, email=email, name=cleaned_name or None)
