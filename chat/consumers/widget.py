"""``ws /ws/widget/``: a visitor's chat widget (DESIGN.md §7).

The first frame must be ``{"type": "auth", "data": {"pubsub_token": "..."}}`` within
WS_AUTH_TIMEOUT_SECONDS, else the socket closes with 4401 (also for a wrong token or any other
first frame). A blocked contact, or an Origin outside the inbox's allowed origins, closes it
with 4403. After auth the socket receives only its own contact inbox's events that the widget
may see (never private notes, activity lines or operator-only events).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings

from chat.consumers.base import StreamConsumer, header
from chat.errors import AppError, ContactBlocked, Unavailable
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
from chat.realtime.uploads import decode_attachments
from chat.selectors.inboxes import widget_inbox
from chat.services.conversations import conversation_for_event, touch_contact_last_seen
from chat.services.csat import csat_submit
from chat.services.messages import visitor_message_send
from chat.services.queue import queue_frame, queue_status
from chat.services.typing import DRAFT_MAX_CHARS, DraftOffer, DraftThrottle, draft_interval
from chat.services.widget import widget_current_conversation
from presence import hooks as presence
from presence.selectors import widget_availability

logger = logging.getLogger(__name__)


def _session_info(*, access: WidgetAccess) -> dict[str, Any]:
    conversation = widget_current_conversation(contact_inbox_id=access.contact_inbox_id)
    view = widget_conversation_view(conversation_payload(conversation_for_event(conversation.pk))) if conversation else None
    availability = widget_availability(inbox=widget_inbox(inbox_id=access.inbox_id))
    return {
        "contact": {"id": access.contact_id, "name": access.contact_name},
        "contact_inbox": {"id": access.contact_inbox_id, "source_id": access.source_id, "inbox_id": access.inbox_id},
        "conversation": view,
        "conversation_id": conversation.pk if conversation else None,
        "operators_available": availability["operators_available"],
        "online": availability["online"],
        "next_open_at": availability["next_open_at"],
        "queue": queue_status(conversation=conversation),
    }


def _csat_submit(*, access: WidgetAccess, conversation_id: int, rating: int, feedback: str | None) -> dict[str, Any]:
    return csat_submit(contact_inbox_id=access.contact_inbox_id, conversation_id=conversation_id, rating=rating,
                       feedback=feedback).as_dict()


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


class WidgetConsumer(StreamConsumer):
    typing_side = "contact"
    commands = {
        "message.create": "cmd_message_create",
        "typing.start": "cmd_typing_start",
        "typing.stop": "cmd_typing_stop",
        "conversation.read": "cmd_conversation_read",
        "resume": "cmd_resume",
        "ping": "cmd_ping",
        "csat.submit": "cmd_csat_submit",
    }

    access: WidgetAccess | None = None
    _auth_timer: asyncio.TimerHandle | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.drafts = DraftThrottle(draft_interval())
        self.typing_lock = asyncio.Lock()  # a delayed draft never overtakes a stop

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
        queue = info["queue"]
        if queue is not None:  # "on connect": this socket only; changes reach the group later
            self.emit(codec.dumps(queue_frame(queue["conversation_id"], queue["position"],
                                              queue["expected_wait_seconds"])))

    # --- Commands ------------------------------------------------------------------------------

    async def cmd_message_create(self, data: dict[str, Any], ref: Any) -> Any:
        echo_id = field_value(data, "echo_id", (str, int), required=False)
        self.drafts.cancel()  # the text is being sent: a kept draft of it is stale
        return await run_db(_message_create)(
            access=self.access,
            content=field_value(data, "content", str, required=False, default=""),
            echo_id=None if echo_id is None else str(echo_id),
            attachments=decode_attachments(data.get("attachments")),
        )

    async def cmd_typing_start(self, data: dict[str, Any], ref: Any) -> Any:
        return await self._typing(True, field_value(data, "draft", str, required=False))

    async def cmd_typing_stop(self, data: dict[str, Any], ref: Any) -> Any:
        return await self._typing(False, None)

    async def _typing(self, typing: bool, draft: str | None) -> dict[str, Any]:
        """Typing applies to the visitor's current conversation; before the first message
        there is none and nothing is broadcast. Starts go through this socket's DraftThrottle
        (one frame per window, the latest draft at the window's end); a stop is never delayed
        and drops a kept draft."""
        conversation_id = await run_db(_current_conversation_id)(access=self.access)
        if conversation_id is None:
            return {"conversation_id": None, "typing": typing}
        if draft is not None:
            draft = draft[:DRAFT_MAX_CHARS]
        async with self.typing_lock:
            if not typing:
                self.drafts.cancel()
                await self.set_typing(conversation_id, False, None)
            else:
                loop = asyncio.get_running_loop()
                send_now, delay = self.drafts.offer(DraftOffer(conversation_id, draft), loop.time())
                if send_now:
                    await self.set_typing(conversation_id, True, None, draft=draft)
                elif delay is not None:
                    loop.call_later(delay, lambda: loop.create_task(self._flush_draft()))
        return {"conversation_id": conversation_id, "typing": typing}

    async def _flush_draft(self) -> None:
        """The end of a throttle window: send the draft kept during it (if still wanted)."""
        if self.closing or getattr(self, "_cleaned", False):
            return
        async with self.typing_lock:
            item = self.drafts.take(asyncio.get_running_loop().time())
            if item is None:
                return
            try:
                await self.set_typing(item.conversation_id, True, None, draft=item.draft)
            except Exception:  # ephemeral: the next keystroke sends a newer one
                logger.warning("typing draft flush failed", exc_info=True)

    async def cmd_conversation_read(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_conversation_read)(access=self.access)

    async def cmd_csat_submit(self, data: dict[str, Any], ref: Any) -> Any:
        return await run_db(_csat_submit)(
            access=self.access,
            conversation_id=field_value(data, "conversation_id", int),
            rating=field_value(data, "rating", int),
            feedback=field_value(data, "feedback", str, required=False),
        )

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
