"""Widget sessions: a website visitor gets (or gets back) a contact inbox and its pubsub token.

Identity: a site that knows who its visitor is sends ``identifier`` (its own user id) and
``identifier_hash`` = hex HMAC-SHA256(identifier, key=inbox.hmac_secret), computed on its
server. A valid hash links the session to the contact with that identifier (created on first
use); a missing or wrong one is refused. ``source_id`` (the visitor id the widget keeps) returns
the same contact inbox, except when it belongs to an identified contact and the request does not
prove that identity: then a new anonymous visitor starts, so a leaked source_id never opens an
identified customer's history.
"""
from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData, NotFound, PermissionDenied
from chat.i18n import normalize_language
from chat.models import Contact, ContactInbox, Conversation, Inbox
from chat.services.contacts import normalize_email, normalize_phone
from chat.services.messages import visitor_conversation_for_message


@dataclass(frozen=True)
class WidgetSession:
    contact_inbox: ContactInbox
    conversation: Conversation | None
    created: bool  # a new contact inbox (visitor) was created


def identifier_hash(*, secret: str, identifier: str) -> str:
    return hmac.new(secret.encode(), identifier.encode(), hashlib.sha256).hexdigest()


def identity_verified(*, inbox: Inbox, identifier: str, provided_hash: str | None) -> bool:
    if not provided_hash:
        return False
    expected = identifier_hash(secret=inbox.hmac_secret, identifier=identifier)
    return hmac.compare_digest(expected.encode(), provided_hash.strip().lower().encode())


def inbox_for_website_token(website_token: str) -> Inbox:
    inbox = Inbox.objects.filter(website_token=website_token).first() if website_token else None
    if inbox is None:
        raise NotFound(_("Unknown website token."))
    return inbox


def _new_contact_inbox(*, inbox: Inbox, contact: Contact, source_id: str | None, language: str = "") -> ContactInbox:
    """A new visitor, under the source_id the widget proposed if it is still free (two first
    loads racing with the same one: the second gets a fresh id rather than an error)."""
    if source_id:
        try:
            with transaction.atomic():
                return ContactInbox.objects.create(contact=contact, inbox=inbox, source_id=source_id, locale=language)
        except IntegrityError:
            pass
    return ContactInbox.objects.create(contact=contact, inbox=inbox, source_id=str(uuid.uuid4()), locale=language)


@dataclass(frozen=True)
class VisitorDetails:
    """What the host page says about its visitor (validated); empty values change nothing."""

    name: str = ""
    email: str | None = None
    phone: str | None = None
    custom_attributes: dict[str, Any] | None = None

    def apply(self, contact: Contact) -> None:
        changed = []
        for field in ("name", "email", "phone"):
            value = getattr(self, field)
            if value and value != getattr(contact, field):
                setattr(contact, field, value)
                changed.append(field)
        if self.custom_attributes:
            merged = {**(contact.custom_attributes or {}), **self.custom_attributes}
            if merged != contact.custom_attributes:
                contact.custom_attributes = merged
                changed.append("custom_attributes")
        if changed and contact.pk is not None:
            contact.save(update_fields=changed)


def _identified_contact(*, identifier: str, details: VisitorDetails) -> Contact:
    contact = Contact.objects.filter(identifier=identifier).first()
    if contact is None:
        try:
            with transaction.atomic():
                contact = Contact(identifier=identifier)
                details.apply(contact)
                contact.save()
                return contact
        except IntegrityError:  # created concurrently by another session
            contact = Contact.objects.get(identifier=identifier)
    details.apply(contact)  # the host page vouches for this identity: its details win
    return contact


def _new_anonymous_contact(details: VisitorDetails) -> Contact:
    contact = Contact()
    details.apply(contact)
    contact.save()
    return contact


