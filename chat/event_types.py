"""Every name and shape on the real-time wire, declared once (Zulip's ``event_types.py`` habit).

* ``EventType``: durable events (outbox rows, with an id), each with its payload type in
  ``EVENT_PAYLOADS``; ``OPERATOR_ONLY_TYPES`` never reach a widget.
* ``EphemeralType``: frames without an id, never stored or replayed (typing), ``EPHEMERAL_PAYLOADS``.
* ``ControlType``: channel-layer messages to consumers and fallback views (never to a client),
  ``CONTROL_MESSAGES``.
* ``CommandType``: what clients send; ``OPERATOR_COMMANDS`` and ``WIDGET_COMMANDS`` (the widget's
  first frame is ``auth``).
* ``FrameType``: the server's own frames (``reply``, ``pong``).

``check_event``, ``check_ephemeral`` and ``check_control`` validate a payload against its type
(tests/conftest.py checks everything a test dispatches). The browser reads the same names from
``frontend/static/frontend/shared/protocol.js``; tests/realtime/test_protocol.py keeps the two
equal, with the close codes (``chat.realtime.codes.CloseCode``) and error codes
(``chat.errors.ErrorCode``).
"""
from __future__ import annotations

import types
import typing
from enum import StrEnum
from typing import Any, Literal, NotRequired, TypedDict, Union, get_args, get_origin, get_type_hints


class EventType(StrEnum):
    CONVERSATION_CREATED = "conversation.created"
    CONVERSATION_UPDATED = "conversation.updated"
    CONVERSATION_STATUS_CHANGED = "conversation.status_changed"
    ASSIGNEE_CHANGED = "assignee.changed"
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    FIRST_REPLY_CREATED = "first_reply.created"
    REPLY_CREATED = "reply.created"
    CONVERSATION_READ = "conversation.read"
    PRESENCE_UPDATED = "presence.updated"
    # Ring mode (personal: ``Event.user`` is the offered operator).
    CONVERSATION_OFFERED = "conversation.offered"
    CONVERSATION_OFFER_WITHDRAWN = "conversation.offer_withdrawn"


class EphemeralType(StrEnum):
    TYPING_STARTED = "conversation.typing_started"
    TYPING_STOPPED = "conversation.typing_stopped"
    # Widget only: the visitor's place in the inbox's queue (chat/services/queue.py).
    QUEUE_UPDATED = "queue.updated"


class ControlType(StrEnum):
    # The operator's inboxes (or role) changed: open sockets re-read them.
    MEMBERSHIP_CHANGED = "membership.changed"
    # Close these sockets with ``code`` (revocation, block, deactivation).
    SOCKET_CLOSE = "socket.close"
    # Close the operator sockets opened with one credential (logout, password change): only
    # those whose credential fingerprint matches (chat/realtime/control.py).
    CREDENTIAL_REVOKED = "credential.revoked"
    # Forward ``frame`` (an ephemeral event) unless the socket is ``exclude_channel``.
    EPHEMERAL_FRAME = "ephemeral.frame"
    # Wake every process's stream hub: the outbox has something new.
    STREAM_POKE = "stream.poke"


class CommandType(StrEnum):
    AUTH = "auth"
    MESSAGE_CREATE = "message.create"
    TYPING_START = "typing.start"
    TYPING_STOP = "typing.stop"
    CONVERSATION_READ = "conversation.read"
    CONVERSATION_ASSIGN = "conversation.assign"
    CONVERSATION_ESCALATE = "conversation.escalate"
    CONVERSATION_STATUS = "conversation.status"
    CONVERSATION_PRIORITY = "conversation.priority"
    PRESENCE_SET = "presence.set"
    RESUME = "resume"
    PING = "ping"
    CONVERSATION_ACCEPT = "conversation.accept"
    CONVERSATION_DECLINE = "conversation.decline"
    CONVERSATION_LABELS = "conversation.labels"
    MESSAGE_DELETE = "message.delete"
    # Widget: rate a resolved conversation (chat/services/csat.py).
    CSAT_SUBMIT = "csat.submit"


class FrameType(StrEnum):
    REPLY = "reply"
    PONG = "pong"


OPERATOR_COMMANDS: frozenset[CommandType] = frozenset({
    CommandType.MESSAGE_CREATE, CommandType.TYPING_START, CommandType.TYPING_STOP,
    CommandType.CONVERSATION_READ, CommandType.CONVERSATION_ASSIGN, CommandType.CONVERSATION_ESCALATE,
    CommandType.CONVERSATION_STATUS, CommandType.CONVERSATION_PRIORITY, CommandType.PRESENCE_SET,
    CommandType.RESUME, CommandType.PING,
    CommandType.CONVERSATION_ACCEPT, CommandType.CONVERSATION_DECLINE,
    CommandType.CONVERSATION_LABELS,
    CommandType.MESSAGE_DELETE,
})
# After the ``auth`` frame.
WIDGET_COMMANDS: frozenset[CommandType] = frozenset({
    CommandType.MESSAGE_CREATE, CommandType.TYPING_START, CommandType.TYPING_STOP,
    CommandType.CONVERSATION_READ, CommandType.RESUME, CommandType.PING,
    CommandType.CSAT_SUBMIT,
})

