"""Property tests of the edges: generated frames at every command of both sockets, generated
JSON bodies and query strings at every endpoint of the URL resolver. The server must answer
cleanly (HTTP status < 500 with the JSON error shape under /api/; a socket reply ``ok: true``
or ``ok: false`` with a known code, never ``internal_error``, and the socket stays open) and
keep serving. Bounded (a few seconds per test), with no example database."""
from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import quote

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from chat.api.security import LoginThrottle, WidgetIpThrottle, WidgetTokenThrottle
from chat.errors import ErrorCode
from chat.models import Role
from tests.api.conftest import assert_error, token_client
from tests.factories import (
    ContactInboxFactory,
    InboxFactory,
    InboxMemberFactory,
    UserFactory,
    make_conversation,
)
from tests.realtime.conftest import TIMEOUT, joined_operator, receive, widget_socket

KNOWN_CODES = {str(code) for code in ErrorCode} - {str(ErrorCode.INTERNAL_ERROR)}


def fuzz(max_examples: int) -> hsettings:
    return hsettings(max_examples=max_examples, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# --- Junk ---------------------------------------------------------------------------------------

NASTY_TEXT = st.sampled_from(["", "\x00", "a\x00b", "\ud800", "\x1b[2J", "\r\n", "é" * 50, "9" * 40,
                              IMPOSSIBLE := "2026-13-45T99:99:99Z", "2030-01-01T00:00:00Z", "open", "snoozed",
                              "urgent", "me", "null", "-1", "1e999", " ", "<script>"])
WITH_NUL = st.text(max_size=8).map(lambda t: t + "\x00")
TEXT = st.one_of(NASTY_TEXT, WITH_NUL, st.text(max_size=40), st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=8))
SCALAR = st.one_of(st.none(), st.booleans(), TEXT,
                   st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, 1, -1, 2**31, 2**63 - 1, 2**63]),
                   st.floats(allow_nan=False, allow_infinity=False))
JUNK = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)
DEEP = st.integers(min_value=20, max_value=5000).map(lambda n: "[" * n + "]" * n)

# --- Sockets ------------------------------------------------------------------------------------

OPERATOR_COMMANDS = ["message.create", "typing.start", "typing.stop", "conversation.read", "conversation.assign",
                     "conversation.escalate", "conversation.status", "conversation.priority", "presence.set",
                     "resume", "ping", "conversation.accept", "conversation.decline"]
WIDGET_COMMANDS = ["message.create", "typing.start", "typing.stop", "conversation.read", "resume", "ping"]
FIELDS = ["content", "echo_id", "attachments", "conversation_id", "private", "assignee_id", "status",
          "snoozed_until", "priority", "last_event_id", "pubsub_token"]


def _templates(conversation_id: int) -> dict[str, dict[str, Any]]:
    """A valid ``data`` of every command; the fuzz poisons one field at a time."""
    cid = {"conversation_id": conversation_id}
    return {
        "message.create": {**cid, "content": "hi", "echo_id": "e-1", "private": False},
        "typing.start": cid, "typing.stop": cid, "conversation.read": cid, "conversation.escalate": cid,
        "conversation.assign": {**cid, "assignee_id": None},
        "conversation.status": {**cid, "status": "snoozed", "snoozed_until": "2030-01-01T00:00:00Z"},
        "conversation.priority": {**cid, "priority": "low"},
        "presence.set": {"status": "busy"}, "resume": {"last_event_id": 0}, "ping": {},
        "conversation.accept": cid, "conversation.decline": cid,
    }


