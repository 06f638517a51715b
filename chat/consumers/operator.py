"""``ws /ws/operator/``: an operator's panel (DESIGN.md §7).

Authenticated on the handshake by ``Authorization: Token <key>`` or by the Django session
cookie, the latter only from one of our own Origins (so a foreign page cannot use the
operator's cookie). Receives every event of the operator's inboxes (administrators: all),
typing of their visitors, and follows membership changes without reconnecting.
"""
from __future__ import annotations

from typing import Any

from channels.auth import get_user
from django.utils.translation import gettext_lazy as _

from assignment.offers import offer_accept, offer_decline
from assignment.services import assign_conversation, escalate_conversation
from chat.consumers.base import StreamConsumer, header
from chat.errors import InvalidData, NotAuthenticated
from chat.events import inbox_group, user_group
from chat.i18n import language_for_operator
from chat.models import MessageDirection
from chat.payloads import conversation_payload, message_payload
from chat.realtime.access import (
    OperatorAccess,
    operator_access,
    operator_conversation,
    operator_conversation_q,
    operator_credential_valid,
    operator_origin_allowed,
    user_for_token,
)
from chat.realtime.codec import field_value
from chat.realtime.codes import CloseCode
from chat.realtime.control import CREDENTIAL_REVOKED, CredentialKind, credential_fingerprint
from chat.realtime.scopes import OperatorScope
from chat.realtime.threads import run_db
from chat.realtime.uploads import decode_attachments
from chat.services.conversations import (
    conversation_for_event,
    conversation_set_priority,
    conversation_set_status,
    touch_assignee_last_seen,
)
from chat.services.labels import conversation_set_labels
from chat.services.message_delete import message_delete
from chat.services.messages import message_create
from chat.validation import parse_time
from presence import hooks as presence

# --- Synchronous glue (runs in a thread): authorize, call one service, shape the reply ---------


def _message_create(*, access: OperatorAccess, user: Any, conversation_id: int, content: str, private: bool,
                    echo_id: str | None, attachments: list[Any]) -> dict[str, Any]:
    # Authorized in the statement that locks the conversation (one transaction, no extra read).
    recorded = message_create(conversation_id=conversation_id, direction=MessageDirection.OUTGOING, content=content,
                              private=private, sender_user=user, echo_id=echo_id, attachments=attachments,
                              within=operator_conversation_q(access=access))
    return message_payload(recorded.message)


def _message_delete(*, user: Any, message_id: int) -> dict[str, Any]:
    return message_payload(message_delete(message_id=message_id, actor=user))


def _conversation_read(*, access: OperatorAccess, conversation_id: int) -> dict[str, Any]:
    operator_conversation(conversation_id=conversation_id, access=access)
    recorded = touch_assignee_last_seen(conversation_id=conversation_id)
    return {"conversation_id": conversation_id, "recorded": recorded}


def _conversation_assign(*, access: OperatorAccess, user: Any, conversation_id: int,
                         assignee_id: int | None) -> dict[str, Any]:
    operator_conversation(conversation_id=conversation_id, access=access)
    assign_conversation(conversation_id=conversation_id, assignee_id=assignee_id, actor=user)
    return conversation_payload(conversation_for_event(conversation_id))


def _conversation_escalate(*, access: OperatorAccess, user: Any, conversation_id: int) -> dict[str, Any]:
    operator_conversation(conversation_id=conversation_id, access=access)
    escalate_conversation(conversation_id=conversation_id, actor=user)
    return conversation_payload(conversation_for_event(conversation_id))


def _conversation_status(*, access: OperatorAccess, user: Any, conversation_id: int, status: str,
                         snoozed_until: Any) -> dict[str, Any]:
    operator_conversation(conversation_id=conversation_id, access=access)
    conversation = conversation_set_status(conversation_id=conversation_id, status=status,
                                           snoozed_until=snoozed_until, actor_user=user)
    return conversation_payload(conversation)


def _conversation_priority(*, access: OperatorAccess, user: Any, conversation_id: int, priority: str) -> dict[str, Any]:
    operator_conversation(conversation_id=conversation_id, access=access)
    return conversation_payload(conversation_set_priority(conversation_id=conversation_id, priority=priority,
                                                          actor_user=user))


def _conversation_accept(*, access: OperatorAccess, user: Any, conversation_id: int) -> dict[str, Any]:
    operator_conversation(conversation_id=conversation_id, access=access)
    return conversation_payload(offer_accept(conversation_id=conversation_id, actor=user))


