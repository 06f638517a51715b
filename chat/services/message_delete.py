"""Deleting a message (DESIGN.md §11): the row stays, its content and files go.

Who may delete what (``message_delete_allowed``, pure):

* the **author** their own outgoing messages and private notes;
* **administrators** any message but activity lines, including a visitor's incoming message
  (abuse, personal data posted by mistake) and messages from no user (out-of-office, CSAT);
* **nobody** an activity line: it is the conversation's audit trail (who assigned, resolved).

Everyone else who sees the conversation gets ``permission_denied``; a caller who does not see
it gets ``not_found`` (no hint that it exists).

``message_delete`` blanks ``content`` and ``processed_message_content``, deletes the attachment
rows (their files after commit: a rollback keeps them), sets ``content_attributes.deleted``,
rewrites the stored payloads of that message's earlier ``message.created`` / ``message.updated``
outbox events to the deleted form (a replay or a late webhook delivery no longer carries the
text), and emits ``message.updated`` in the same transaction, to the audience of the message
(operators only for a private note). Under the conversation's row lock (lock order: conversation
→ message row → outbox), so it serializes with sends, status changes and any other writer of the
conversation. Deleting a deleted message writes nothing and answers the message again.
"""
from __future__ import annotations

import logging
from typing import Any

from django.core.files.storage import Storage
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from chat.errors import NotFound, PermissionDenied
from chat.events import EventType, dispatch
from chat.models import Attachment, Audience, Conversation, Event, Message, MessageDirection
from chat.payloads import message_payload
from chat.selectors.scope import caller_scope, conversation_visible_q
from chat.services.conversations import lock_conversation

logger = logging.getLogger(__name__)

DELETED_ATTRIBUTE = "deleted"


def message_delete_allowed(*, is_admin: bool, actor_id: int, direction: str, sender_user_id: int | None) -> bool:
    """The rule of the module docstring, from plain data (``is_admin``: chat.selectors.scope's)."""
    if direction == MessageDirection.ACTIVITY:
        return False
    if is_admin:
        return True
    return direction == MessageDirection.OUTGOING and sender_user_id is not None and sender_user_id == actor_id


def message_is_deleted(message: Message) -> bool:
    return bool((message.content_attributes or {}).get(DELETED_ATTRIBUTE))


def message_delete(*, message_id: int, actor: Any, conversation_id: int | None = None) -> Message:
    """Delete one message as ``actor`` (see the module docstring); returns it as stored now.
    ``conversation_id``, when given (REST path), must be the message's conversation."""
    scope = caller_scope(actor)
    located = (
        Message.objects.filter(pk=message_id)
        .filter(conversation__in=Conversation.objects.filter(conversation_visible_q(user_id=scope.user_id)))
        .values_list("conversation_id", flat=True)
        .first()
    )
    if located is None or (conversation_id is not None and located != conversation_id):
        raise NotFound(_("Message not found."))
    with transaction.atomic():
        conversation = lock_conversation(located)
        message = (
            Message.objects.select_for_update(no_key=True, of=("self",))
            .select_related("sender_user__operator_profile", "sender_contact")
            .filter(pk=message_id, conversation_id=located)
            .first()
        )
        if message is None:  # the conversation went away meanwhile
            raise NotFound(_("Message not found."))
        if not message_delete_allowed(is_admin=scope.is_admin, actor_id=scope.user_id, direction=message.direction,
                                      sender_user_id=message.sender_user_id):
            raise PermissionDenied(_("You may delete only your own messages and notes."))
        if message_is_deleted(message):
            return message
        files = [a.file for a in Attachment.objects.filter(message_id=message.pk)]
        Attachment.objects.filter(message_id=message.pk).delete()
        message.content = ""
        message.processed_message_content = ""
        message.content_attributes = {**(message.content_attributes or {}), DELETED_ATTRIBUTE: True}
        message.save(update_fields=["content", "processed_message_content", "content_attributes"])
        message._prefetched_objects_cache = {"attachments": Attachment.objects.none()}  # type: ignore[attr-defined]
        payload = message_payload(message)
        Event.objects.filter(
            conversation_id=conversation.pk,
            type__in=[EventType.MESSAGE_CREATED, EventType.MESSAGE_UPDATED],
            payload__id=message.pk,
        ).update(payload=payload)
        dispatch(
            EventType.MESSAGE_UPDATED,
            payload=payload,
            inbox_id=conversation.inbox_id,
            conversation_id=conversation.pk,
            contact_inbox_id=conversation.contact_inbox_id,
            audience=Audience.OPERATORS if message.private else Audience.EVERYONE,
        )
        names = [(file.storage, file.name) for file in files if file and file.name]
        transaction.on_commit(lambda: _remove(names))
    return message


def _remove(files: list[tuple[Storage, str]]) -> None:
    for storage, name in files:
        try:
            storage.delete(name)
        except OSError:  # storage refuses: the row is gone, so the link is dead anyway
            logger.warning("could not delete the file of a deleted attachment: %s", name, exc_info=True)
