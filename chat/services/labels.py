"""Labels (DESIGN.md §11, docs/desk.md "Labels"): the catalogue and a conversation's set.

* ``label_create`` / ``label_update`` / ``label_delete``: administrators (REST, Django admin).
  Names are trimmed, NFC-normalized and lower-cased on input, then unique: a duplicate, also one
  created at the same moment by someone else, is ``Conflict`` (409), never a 500.
* ``conversation_set_labels``: replaces a conversation's set under the conversation's row lock;
  a change adds an operator-only activity line (``ActivityKind.LABELS_CHANGED``: "Labels: +vip
  −refund by Ann" in the reader's language) and emits
  ``conversation.updated`` in the same transaction; setting the same set writes and emits
  nothing. Unknown names are refused (400, naming them): labels are created on purpose, by an
  administrator, never by a typo in a conversation.

Locks (docs/architecture.md "Lock order"): setting takes the conversation (``NO KEY UPDATE``)
then the named label rows (``FOR KEY SHARE`` on PostgreSQL: a concurrent delete or rename of one
of them waits for this transaction, and a delete that committed first makes the name unknown
here, a clean 400). Deleting or renaming a label locks that label row only (the delete and the
rename of a unique column take ``FOR UPDATE``) and locks no conversation: setters that keep or
add it wait on the label, setters that remove it wait on the link rows; either way no cycle.
"""
from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.activity import ActivityKind, activity_data, actor
from chat.errors import Conflict, InvalidData, NotFound
from chat.events import EventType, dispatch
from chat.models import Audience, Conversation, Label
from chat.payloads import conversation_payload
from chat.services.conversations import (
    activity_add,
    conversation_emit,
    conversation_for_event,
    lock_conversation,
)
from chat.validation import clean_text

NAME_MAX_LENGTH = 50
DESCRIPTION_MAX_LENGTH = 200
DEFAULT_COLOR = "#1f93ff"
# A conversation carries at most this many labels (a bounded payload and activity line).
LABELS_PER_CONVERSATION_MAX = 20
# Conversations re-emitted per batch after a label is renamed or deleted (constant queries per batch).
_EMIT_BATCH = 200

Through = Conversation.labels.through


# --- Input rules (pure) -------------------------------------------------------------------------


def label_clean_name(value: Any, *, field: str = "name") -> str:
    """The stored form of a label name: trimmed, NFC, lower case; 1-50 letters, digits, ``-``
    or ``_`` (so a name is never markup, a space or a control character)."""
    if not isinstance(value, str):
        raise InvalidData(format_lazy(_("{field} must be text."), field=field), fields={field: [_("A label name (text).")]})
    name = unicodedata.normalize("NFC", value.strip()).lower()
    if not 1 <= len(name) <= NAME_MAX_LENGTH:
        raise InvalidData(format_lazy(_("{field} must be 1 to {max_length} characters."), field=field, max_length=NAME_MAX_LENGTH),
                          fields={field: [format_lazy(_("1 to {max_length} characters."), max_length=NAME_MAX_LENGTH)]})
    if not all(ch.isalnum() or ch in "-_" for ch in name):
        raise InvalidData(format_lazy(_("{field} may hold only letters, digits, '-' and '_'."), field=field),
                          fields={field: [_("Only letters, digits, '-' and '_'.")]})
    return name


def label_clean_color(value: Any) -> str:
    """``#rrggbb`` (stored in lower case)."""
    if (not isinstance(value, str) or len(value) != 7 or value[0] != "#"
            or not all(ch in "0123456789abcdefABCDEF" for ch in value[1:])):
        raise InvalidData(_("color must be #rrggbb."), fields={"color": [_("A colour as #rrggbb.")]})
    return value.lower()


def label_clean_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidData(_("description must be text."), fields={"description": [_("Text.")]})
    text: str = clean_text(value.strip(), field="description")
    if len(text) > DESCRIPTION_MAX_LENGTH:
        raise InvalidData(_("description is too long."),
                          fields={"description": [format_lazy(_("At most {max_length} characters."), max_length=DESCRIPTION_MAX_LENGTH)]})
    return text


def label_clean_names(values: Any) -> list[str]:
    """A conversation's requested set: a list of names, normalized, duplicates folded, sorted."""
    if not isinstance(values, list):
        raise InvalidData(_("labels must be a list of names."), fields={"labels": [_("A list of label names.")]})
    if len(values) > LABELS_PER_CONVERSATION_MAX * 4:  # before any work on a huge list
        raise InvalidData(_("Too many labels."), fields={"labels": [format_lazy(_("At most {count}."), count=LABELS_PER_CONVERSATION_MAX)]})
    names = sorted({label_clean_name(v, field="labels") for v in values})
    if len(names) > LABELS_PER_CONVERSATION_MAX:
        raise InvalidData(_("Too many labels."), fields={"labels": [format_lazy(_("At most {count}."), count=LABELS_PER_CONVERSATION_MAX)]})
    return names


def _duplicate(name: str) -> Conflict:
    return Conflict(format_lazy(_("A label named {name} already exists."), name=repr(name)), fields={"name": [_("A label with this name exists.")]})


# --- The catalogue ------------------------------------------------------------------------------


def label_create(*, name: Any, color: Any = None, description: Any = None) -> Label:
    """A new label; ``Conflict`` if the (normalized) name exists, also under a race."""
    clean = label_clean_name(name)
    values = {
        "name": clean,
        "color": DEFAULT_COLOR if color in (None, "") else label_clean_color(color),
        "description": label_clean_description(description),
    }
    try:
        with transaction.atomic():
            return Label.objects.create(**values)
    except IntegrityError:
        # The unique index decides between two creators; the loser waited for the winner's commit.
        raise _duplicate(clean) from None


