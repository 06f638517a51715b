"""The wire's names are declared once (chat/event_types.py) and the browser reads the same ones
(frontend/static/frontend/shared/protocol.js): this keeps them equal, with the close codes and
error codes, and keeps the consumers' command allow-lists equal to the declaration."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from chat.errors import ErrorCode
from chat.event_types import (
    OPERATOR_COMMANDS,
    WIDGET_COMMANDS,
    CommandType,
    ControlType,
    EphemeralType,
    EventType,
    FrameType,
    ShapeError,
    check_control,
    check_event,
)
from chat.realtime.codes import CloseCode

PROTOCOL_JS = Path(__file__).resolve().parents[2] / "frontend/static/frontend/shared/protocol.js"
STATIC = PROTOCOL_JS.parent.parent


def js_objects() -> dict[str, dict[str, str | int]]:
    """``export const NAME = Object.freeze({ KEY: value, ... });`` blocks of protocol.js."""
    text = PROTOCOL_JS.read_text()
    objects = {}
    for name, body in re.findall(r"export const (\w+) = Object\.freeze\(\{(.*?)\}\);", text, flags=re.S):
        entries = {}
        for key, value in re.findall(r'^\s*(\w+):\s*("[^"]*"|\d+),\s*$', body, flags=re.M):
            entries[key] = value.strip('"') if value.startswith('"') else int(value)
        objects[name] = entries
    return objects


@pytest.mark.parametrize(("js_name", "enum"), [
    ("EVENT", EventType), ("EPHEMERAL", EphemeralType), ("COMMAND", CommandType), ("FRAME", FrameType),
    ("CLOSE", CloseCode), ("ERROR", ErrorCode),
])
def test_protocol_js_equals_the_python_declaration(js_name, enum):
    # __members__ includes aliases (CloseCode.TOO_MANY_SOCKETS is TOO_SLOW's code).
    expected = {name: (int(member.value) if isinstance(member.value, int) else str(member.value))
                for name, member in enum.__members__.items()}
    assert js_objects()[js_name] == expected


def test_browser_code_takes_event_and_command_names_from_protocol_js():
    """No panel or widget module spells a declared event or command name as a literal."""
    names = {str(m) for m in (*EventType, *EphemeralType)} | {str(c) for c in CommandType if "." in c}
    offenders = []
    for path in sorted(STATIC.glob("*/*.js")):
        if path == PROTOCOL_JS:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for literal in re.findall(r'"([a-z_]+\.[a-z_]+)"', line):
                if literal in names:
                    offenders.append(f"{path.relative_to(STATIC)}:{number}: {literal}")
    assert offenders == []


def test_consumers_allow_exactly_the_declared_commands():
    from chat.consumers.operator import OperatorConsumer
    from chat.consumers.widget import WidgetConsumer

    assert set(OperatorConsumer.commands) == {str(c) for c in OPERATOR_COMMANDS}
    assert set(WidgetConsumer.commands) == {str(c) for c in WIDGET_COMMANDS}


def test_control_message_names_match_the_consumer_handlers():
    from chat.consumers.base import StreamConsumer
    from chat.realtime import control

    assert {control.MEMBERSHIP_CHANGED, control.SOCKET_CLOSE, control.CREDENTIAL_REVOKED,
            control.EPHEMERAL_FRAME} <= {str(c) for c in ControlType}
    for kind in (ControlType.MEMBERSHIP_CHANGED, ControlType.SOCKET_CLOSE, ControlType.CREDENTIAL_REVOKED,
                 ControlType.EPHEMERAL_FRAME):
        assert callable(getattr(StreamConsumer, kind.replace(".", "_")))


def test_presence_has_one_shape():
    check_event("presence.updated", {"user_id": 3, "status": "busy"})
    check_event("presence.updated", {"user_id": None, "status": "online"})
    with pytest.raises(ShapeError):
        check_event("presence.updated", {"available": True})


def test_shapes_are_checked_strictly():
    with pytest.raises(ShapeError):
        check_event("assignee.changed", {"assignee": None, "extra": 1})
    with pytest.raises(ShapeError):
        check_event("reply.created", {"message_id": True, "created_at": None})  # a bool is no id
    with pytest.raises(ShapeError):
        check_event("no.such_event", {})
    with pytest.raises(ShapeError):
        check_control({"type": "socket.close"})  # no code
    check_control({"type": "socket.close", "code": 4403})
