"""Contact reads for operators: a contact is visible through any of its contact inboxes in an
inbox the operator belongs to (administrators see all)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from chat.errors import NotFound
from chat.models import Contact, ContactInbox
from chat.selectors.scope import caller_scope


@dataclass(frozen=True)
class ContactPage:
    contacts: list[Contact]
    next_before: int | None


def _visible(user: Any) -> QuerySet[Contact]:
    inbox_ids = caller_scope(user).inbox_subquery()
    if inbox_ids is None:
        return Contact.objects.all()
    return Contact.objects.filter(
        Exists(ContactInbox.objects.filter(contact_id=OuterRef("pk"), inbox_id__in=inbox_ids))
    )


def _with_inboxes(queryset: QuerySet[Contact], user: Any) -> QuerySet[Contact]:
    inbox_ids = caller_scope(user).inbox_subquery()
    inboxes = ContactInbox.objects.order_by("id")
    if inbox_ids is not None:
        inboxes = inboxes.filter(inbox_id__in=inbox_ids)
    return queryset.prefetch_related(Prefetch("contact_inboxes", queryset=inboxes))


def contact_list_for_operator(*, user: Any, q: str = "", before: int | None = None, limit: int = 25) -> ContactPage:
    """Contacts newest first, optionally searched by name, email, phone or identifier."""
    qs = _visible(user)
    q = q.strip()
    if q:
        qs = qs.filter(
            Q(name__icontains=q) | Q(email__icontains=q) | Q(phone__icontains=q) | Q(identifier__icontains=q)
        )
    if before is not None:
        qs = qs.filter(id__lt=before)
    contacts = list(_with_inboxes(qs, user).order_by("-id")[: limit + 1])
    more = len(contacts) > limit
    contacts = contacts[:limit]
    return ContactPage(contacts, contacts[-1].pk if more and contacts else None)


def contact_get_for_operator(*, user: Any, contact_id: int) -> Contact:
    contact = _with_inboxes(_visible(user).filter(pk=contact_id), user).first()
    if contact is None:
        raise NotFound(_("Contact not found."))
    return contact