def frames(commands: list[str], conversation_id: int) -> st.SearchStrategy[str]:
    nested = st.integers(min_value=20, max_value=400).map(lambda n: json.loads("[" * n + "]" * n))
    poison = st.one_of(WITH_NUL, NASTY_TEXT, JUNK, nested,
                       st.sampled_from([2**63, -(2**63) - 1, 2**64 - 1, 10**30, True, [], {}]))
    templates = _templates(conversation_id)

    def poisoned(command: str) -> st.SearchStrategy[dict[str, Any]]:
        fields = [*templates[command], "attachments", "extra"]
        return st.tuples(st.sampled_from(fields), poison, st.text(max_size=6)).map(
            lambda chosen: {"type": command, "ref": chosen[2], "data": {**templates[command], chosen[0]: chosen[1]}})

    value = st.one_of(JUNK, st.just(conversation_id), nested)
    generic = st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(commands), TEXT),
         "data": st.one_of(st.dictionaries(st.sampled_from(FIELDS), value, max_size=5), JUNK)},
        optional={"ref": st.one_of(st.text(max_size=10), st.integers(), JUNK)},
    )
    attachments = st.fixed_dictionaries({
        "type": st.just("message.create"), "ref": st.text(max_size=4),
        "data": st.fixed_dictionaries({"content": st.just("file"), "attachments": st.lists(st.fixed_dictionaries(
            {"name": TEXT, "content_type": TEXT, "data": st.sampled_from(["aGk=", "!!", ""])}), max_size=2)}),
    })
    command = st.one_of(st.sampled_from(commands).flatmap(poisoned), generic, attachments).map(
        lambda frame: json.dumps(frame, allow_nan=True))
    raw = st.one_of(TEXT, DEEP, st.sampled_from(['{"type": "ping", "ref": 18446744073709551616}', '{"type":',
                                                 '{"type": "ping", "data": NaN}']))
    return st.one_of(command, command, command, raw)


async def _exchange(comm: Any, texts: list[str]) -> None:
    """Send the frames, then a ping with a fresh ref; every reply until that one is clean."""
    for text in texts:
        await comm.send_input({"type": "websocket.receive", "text": text})
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    await comm.send_to(text_data=json.dumps({"type": "ping", "ref": sentinel}))
    while True:
        frame = await receive(comm, TIMEOUT)
        if frame.get("type") != "reply":
            continue
        assert frame["ok"] is True or frame["error"]["code"] in KNOWN_CODES, (frame, texts)
        if frame.get("ref") == sentinel:
            assert frame["ok"] is True
            return