@transaction.atomic
def widget_session_start(
    *,
    website_token: str,
    source_id: str | None = None,
    identifier: str | None = None,
    identifier_hash_value: str | None = None,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    custom_attributes: dict[str, Any] | None = None,
    locale: str | None = None,
) -> WidgetSession:
    """Open or resume a visitor session in the inbox behind ``website_token``. ``locale`` (the
    visitor's language, None = unknown) is remembered on the contact inbox for the texts the
    server sends them later (chat.services.inbox_texts)."""
    inbox = inbox_for_website_token(website_token)
    language = normalize_language(locale) or ""
    source_id = (source_id or "").strip()[:255] or None
    if custom_attributes is not None and not isinstance(custom_attributes, dict):
        raise InvalidData(_("custom_attributes must be an object."), fields={"custom_attributes": [_("An object.")]})
    details = VisitorDetails(
        name=(name or "").strip()[:255],
        email=normalize_email(email) if email else None,
        phone=normalize_phone(phone) if phone else None,
        custom_attributes=custom_attributes or None,
    )
    if identifier is not None and not str(identifier).strip():
        raise InvalidData(_("identifier may not be blank."), fields={"identifier": [_("May not be blank.")]})

    existing = None
    if source_id:
        existing = (
            ContactInbox.objects.select_for_update(no_key=True, of=("self",)).select_related("contact")
            .filter(inbox=inbox, source_id=source_id).first()
        )

    if identifier is not None:
        identifier = str(identifier).strip()[:255]
        if not identity_verified(inbox=inbox, identifier=identifier, provided_hash=identifier_hash_value):
            raise PermissionDenied(
                _("identifier_hash does not match the identifier."), fields={"identifier_hash": [_("Invalid.")]}
            )
        if existing is not None and existing.contact.identifier is None and not Contact.objects.filter(
            identifier=identifier
        ).exists():
            # The anonymous visitor identifies: the contact becomes the identified one.
            contact = existing.contact
            contact.identifier = identifier
            contact.save(update_fields=["identifier"])
            details.apply(contact)
            return _session(existing, created=False, language=language)
        contact = _identified_contact(identifier=identifier, details=details)
        if existing is not None and existing.contact_id == contact.pk:
            return _session(existing, created=False, language=language)
        # Reuse the identified contact's visitor in this inbox (its history), or start one.
        mine = ContactInbox.objects.filter(inbox=inbox, contact=contact).order_by("-id").first()
        if mine is not None:
            return _session(mine, created=False, language=language)
        taken = existing is not None
        return _session(_new_contact_inbox(inbox=inbox, contact=contact, source_id=None if taken else source_id,
                                           language=language), created=True, language=language)

    if existing is not None and existing.contact.identifier is None:
        details.apply(existing.contact)
        return _session(existing, created=False, language=language)

    contact = _new_anonymous_contact(details)
    # An identified visitor's source_id without proof starts a new anonymous visitor.
    return _session(
        _new_contact_inbox(inbox=inbox, contact=contact, source_id=None if existing is not None else source_id,
                           language=language),
        created=True, language=language,
    )


def _session(contact_inbox: ContactInbox, *, created: bool, language: str) -> WidgetSession:
    if language and contact_inbox.locale != language:  # one UPDATE, only when it changes
        ContactInbox.objects.filter(pk=contact_inbox.pk).update(locale=language)
    contact_inbox = ContactInbox.objects.select_related("contact", "inbox").get(pk=contact_inbox.pk)
    conversation = visitor_conversation_for_message(contact_inbox=contact_inbox)
    if conversation is not None:
        conversation = Conversation.objects.select_related("assignee__operator_profile", "contact").get(
            pk=conversation.pk
        )
    return WidgetSession(contact_inbox, conversation, created)


def widget_current_conversation(
    *, contact_inbox: ContactInbox | None = None, contact_inbox_id: int | None = None
) -> Conversation | None:
    """The visitor's current conversation: the one their next message goes to, where their
    typing and read receipts apply (the one rule for the widget socket, widget REST and the
    session answer). None before the first message, and when the latest conversation is
    resolved in an inbox that starts a new one instead of reopening it."""
    if contact_inbox is None:
        if contact_inbox_id is None:
            return None
        contact_inbox = ContactInbox.objects.select_related("inbox").filter(pk=contact_inbox_id).first()
        if contact_inbox is None:
            return None
    return visitor_conversation_for_message(contact_inbox=contact_inbox)
