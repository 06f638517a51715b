"""Helpers for the real-time tests: sockets through the real ASGI application.

Tests that open sockets use real transactions (``django_db(transaction=True)``): the stream
hub reads the outbox from other threads.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from tests.factories import ContactInboxFactory, InboxFactory, InboxMemberFactory, UserFactory

TIMEOUT = 10.0
ORIGIN = "https://shop.example"

db = database_sync_to_async


def application():
    from project.asgi import application as app

    return app


# Operators' availability changes whenever a test's operator connects or leaves, on the presence
# helper's own schedule (a grace period): these tests look at everything else.
SKIPPED_TYPES = frozenset({"presence.updated"})


async def receive(comm: WebsocketCommunicator, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next frame the server sent (JSON), presence updates aside."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(await comm.receive_from(timeout=max(0.01, deadline - time.monotonic())))
        if frame.get("type") not in SKIPPED_TYPES:
            return frame


async def receive_until(comm: WebsocketCommunicator, predicate: Callable[[dict[str, Any]], bool],
                        timeout: float = TIMEOUT) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Frames until one matches; returns it and the frames before it."""
    before = []
    deadline = time.monotonic() + timeout
    while True:
        frame = await receive(comm, max(0.01, deadline - time.monotonic()))
        if predicate(frame):
            return frame, before
        before.append(frame)


async def reply_to(comm: WebsocketCommunicator, ref: Any, timeout: float = TIMEOUT) -> dict[str, Any]:
    frame, _ = await receive_until(comm, lambda f: f.get("type") == "reply" and f.get("ref") == ref, timeout)
    return frame


async def command_expecting(comm: WebsocketCommunicator, kind: str, data: dict[str, Any] | None,
                            *predicates: Callable[[dict[str, Any]], bool], ref: Any = "r",
                            timeout: float = TIMEOUT) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Send a command; read until its reply and a frame matching each predicate have arrived
    (events caused by a command may come before or after its reply). The reply and the frames."""
    await comm.send_to(text_data=json.dumps({"type": kind, "ref": ref, "data": data or {}}))
    reply, frames = None, []
    deadline = time.monotonic() + timeout
    while reply is None or not all(any(p(f) for f in frames) for p in predicates):
        frame = await receive(comm, max(0.01, deadline - time.monotonic()))
        if frame.get("type") == "reply" and frame.get("ref") == ref:
            reply = frame
        else:
            frames.append(frame)
    return reply, frames


def is_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame.get("type") == kind


def first_of(frames: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(f for f in frames if f.get("type") == kind)


async def command(comm: WebsocketCommunicator, kind: str, data: dict[str, Any] | None = None,
                  ref: Any = "r") -> dict[str, Any]:
    """Send a command and return its reply (frames before it are dropped)."""
    await comm.send_to(text_data=json.dumps({"type": kind, "ref": ref, "data": data or {}}))
    return await reply_to(comm, ref)


async def closed_with(comm: WebsocketCommunicator, timeout: float = TIMEOUT) -> int:
    """Skip frames until the server closes the socket; its close code."""
    deadline = time.monotonic() + timeout
    while True:
        message = await comm.receive_output(timeout=max(0.01, deadline - time.monotonic()))
        if message["type"] == "websocket.close":
            return message.get("code", 1000)


async def eventually(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Wait for a condition on this loop's state (not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def token_for(user) -> str:
    from rest_framework.authtoken.models import Token

    return Token.objects.get_or_create(user=user)[0].key


async def operator_socket(user, *, headers: list[tuple[bytes, bytes]] | None = None) -> WebsocketCommunicator:
    """An operator socket authenticated by token, connected (the hub joined)."""
    if headers is None:
        key = await db(token_for)(user)
        headers = [(b"authorization", f"Token {key}".encode())]
    comm = WebsocketCommunicator(application(), "/ws/operator/", headers=headers)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    return comm


async def joined_operator(user) -> WebsocketCommunicator:
    """Connected and provably subscribed: a ping round trip after connect."""
    comm = await operator_socket(user)
    reply = await command(comm, "ping", ref="hello")
    assert reply["ok"], reply
    return comm


async def widget_socket(contact_inbox, *, origin: str | None = ORIGIN) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A widget socket after a successful ``auth``; returns it and the auth reply."""
    headers = [(b"origin", origin.encode())] if origin else []
    comm = WebsocketCommunicator(application(), "/ws/widget/", headers=headers)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    reply = await command(comm, "auth", {"pubsub_token": contact_inbox.pubsub_token}, ref="auth")
    assert reply["ok"], reply
    return comm, reply


def frames_of(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in frames if f.get("type") == kind]


@pytest.fixture
def world(transactional_db):
    """Two inboxes; an operator of each; a visitor in each. Auto-assignment is off so that an
    operator coming online does not add assignment events to what a test watches."""
    inbox_a = InboxFactory(enable_auto_assignment=False)
    inbox_b = InboxFactory(enable_auto_assignment=False)
    op_a = InboxMemberFactory(inbox=inbox_a).user
    op_b = InboxMemberFactory(inbox=inbox_b).user
    visitor = ContactInboxFactory(inbox=inbox_a)
    visitor_b = ContactInboxFactory(inbox=inbox_b)
    return type("World", (), {
        "inbox_a": inbox_a, "inbox_b": inbox_b, "op_a": op_a, "op_b": op_b,
        "visitor": visitor, "visitor_b": visitor_b, "admin": UserFactory(is_superuser=True),
    })


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Factories set passwords; the production hasher would dominate these tests' time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