@pytest.fixture
def desk(transactional_db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.FLOOD_LIMIT_MESSAGES = 100_000
    settings.WS_COMMANDS_PER_10S = 100_000
    inbox = InboxFactory(enable_auto_assignment=False)
    operator = UserFactory(profile=Role.SUPERVISOR)
    InboxMemberFactory(inbox=inbox, user=operator)
    visitor = ContactInboxFactory(inbox=inbox)
    return type("Desk", (), {"inbox": inbox, "operator": operator, "visitor": visitor,
                             "conversation": make_conversation(contact_inbox=visitor)})


@pytest.mark.django_db(transaction=True)
# Its many examples make garbage collection run here, which then reports a loopback socket an
# earlier test on this worker left unclosed (seen twice in full runs; not this test's). Tracked in
# the session note; here it must not fail the fuzzing.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@fuzz(60)
@given(data=st.data())
async def test_generated_frames_get_clean_replies_and_sockets_stay_open(desk, data):
    cid = desk.conversation.pk
    operator_texts = data.draw(st.lists(frames(OPERATOR_COMMANDS, cid), min_size=1, max_size=8), label="operator")
    widget_texts = data.draw(st.lists(frames(WIDGET_COMMANDS, cid), min_size=1, max_size=8), label="widget")
    op = await joined_operator(desk.operator)
    widget, _ = await widget_socket(desk.visitor)
    try:
        await _exchange(op, operator_texts)
        await _exchange(widget, widget_texts)
    finally:
        await op.disconnect()
        await widget.disconnect()


# --- REST ---------------------------------------------------------------------------------------

_PARAM = re.compile(r"<(?:(?P<conv>[^:>]+):)?(?P<name>[^>]+)>")


def _routes(patterns: list[Any] | None = None, prefix: str = "") -> list[str]:
    """Every route of the URL resolver as ``/path/<int:name>/`` text (the admin aside: Django's,
    not ours; regex catch-alls are reached by the generated junk paths)."""
    found = []
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        route = getattr(entry.pattern, "_route", None)
        if route is None:
            continue
        if isinstance(entry, URLResolver):
            if route.startswith("admin/"):
                continue
            found += _routes(entry.url_patterns, prefix + route)
        elif isinstance(entry, URLPattern):
            found.append("/" + prefix + route)
    return sorted(set(found))


ROUTES = [r for r in _routes() if not r.startswith(("/api/schema/", "/api/docs/"))]
# SSE and long-poll hold the request open with a valid token: they get junk tokens only.
STREAMS = ("/api/widget/v1/stream", "/api/widget/v1/events")
QUERY_NAMES = ["q", "status", "assignee", "inbox", "branch", "priority", "contact", "cursor", "limit", "before",
               "after", "conversation_id", "last_event_id", "token", "next"]


def _fill(route: str, value: Any) -> str:
    def replace(match: re.Match) -> str:
        drawn = value(match.group("conv") or "str")
        return quote(str(drawn), safe="")
    return _PARAM.sub(replace, route)


@pytest.fixture
def rest_desk(db, settings, monkeypatch):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.FLOOD_LIMIT_MESSAGES = 100_000
    for throttle, scope in ((LoginThrottle, "login"), (WidgetIpThrottle, "widget_ip"),
                            (WidgetTokenThrottle, "widget_token")):
        monkeypatch.setitem(throttle.THROTTLE_RATES, scope, "1000000/min")
    inbox = InboxFactory(enable_auto_assignment=False)
    admin = UserFactory(profile=Role.ADMINISTRATOR, is_superuser=True)
    InboxMemberFactory(inbox=inbox, user=admin)
    visitor = ContactInboxFactory(inbox=inbox)
    conversation = make_conversation(contact_inbox=visitor)
    ids = [inbox.pk, admin.pk, visitor.pk, visitor.contact_id, conversation.pk, inbox.branch_id]
    return type("RestDesk", (), {"admin": admin, "visitor": visitor, "ids": ids})


def _surrogates(text: str) -> bool:
    """Lone surrogates cannot be encoded into a URL path at all (no client can send them)."""
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@fuzz(250)
@given(data=st.data())
def test_generated_requests_at_every_endpoint_answer_cleanly(rest_desk, data):
    route = data.draw(st.sampled_from(ROUTES + ["/api/v1/nowhere/<str:x>/", "/ws/<str:x>"]), label="route")
    path = _fill(route, lambda conv: data.draw(
        st.one_of(st.sampled_from(rest_desk.ids), st.integers(min_value=0, max_value=2**70))
        if conv == "int" else TEXT.filter(lambda t: "/" not in t and t not in (".", "..") and not _surrogates(t)), label=conv))
    method = data.draw(st.sampled_from(["get", "post", "patch", "put", "delete"]), label="method")
    params = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), TEXT, max_size=4), label="query")
    body = data.draw(st.one_of(JUNK.map(lambda v: json.dumps(v, allow_nan=True).encode()), DEEP.map(str.encode),
                               st.binary(max_size=40)), label="body")
    widget = data.draw(st.sampled_from(["valid", "junk", "none"]), label="widget token")
    headers: dict[str, str] = {}
    if widget == "valid" and not path.startswith(STREAMS):
        headers["HTTP_X_WIDGET_TOKEN"] = rest_desk.visitor.pubsub_token
    elif widget == "junk":
        headers["HTTP_X_WIDGET_TOKEN"] = data.draw(TEXT, label="junk token").replace("\n", "")
    client = token_client(rest_desk.admin) if data.draw(st.booleans(), label="operator") else APIClient()
    query = "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items() if not _surrogates(v))
    response = client.generic(method.upper(), path + ("?" + query if query else ""), body,
                              content_type="application/json", **headers)
    if response.streaming:  # a file response (the widget loader, statics): read it, which closes it
        b"".join(response.streaming_content)
    assert response.status_code < 500, (method, path, response.content[:500])
    if path.startswith("/api/") and response.status_code >= 400 and response.status_code != 405:
        error = json.loads(response.content)["error"]
        assert error["code"] in KNOWN_CODES, error
    # And it keeps serving (anonymously: a generated request may have logged the admin out).
    assert_error(APIClient().get("/api/v1/profile"), 401, "not_authenticated")
