"""Socket replies speak the socket's language (docs/i18n.md): an operator's profile locale at
connect (else the handshake's Accept-Language); a visitor's ``locale`` from the auth frame, else
the handshake's Accept-Language. Codes stay English."""
from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from chat.models import OperatorProfile
from tests.realtime.conftest import ORIGIN, TIMEOUT, application, command, db, operator_socket, token_for

pytestmark = pytest.mark.django_db(transaction=True)


def set_locale(user, locale: str) -> None:
    OperatorProfile.objects.filter(user=user).update(locale=locale)


async def test_operator_socket_errors_in_the_operators_language(world):
    await db(set_locale)(world.op_a, "ru")
    await db(set_locale)(world.op_b, "en")
    ru, en = await operator_socket(world.op_a), await operator_socket(world.op_b)
    for comm, expected in ((ru, "Диалог не найден."), (en, "Conversation not found.")):
        reply = await command(comm, "conversation.read", {"conversation_id": 999999}, ref="r")
        assert reply["ok"] is False
        assert reply["error"] == {"code": "not_found", "message": expected}
    unknown = await command(ru, "launch.rockets", ref="u")
    assert unknown["error"] == {"code": "unknown_command", "message": "Неизвестная команда 'launch.rockets'."}
    missing = await command(ru, "conversation.read", {}, ref="m")
    assert missing["error"]["message"] == "Нужен conversation_id."
    assert missing["error"]["fields"] == {"conversation_id": ["Обязательное поле."]}
    await ru.disconnect()
    await en.disconnect()


async def test_operator_without_a_choice_gets_the_handshakes_language(world):
    key = await db(token_for)(world.op_a)
    comm = await operator_socket(world.op_a, headers=[(b"authorization", f"Token {key}".encode()),
                                                      (b"accept-language", b"ru-RU,ru;q=0.9")])
    reply = await command(comm, "conversation.read", {"conversation_id": 999999}, ref="r")
    assert reply["error"]["message"] == "Диалог не найден."
    await comm.disconnect()


async def widget(contact_inbox, *, locale=None, accept_language=None):
    headers = [(b"origin", ORIGIN.encode())]
    if accept_language:
        headers.append((b"accept-language", accept_language.encode()))
    comm = WebsocketCommunicator(application(), "/ws/widget/", headers=headers)
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    data = {"pubsub_token": contact_inbox.pubsub_token}
    if locale is not None:
        data["locale"] = locale
    assert (await command(comm, "auth", data, ref="auth"))["ok"]
    return comm


@pytest.mark.parametrize(("locale", "accept_language", "expected"), [
    ("ru", None, "В сообщении должен быть текст или вложение."),
    ("ru-RU", "en", "В сообщении должен быть текст или вложение."),
    (None, "ru", "В сообщении должен быть текст или вложение."),
    ("xx", "ru", "В сообщении должен быть текст или вложение."),  # unsupported: the browser's
    ("en", "ru", "A message needs content or an attachment."),
    (None, None, "A message needs content or an attachment."),
    (["ru"], None, "A message needs content or an attachment."),  # not a string: ignored
])
async def test_widget_socket_errors_in_the_visitors_language(world, locale, accept_language, expected):
    comm = await widget(world.visitor, locale=locale, accept_language=accept_language)
    reply = await command(comm, "message.create", {"content": "", "echo_id": "e1"}, ref="m")
    assert reply["error"]["code"] == "invalid_data"
    assert reply["error"]["message"] == expected
    await comm.disconnect()