# Never delivered to a widget, whatever the audience asked for.
OPERATOR_ONLY_TYPES: frozenset[str] = frozenset(
    {EventType.ASSIGNEE_CHANGED, EventType.FIRST_REPLY_CREATED, EventType.REPLY_CREATED,
     EventType.CONVERSATION_OFFERED, EventType.CONVERSATION_OFFER_WITHDRAWN}
)


# --- Payloads (chat/payloads.py builds them) ----------------------------------------------------


class UserSummary(TypedDict):
    id: int
    name: str
    username: str


class ContactSummary(TypedDict):
    id: int
    name: str
    display_name: str  # name, else email, else "Visitor <id>" (Contact.display_name)
    email: str | None
    phone: str | None
    identifier: str | None
    blocked: bool


class Sender(TypedDict):
    type: Literal["user", "contact"]
    id: int
    name: str
    username: NotRequired[str]


class AttachmentPayload(TypedDict):
    id: int
    file_type: str
    size: int
    url: str | None
    name: str


class MessagePayload(TypedDict):
    id: int
    conversation_id: int
    content: str
    content_type: str
    content_attributes: dict[str, Any]
    direction: Literal["incoming", "outgoing", "activity"]
    private: bool
    echo_id: str | None
    source_id: str | None
    sender: Sender | None
    attachments: list[AttachmentPayload]
    created_at: str | None


class ConversationPayload(TypedDict):
    id: int
    display_id: int
    status: Literal["open", "pending", "resolved", "snoozed"]
    priority: str | None
    assignee: UserSummary | None
    inbox: int
    branch: int | None
    contact: ContactSummary
    contact_inbox: int | None
    identifier: str | None
    waiting_since: str | None
    first_reply_created_at: str | None
    last_activity_at: str | None
    contact_last_seen_at: str | None
    agent_last_seen_at: str | None
    snoozed_until: str | None
    additional_attributes: dict[str, Any]
    custom_attributes: dict[str, Any]
    created_at: str | None
    # Label names, sorted (docs/desk.md "Labels"); operators only.
    labels: list[str]


class AssigneeChangedPayload(TypedDict):
    assignee: UserSummary | None


class ReplyPayload(TypedDict):
    message_id: int
    created_at: str | None


class ConversationReadPayload(TypedDict):
    side: Literal["agent", "contact"]
    last_seen_at: str


class PresencePayload(TypedDict):
    """An operator's status, to the operators of their inboxes; or, with ``user_id`` null, the
    inbox's availability to its widgets: ``online`` while some operator is available."""

    user_id: int | None
    status: Literal["online", "busy", "offline"]


class ConversationOfferedPayload(TypedDict):
    """To the offered operator only: accept (``conversation.accept``) before ``expires_at``."""

    conversation_id: int
    expires_at: str
    timeout_seconds: int
    display_id: int
    inbox: int
    contact: ContactSummary


class OfferWithdrawnPayload(TypedDict):
    """To the operator whose offer ended without their accept."""

    conversation_id: int
    reason: Literal["timeout", "declined", "assigned", "closed", "offline", "removed", "mode_changed"]


class Typist(TypedDict):
    id: int
    name: str


class TypingPayload(TypedDict):
    side: Literal["agent", "contact"]
    user: Typist | None
    expires_in: float
    # Operator typing: writing a private note (operators only ever see those).
    private: NotRequired[bool]
    # Visitor typing with the inbox's sneak_peek on, to operators only: the unsent text.
    draft: NotRequired[str]


class QueuePayload(TypedDict):
    """The visitor's place in line; ``position`` null once the conversation left the queue."""

    conversation_id: int
    position: int | None
    expected_wait_seconds: int | None


class EphemeralFrame(TypedDict):
    type: str
    conversation_id: int
    data: TypingPayload | QueuePayload


class MembershipChangedMessage(TypedDict):
    type: Literal["membership.changed"]


class SocketCloseMessage(TypedDict):
    type: Literal["socket.close"]
    code: int


class CredentialRevokedMessage(TypedDict):
    type: Literal["credential.revoked"]
    fingerprint: str
    code: int


class EphemeralFrameMessage(TypedDict):
    type: Literal["ephemeral.frame"]
    frame: EphemeralFrame
    exclude_channel: str | None


class StreamPokeMessage(TypedDict):
    type: Literal["stream.poke"]


