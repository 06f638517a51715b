"""``ws /ws/widget/``: a visitor's chat widget (DESIGN.md §7).

The first frame must be ``{"type": "auth", "data": {"pubsub_token": "..."}}`` within
WS_AUTH_TIMEOUT_SECONDS, else the socket closes with 4401 (also for a wrong token or any other
first frame). A blocked contact, or an Origin outside the inbox's allowed origins, closes it
with 4403. After auth the socket receives only its own contact inbox's events that the widget
may see (never private notes, activity lines or operator-only events).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.translation import gettext_lazy as _

from chat.consumers.base import StreamConsumer, header
from chat.errors import AppError, ContactBlocked, InvalidAttachment, InvalidData, Unavailable
from chat.events import contact_inbox_group
from chat.i18n import language_for_visitor
from chat.payloads import (
    conversation_payload,
    message_payload,
    widget_conversation_view,
)
from chat.realtime import codec
from chat.realtime.access import WidgetAccess, widget_access, widget_origin_allowed
from chat.realtime.codec import field_value
from chat.realtime.codes import CloseCode
from chat.realtime.scopes import WidgetScope
from chat.realtime.threads import run_db
from chat.services.conversations import conversation_for_event, touch_contact_last_seen
from chat.services.messages import visitor_message_send
from chat.services.widget import widget_current_conversation
from presence import hooks as presence


def _session_info(*, access: WidgetAccess) -> dict[str, Any]:
    conversation = widget_current_conversation(contact_inbox_id=access.contact_inbox_id)
    view = widget_conversation_view(conversation_payload(conversation_for_event(conversation.pk))) if conversation else None
    return {
        "contact": {"id": access.contact_id, "name": access.contact_name},
        "contact_inbox": {"id": access.contact_inbox_id, "source_id": access.source_id, "inbox_id": access.inbox_id},
        "conversation": view,
        "conversation_id": conversation.pk if conversation else None,
        "operators_available": presence.inbox_operators_available(inbox_id=access.inbox_id),
    }


def _message_create(*, access: WidgetAccess, content: str, echo_id: str | None, attachments: list[Any]) -> dict[str, Any]:
    recorded = visitor_message_send(contact_inbox_id=access.contact_inbox_id, content=content, echo_id=echo_id,
                                    attachments=attachments)
    return message_payload(recorded.message)


def _current_conversation_id(*, access: WidgetAccess) -> int | None:
    conversation = widget_current_conversation(contact_inbox_id=access.contact_inbox_id)
    return conversation.pk if conversation else None


def _conversation_read(*, access: WidgetAccess) -> dict[str, Any]:
    conversation_id = _current_conversation_id(access=access)
    recorded = touch_contact_last_seen(conversation_id=conversation_id) if conversation_id else False
    return {"conversation_id": conversation_id, "recorded": recorded}


def decode_attachments(value: Any) -> list[SimpleUploadedFile]:
    """``[{"name", "content_type", "data": base64}]`` → uploaded files (bounded by the frame
    size). Parsing only: the message service applies the attachment policy."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidData(_("attachments must be a list."), fields={"attachments": [_("Must be a list.")]})
    files = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("data"), str):
            raise InvalidAttachment(_("Each attachment needs name, content_type and base64 data."))
        name, content_type = item.get("name", "attachment"), item.get("content_type")
        if not isinstance(name, str) or not isinstance(content_type, str):
            raise InvalidAttachment(_("An attachment's name and content_type are strings."))
        try:
            content = base64.b64decode(item["data"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidAttachment(_("Attachment data is not base64.")) from None
        upload = SimpleUploadedFile("attachment", content, content_type=content_type)
        with contextlib.suppress(SuspiciousFileOperation):  # "", "..": stays "attachment"
            upload.name = name  # as sent, the policy judges it
        files.append(upload)
    return files


class WidgetConsumer(StreamConsumer):
    typing_side = "contact"
    commands = {
        "message.create": "cmd_message_create",
        "typing.start": "cmd_typing_start",
        "typing.stop": "cmd_typing_stop",
        "conversation.read": "cmd_conversation_read",
        "resume": "cmd_resume",
        "ping": "cmd_ping",
    }

    access: WidgetAccess | None = None
    _auth_timer: asyncio.TimerHandle | None = None

    async def connect(self) -> None:
        await self.accept()
        loop = asyncio.get_running_loop()
        # The timer covers "no auth frame arrived in time", nothing else: it stops when the
        # frame arrives, so a token lookup waiting on a slow or absent database ends in its own
        # answer (the token's verdict, or 4503 after DB_POOL_TIMEOUT_SECONDS), never in 4401.
        self._auth_timer = loop.call_later(
            settings.WS_AUTH_TIMEOUT_SECONDS, lambda: loop.create_task(self._auth_expired())
        )

    async def _auth_expired(self) -> None:
        if self.access is None:
            await self.close_with(CloseCode.UNAUTHORIZED)

    def _stop_auth_timer(self) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
            self._auth_timer = None

    async def cleanup(self) -> None:
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        await super().cleanup()

    async def bad_frame(self, exc: codec.FrameError) -> None:
        if self.access is None:
            await self.close_with(CloseCode.UNAUTHORIZED)
        else:
            await super().bad_frame(exc)

    async def run_command(self, command: codec.Command) -> None:
        if self.access is None:
            self._stop_auth_timer()
            try:
                await self._authenticate(command)
            except Exception as exc:  # an outage after the token was accepted: 4503, not 4401
                await self.refuse(exc)
        else:
            await super().run_command(command)

    async def _authenticate(self, command: codec.Command) -> None:
        """The first frame: ``auth``, or the socket closes."""
        token = command.data.get("pubsub_token")
        if command.type != "auth" or not isinstance(token, str):
            await self.close_with(CloseCode.UNAUTHORIZED)
            return
        try:
            access = await run_db(widget_access)(pubsub_token=token)
        except ContactBlocked:
            await self.close_with(CloseCode.FORBIDDEN)
            return
        except Unavailable:
            await self.close_with(CloseCode.UNAVAILABLE)
            return
        except AppError:
            await self.close_with(CloseCode.UNAUTHORIZED)
            return
        if not widget_origin_allowed(header(self.scope, b"origin"), list(access.allowed_origins)):
            await self.close_with(CloseCode.FORBIDDEN)
            return
        if self.closing:  # the auth timer fired while the token was being checked
            return
        # Optional ``locale`` (the widget's chosen language), else the handshake's Accept-Language.
        self.language = language_for_visitor(requested=command.data.get("locale"),
                                             accept_language=header(self.scope, b"accept-language"))
        self.access = access
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        await self.join_groups({contact_inbox_group(access.contact_inbox_id)})
        cursor = await self.join_stream(WidgetScope(access.inbox_id, access.contact_inbox_id))
        info = await run_db(_session_info)(access=access)
        await run_db(presence.contact_socket_opened)(
            contact_id=access.contact_id, inbox_id=access.inbox_id, socket_id=self.channel_name)
        self.emit(codec.reply_ok(command.ref, {**info, "last_event_id": cursor}))

    # --- Commands ------------------------------------------------------------------------------

    async def cmd_message_create(self, data: dict[str, Any], ref: Any) -> Any:
        echo_id = field_value(data, "echo_id", (str, int), required=False)
        return await run_db(_message_create)(
            access=self.access,
            content=field_value(data, "content", str, required=False, default=""),
            echo_id=None if echo_id is None else str(echo_id),
            attachments=decode_attachments(data.get("attachments")),
        )

    async def cmd_typing_start(self, data: dict[str, Any], ref: Any) -> Any:
        return await self._typing(True)

    async def cmd_typing_stop(self, data: dict[str, Any], ref: Any) -> Any:
        return await self._typing(False)

    async def _typing(self, typing: bool) -> dict[str, Any]:
        """Typing applies to the visitor's current conversation; before the first message
        there is none and nothing is broadcast."""
        conversation_id = await run_db(_current_conversation_id)(access=self.access)
        if conversation_id is not None:
            await self.set_typing(conversation_id, typing, None)
        return {"conversation_id": conversation_id, "typing": typing}

    async def cmd_conversation_read(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_conversation_read)(access=self.access)

    # --- Presence ------------------------------------------------------------------------------

    async def socket_heartbeat(self) -> None:
        access = self.access
        assert access is not None  # only from ping, a command run after authentication
        await run_db(presence.contact_socket_heartbeat)(
            contact_id=access.contact_id, inbox_id=access.inbox_id, socket_id=self.channel_name)

    async def socket_closed(self) -> None:
        access = self.access
        if access is not None:
            await run_db(presence.contact_socket_closed)(
                contact_id=access.contact_id, inbox_id=access.inbox_id, socket_id=self.channel_name)