def _conversation_decline(*, access: OperatorAccess, user: Any, conversation_id: int) -> dict[str, Any]:
    operator_conversation(conversation_id=conversation_id, access=access)
    state = offer_decline(conversation_id=conversation_id, actor=user)
    return {"conversation_id": conversation_id, "state": state}


def _conversation_labels(*, access: OperatorAccess, user: Any, conversation_id: int, labels: list[Any]) -> dict[str, Any]:
    operator_conversation(conversation_id=conversation_id, access=access)
    return conversation_payload(conversation_set_labels(conversation_id=conversation_id, labels=labels,
                                                        actor_user=user))


def _check_conversation(*, access: OperatorAccess, conversation_id: int) -> None:
    operator_conversation(conversation_id=conversation_id, access=access)


def _parse_time(value: str | None) -> Any:
    return parse_time(value, field="snoozed_until")  # an impossible date is invalid_data too


class OperatorConsumer(StreamConsumer):
    typing_side = "agent"
    commands = {
        "message.create": "cmd_message_create",
        "typing.start": "cmd_typing_start",
        "typing.stop": "cmd_typing_stop",
        "conversation.read": "cmd_conversation_read",
        "conversation.assign": "cmd_conversation_assign",
        "conversation.escalate": "cmd_conversation_escalate",
        "conversation.status": "cmd_conversation_status",
        "conversation.priority": "cmd_conversation_priority",
        "presence.set": "cmd_presence_set",
        "resume": "cmd_resume",
        "ping": "cmd_ping",
        "conversation.accept": "cmd_conversation_accept",
        "conversation.decline": "cmd_conversation_decline",
        "conversation.labels": "cmd_conversation_labels",
        "message.delete": "cmd_message_delete",
    }

    user: Any
    access: OperatorAccess
    credential: str

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.typing_public: dict[int, bool] = {}  # conversation -> the last start was a reply

    async def connect(self) -> None:
        await self.accept()
        authorization = header(self.scope, b"authorization") or ""
        scheme, _space, key = authorization.partition(" ")
        if authorization:
            is_token = scheme.lower() == "token"
            user = await run_db(user_for_token)(key.strip()) if is_token else None
            credential = (CredentialKind.TOKEN, key.strip())
        else:
            if not operator_origin_allowed(header(self.scope, b"origin")):
                await self.close_with(CloseCode.FORBIDDEN)
                return
            user = await get_user(self.scope) if "session" in self.scope else None
            session = self.scope.get("session")
            credential = (CredentialKind.SESSION, getattr(session, "session_key", None) or "")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close_with(CloseCode.UNAUTHORIZED)
            return
        # Which credential this socket used, as a fingerprint only: a logout closes the sockets
        # of that token or session, not the operator's other sessions (control.py).
        self.credential = credential_fingerprint(*credential)
        self.user = user
        # The operator's group first, then the reads: a revocation or scope change committed
        # before the join is seen by the reads below, one committed after it sends its control
        # message here (handled once connect() returns). Nothing falls in between.
        await self.join_groups({user_group(user.pk)})
        if not await run_db(operator_credential_valid)(kind=credential[0], key=credential[1], user_id=user.pk):
            await self.close_with(CloseCode.UNAUTHORIZED)
            return
        try:
            self.access = await run_db(operator_access)(user_id=user.pk)
        except NotAuthenticated:
            await self.close_with(CloseCode.UNAUTHORIZED)
            return
        self.language = language_for_operator(locale=self.access.locale,
                                              accept_language=header(self.scope, b"accept-language"))
        await self.join_groups(self._groups())
        await self.join_stream(OperatorScope(user.pk, self.access.inbox_ids))
        await run_db(presence.operator_socket_opened)(user_id=user.pk, socket_id=self.channel_name)

    def _groups(self) -> set[str]:
        return {user_group(self.user.pk)} | {inbox_group(i) for i in self.access.group_inbox_ids}

    async def membership_changed(self, message: dict[str, Any]) -> None:
        """Re-read the operator's inboxes; subscriptions and groups follow, the socket stays."""
        if not self.joined or self.closing:
            return
        try:
            self.access = await run_db(operator_access)(user_id=self.user.pk)
        except NotAuthenticated:
            await self.close_with(CloseCode.FORBIDDEN)
            return
        assert self.hub is not None and self.sink is not None
        self.hub.rescope(self.sink, OperatorScope(self.user.pk, self.access.inbox_ids))
        await self.join_groups(self._groups())

    async def credential_revoked(self, message: dict[str, Any]) -> None:
        """A token or session was revoked (logout): close if it is the one this socket used."""
        if message.get("fingerprint") == getattr(self, "credential", None):
            await self.close_with(int(message.get("code") or CloseCode.UNAUTHORIZED))

    def typing_user(self) -> dict[str, Any] | None:
        return self.access.summary

    # --- Commands ----------------------------------------------------------------------------

    async def cmd_message_create(self, data: dict[str, Any], ref: Any) -> Any:
        echo_id = field_value(data, "echo_id", (str, int), required=False)
        return await run_db(_message_create)(
            access=self.access,
            user=self.user,
            conversation_id=field_value(data, "conversation_id", int),
            content=field_value(data, "content", str, required=False, default=""),
            private=field_value(data, "private", bool, required=False, default=False),
            echo_id=None if echo_id is None else str(echo_id),
            attachments=decode_attachments(data.get("attachments")),
        )

    async def cmd_message_delete(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_message_delete)(user=self.user, message_id=field_value(data, "message_id", int))

    async def cmd_typing_start(self, data: dict[str, Any], ref: Any) -> Any:
        return await self._typing(data, True)

    async def cmd_typing_stop(self, data: dict[str, Any], ref: Any) -> Any:
        return await self._typing(data, False)

    async def _typing(self, data: dict[str, Any], typing: bool) -> dict[str, Any]:
        conversation_id = field_value(data, "conversation_id", int)
        private = bool(field_value(data, "private", bool, required=False, default=False)) if typing else False
        await run_db(_check_conversation)(access=self.access, conversation_id=conversation_id)
        if typing and private and self.typing_public.get(conversation_id):
            # From a reply to a note: the visitor's indicator stops now, not at its timeout.
            await self.set_typing(conversation_id, False, self.access.summary)
        if typing:
            self.typing_public[conversation_id] = not private
        else:
            self.typing_public.pop(conversation_id, None)
        await self.set_typing(conversation_id, typing, self.access.summary, private=private)
        return {"conversation_id": conversation_id, "typing": typing, "private": private}

    async def cmd_conversation_read(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_conversation_read)(
            access=self.access, conversation_id=field_value(data, "conversation_id", int))

    async def cmd_conversation_assign(self, data: dict[str, Any], ref: Any) -> Any:
        if "assignee_id" not in data:
            raise InvalidData(_("assignee_id is required (null to unassign)."), fields={"assignee_id": [_("Required.")]})
        return await run_db(_conversation_assign)(
            access=self.access, user=self.user,
            conversation_id=field_value(data, "conversation_id", int),
            assignee_id=field_value(data, "assignee_id", int, nullable=True),
        )

    async def cmd_conversation_escalate(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_conversation_escalate)(
            access=self.access, user=self.user, conversation_id=field_value(data, "conversation_id", int))

    async def cmd_conversation_status(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_conversation_status)(
            access=self.access, user=self.user,
            conversation_id=field_value(data, "conversation_id", int),
            status=field_value(data, "status", str),
            snoozed_until=_parse_time(field_value(data, "snoozed_until", str, required=False, nullable=True)),
        )

    async def cmd_conversation_priority(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_conversation_priority)(
            access=self.access, user=self.user,
            conversation_id=field_value(data, "conversation_id", int),
            priority=field_value(data, "priority", str),
        )

    async def cmd_conversation_accept(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_conversation_accept)(
            access=self.access, user=self.user, conversation_id=field_value(data, "conversation_id", int))

    async def cmd_conversation_decline(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_conversation_decline)(
            access=self.access, user=self.user, conversation_id=field_value(data, "conversation_id", int))
    async def cmd_conversation_labels(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_conversation_labels)(
            access=self.access, user=self.user,
            conversation_id=field_value(data, "conversation_id", int),
            labels=field_value(data, "labels", list),
        )

    async def cmd_presence_set(self, data: dict[str, Any], ref: Any) -> Any:
        status = await run_db(presence.operator_set_availability)(
            user_id=self.user.pk, availability=field_value(data, "status", str))
        return {"status": status}

    # --- Presence ------------------------------------------------------------------------------

    async def socket_heartbeat(self) -> None:
        await run_db(presence.operator_socket_heartbeat)(user_id=self.user.pk, socket_id=self.channel_name)

    async def socket_closed(self) -> None:
        await run_db(presence.operator_socket_closed)(user_id=self.user.pk, socket_id=self.channel_name)


# Keep the control type name and the handler name in step.
assert OperatorConsumer.credential_revoked.__name__ == CREDENTIAL_REVOKED.replace(".", "_")