EVENT_PAYLOADS: dict[EventType, type] = {
    EventType.CONVERSATION_CREATED: ConversationPayload,
    EventType.CONVERSATION_UPDATED: ConversationPayload,
    EventType.CONVERSATION_STATUS_CHANGED: ConversationPayload,
    EventType.ASSIGNEE_CHANGED: AssigneeChangedPayload,
    EventType.MESSAGE_CREATED: MessagePayload,
    EventType.MESSAGE_UPDATED: MessagePayload,
    EventType.FIRST_REPLY_CREATED: ReplyPayload,
    EventType.REPLY_CREATED: ReplyPayload,
    EventType.CONVERSATION_READ: ConversationReadPayload,
    EventType.PRESENCE_UPDATED: PresencePayload,
    EventType.CONVERSATION_OFFERED: ConversationOfferedPayload,
    EventType.CONVERSATION_OFFER_WITHDRAWN: OfferWithdrawnPayload,
}

EPHEMERAL_PAYLOADS: dict[EphemeralType, type] = {
    EphemeralType.TYPING_STARTED: TypingPayload,
    EphemeralType.TYPING_STOPPED: TypingPayload,
    EphemeralType.QUEUE_UPDATED: QueuePayload,
}

CONTROL_MESSAGES: dict[ControlType, type] = {
    ControlType.MEMBERSHIP_CHANGED: MembershipChangedMessage,
    ControlType.SOCKET_CLOSE: SocketCloseMessage,
    ControlType.CREDENTIAL_REVOKED: CredentialRevokedMessage,
    ControlType.EPHEMERAL_FRAME: EphemeralFrameMessage,
    ControlType.STREAM_POKE: StreamPokeMessage,
}


# --- Checking a value against its declared type ----------------------------------------------


class ShapeError(ValueError):
    pass


def check_event(event_type: str, payload: Any) -> None:
    """Raise ShapeError unless ``payload`` is what ``event_type`` declares."""
    try:
        declared = EVENT_PAYLOADS[EventType(event_type)]
    except ValueError:
        raise ShapeError(f"undeclared event type {event_type!r}") from None
    _check(payload, declared, event_type)


def check_ephemeral(frame: Any) -> None:
    _check(frame, EphemeralFrame, "ephemeral frame")
    try:
        declared = EPHEMERAL_PAYLOADS[EphemeralType(frame["type"])]
    except ValueError:
        raise ShapeError(f"undeclared ephemeral type {frame['type']!r}") from None
    _check(frame["data"], declared, str(frame["type"]))


def check_control(message: Any) -> None:
    kind = message.get("type") if isinstance(message, dict) else None
    try:
        declared = CONTROL_MESSAGES[ControlType(str(kind))]
    except ValueError:
        raise ShapeError(f"undeclared control message {kind!r}") from None
    _check(message, declared, str(kind))
    if kind == ControlType.EPHEMERAL_FRAME:
        check_ephemeral(message["frame"])


def _check(value: Any, declared: Any, where: str) -> None:
    if declared is Any:
        return
    origin = get_origin(declared)
    if origin in (Union, types.UnionType):
        errors = []
        for option in get_args(declared):
            try:
                _check(value, option, where)
                return
            except ShapeError as exc:
                errors.append(str(exc))
        raise ShapeError(f"{where}: {value!r} matches none of {declared} ({'; '.join(errors)})")
    if origin is Literal:
        if value not in get_args(declared):
            raise ShapeError(f"{where}: {value!r} is not one of {get_args(declared)}")
        return
    if declared is type(None):
        if value is not None:
            raise ShapeError(f"{where}: {value!r} is not null")
        return
    if origin is list:
        if not isinstance(value, list):
            raise ShapeError(f"{where}: {value!r} is not a list")
        (item,) = get_args(declared)
        for index, element in enumerate(value):
            _check(element, item, f"{where}[{index}]")
        return
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ShapeError(f"{where}: {value!r} is not an object")
        return
    if typing.is_typeddict(declared):
        if not isinstance(value, dict):
            raise ShapeError(f"{where}: {value!r} is not an object")
        hints = get_type_hints(declared, include_extras=True)
        # Not __required_keys__: with postponed annotations Python 3.11 cannot see NotRequired.
        required = {key for key, hint in hints.items() if get_origin(hint) is not NotRequired}
        missing = required - value.keys()
        extra = value.keys() - hints.keys()
        if missing or extra:
            raise ShapeError(f"{where}: missing keys {sorted(missing)}, unexpected keys {sorted(extra)}")
        for key, hint in hints.items():
            if key in value:
                if get_origin(hint) is NotRequired:
                    (hint,) = get_args(hint)
                _check(value[key], hint, f"{where}.{key}")
        return
    if declared is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif declared is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, declared)
    if not ok:
        raise ShapeError(f"{where}: {value!r} is not {declared.__name__}")