_UNSET: Any = object()


def label_update(*, label_id: int, name: Any = _UNSET, color: Any = _UNSET, description: Any = _UNSET) -> Label:
    """Change what is given. A rename re-emits ``conversation.updated`` for every conversation
    carrying the label (their payloads list label names), in the same transaction."""
    changes: dict[str, Any] = {}
    if name is not _UNSET:
        changes["name"] = label_clean_name(name)
    if color is not _UNSET:
        changes["color"] = label_clean_color(color)
    if description is not _UNSET:
        changes["description"] = label_clean_description(description)
    try:
        with transaction.atomic():
            label = _lock_label(label_id, key_change="name" in changes)
            if label is None:
                raise NotFound(_("Label not found."))
            renamed = "name" in changes and changes["name"] != label.name
            for key, value in changes.items():
                setattr(label, key, value)
            if changes:
                label.save(update_fields=[*changes])
            if renamed:
                _emit_for(_conversation_ids_with(label_id))
            return label
    except IntegrityError:
        raise _duplicate(changes.get("name", "")) from None


@transaction.atomic
def label_delete(*, label_id: int) -> list[int]:
    """Delete a label: it leaves every conversation that carried it, each of which gets a
    ``conversation.updated`` (no activity line: nobody changed that conversation). Returns
    their ids."""
    label = _lock_label(label_id, key_change=True)
    if label is None:
        raise NotFound(_("Label not found."))
    # After the label's lock: no setter can add it any more (they take KEY SHARE on it first).
    conversation_ids = _conversation_ids_with(label_id)
    Through.objects.filter(label_id=label_id).delete()
    label.delete()
    _emit_for(conversation_ids)
    return conversation_ids


def _lock_label(label_id: int, *, key_change: bool) -> Label | None:
    """Lock a label row for a change. Deleting it or changing its unique ``name`` changes a key,
    so on PostgreSQL that takes ``FOR UPDATE``, which conflicts with the ``FOR KEY SHARE`` of
    setters using the label (``_hold_labels``): it waits for them, and setters asking after it
    wait for this transaction. Taken first, before reading which conversations carry the label,
    so no setter can add it between that read and the delete (the delete's deferred foreign-key
    check would fail at commit). Other changes (colour, description) take ``NO KEY UPDATE``."""
    if key_change and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT id FROM {Label._meta.db_table} WHERE id = %s FOR UPDATE", [label_id])
            if cursor.fetchone() is None:
                return None
        return Label.objects.filter(pk=label_id).first()
    return Label.objects.select_for_update(no_key=True).filter(pk=label_id).first()


def _conversation_ids_with(label_id: int) -> list[int]:
    return sorted(Through.objects.filter(label_id=label_id).values_list("conversation_id", flat=True))


def _emit_for(conversation_ids: list[int]) -> None:
    """``conversation.updated`` with each conversation as it is now, read in batches."""
    for start in range(0, len(conversation_ids), _EMIT_BATCH):
        batch = conversation_ids[start:start + _EMIT_BATCH]
        rows = (Conversation.objects.filter(pk__in=batch).select_related("assignee__operator_profile", "contact")
                .prefetch_related("labels").order_by("pk"))
        for conversation in rows:
            dispatch(
                EventType.CONVERSATION_UPDATED,
                payload=conversation_payload(conversation),
                inbox_id=conversation.inbox_id,
                conversation_id=conversation.pk,
                contact_inbox_id=conversation.contact_inbox_id,
                audience=Audience.OPERATORS,
            )


# --- A conversation's set -----------------------------------------------------------------------


def _hold_labels(names: Iterable[str]) -> dict[str, int]:
    """The ids of the named labels, kept from deletion and rename until the transaction ends
    (PostgreSQL ``FOR KEY SHARE``: setters do not block each other)."""
    names = list(names)
    if not names:
        return {}
    if connection.vendor != "postgresql":  # one writer at a time: nothing can change under us
        return dict(Label.objects.filter(name__in=names).values_list("name", "pk"))
    table = Label._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, id FROM {table} WHERE name = ANY(%s) FOR KEY SHARE", [names])
        return {str(name): int(pk) for name, pk in cursor.fetchall()}


@transaction.atomic
def conversation_set_labels(*, conversation_id: int, labels: Any, actor_user: Any | None = None) -> Conversation:
    """Make the conversation's labels exactly ``labels`` (names). Two operators setting at once
    end with one of the two sets (the row lock serializes them; the second diff is taken from
    what the first committed), never a mix."""
    names = label_clean_names(labels)
    conversation = lock_conversation(conversation_id)
    held = _hold_labels(names)
    unknown = [name for name in names if name not in held]
    if unknown:
        raise InvalidData(format_lazy(_("Unknown labels: {names}"), names=", ".join(unknown)),
                          fields={"labels": [format_lazy(_("Unknown label: {name}"), name=name) for name in unknown[:10]]})
    current = dict(
        Through.objects.filter(conversation_id=conversation_id).values_list("label__name", "label_id")
    )
    added = sorted(set(held) - set(current))
    removed = sorted(set(current) - set(held))
    if not added and not removed:
        return conversation_for_event(conversation_id)  # a no-op: nothing written, nothing emitted
    if removed:
        Through.objects.filter(conversation_id=conversation_id, label_id__in=[current[n] for n in removed]).delete()
    Through.objects.bulk_create([Through(conversation_id=conversation_id, label_id=held[n]) for n in added])
    activity_add(conversation=conversation, activity=activity_data(
        ActivityKind.LABELS_CHANGED, actor=actor(user=actor_user), added=added, removed=removed))
    return conversation_emit(EventType.CONVERSATION_UPDATED, conversation_id, audience=Audience.OPERATORS)

