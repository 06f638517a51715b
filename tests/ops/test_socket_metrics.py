"""Socket-side metrics and log ids, through the real ASGI application (chat/metrics.py,
chat/logcontext.py): open sockets by kind, commands by type and outcome, events written after
commit, frames delivered by the hub, and a socket id on the lines a socket logs."""
from __future__ import annotations

import logging

import pytest
from channels.layers import get_channel_layer
from prometheus_client import REGISTRY

from chat.events import user_group
from chat.logcontext import RequestIdFilter
from tests.realtime.conftest import (
    command,
    eventually,
    is_type,
    joined_operator,
    receive_until,
    widget_socket,
)

pytestmark = pytest.mark.django_db(transaction=True)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_sockets_commands_and_events_are_counted(world) -> None:
    operators_before = sample("messenger_sockets_open", kind="operator")
    widgets_before = sample("messenger_sockets_open", kind="widget")
    ok_before = sample("messenger_commands_total", type="message.create", outcome="ok")
    unknown_before = sample("messenger_commands_total", type="unknown", outcome="unknown_command")
    written_before = sample("messenger_events_written_total", type="message.created")
    delivered_before = sample("messenger_events_delivered_total", transport="websocket")

    op = await joined_operator(world.op_a)
    visitor, _ = await widget_socket(world.visitor)
    assert sample("messenger_sockets_open", kind="operator") == operators_before + 1
    assert sample("messenger_sockets_open", kind="widget") == widgets_before + 1

    reply = await command(visitor, "message.create", {"content": "hello"}, ref="m1")
    assert reply["ok"], reply
    await receive_until(op, is_type("message.created"))
    assert sample("messenger_commands_total", type="message.create", outcome="ok") == ok_before + 1
    assert sample("messenger_events_written_total", type="message.created") >= written_before + 1
    # The operator's copy and the visitor's own echo at least.
    assert sample("messenger_events_delivered_total", transport="websocket") >= delivered_before + 2

    # A type the client made up is counted as "unknown": clients cannot grow the label set.
    reply = await command(visitor, "made.up.command-123", {}, ref="x")
    assert reply["error"]["code"] == "unknown_command"
    assert sample("messenger_commands_total", type="unknown", outcome="unknown_command") == unknown_before + 1
    assert sample("messenger_commands_total", type="made.up.command-123", outcome="unknown_command") == 0

    await op.disconnect()
    await visitor.disconnect()
    await eventually(lambda: sample("messenger_sockets_open", kind="operator") == operators_before)
    await eventually(lambda: sample("messenger_sockets_open", kind="widget") == widgets_before)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.addFilter(RequestIdFilter())
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_lines_logged_by_a_socket_carry_its_id(world) -> None:
    handler = Records()
    logging.getLogger().addHandler(handler)
    try:
        op = await joined_operator(world.op_a)
        # A control message no handler takes: the consumer logs a warning from its own task.
        await get_channel_layer().group_send(user_group(world.op_a.pk), {"type": "no.such.control"})
        await eventually(lambda: any("no.such.control" in r.getMessage() for r in handler.records))
        await op.disconnect()
    finally:
        logging.getLogger().removeHandler(handler)
    record = next(r for r in handler.records if "no.such.control" in r.getMessage())
    assert record.request_id.startswith("ws-") and len(record.request_id) == 19


async def test_lines_logged_by_a_request_carry_its_id() -> None:
    from django.test import AsyncClient

    handler = Records()
    logging.getLogger().addHandler(handler)
    try:
        response = await AsyncClient().get("/no/such/page", headers={"X-Request-ID": "req-abc-123"})
    finally:
        logging.getLogger().removeHandler(handler)
    assert response.status_code == 404 and response["X-Request-ID"] == "req-abc-123"
    record = next(r for r in handler.records if "/no/such/page" in r.getMessage())
    assert record.request_id == "req-abc-123"


async def test_stream_lag_is_zero_once_the_hub_caught_up(world) -> None:
    from django.test import AsyncClient

    op = await joined_operator(world.op_a)
    visitor, _ = await widget_socket(world.visitor)
    assert (await command(visitor, "message.create", {"content": "lag?"}, ref="m"))["ok"]
    await receive_until(op, is_type("message.created"))  # delivered by this loop's hub
    text = (await AsyncClient().get("/metrics")).content.decode()
    assert "messenger_stream_lag_events 0.0" in text
    await op.disconnect()
    await visitor.disconnect()


async def test_long_poll_deliveries_are_counted_as_http(world, settings) -> None:
    import asyncio

    from django.test import AsyncClient

    from chat.realtime.hub import get_hub
    from tests.factories import make_conversation
    from tests.realtime.conftest import db
    from tests.realtime.test_fallbacks import headers_for
    from tests.realtime.test_resume import note

    settings.LONGPOLL_WAIT_SECONDS = 5
    conversation = await db(make_conversation)(contact_inbox=world.visitor)
    client = AsyncClient()
    start = (await client.get("/api/widget/v1/events", headers=headers_for(world.visitor))).json()
    http_before = sample("messenger_events_delivered_total", transport="http")
    ws_before = sample("messenger_events_delivered_total", transport="websocket")
    waiting = asyncio.ensure_future(client.get(f"/api/widget/v1/events?after={start['last_event_id']}",
                                               headers=headers_for(world.visitor)))
    await eventually(lambda: len(get_hub()) > 0)
    await db(note)(conversation, "to the long-poll")
    assert len((await asyncio.wait_for(waiting, 10)).json()["events"]) == 1
    assert sample("messenger_events_delivered_total", transport="http") == http_before + 1
    assert sample("messenger_events_delivered_total", transport="websocket") == ws_before
