"""REST in the reader's language (docs/i18n.md): an operator's profile locale (else their
browser's), set at first login from Accept-Language and changed through PATCH /api/v1/profile;
error and validation messages translated while codes stay English; activity lines rendered for
each reader from the same stored data; a visitor's session in the widget's language."""
from __future__ import annotations

import pytest
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from chat.models import Message, MessageDirection, OperatorProfile
from chat.services.agents import operator_set_locale
from chat.services.conversations import conversation_set_status
from tests.api.conftest import assert_error, token_client, widget_client
from tests.factories import InboxMemberFactory, UserFactory

pytestmark = pytest.mark.django_db


def set_locale(user, locale: str) -> None:
    OperatorProfile.objects.filter(user=user).update(locale=locale)


# --- The operator's language -------------------------------------------------------------------


def test_profile_shows_and_changes_the_locale(world, client_a):
    assert client_a.get("/api/v1/profile").json()["locale"] == "en"
    response = client_a.patch("/api/v1/profile", {"locale": "ru-RU"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["locale"] == "ru"
    assert OperatorProfile.objects.get(user=world.agent_a).locale == "ru"
    assert client_a.get("/api/v1/profile").json()["locale"] == "ru"
    # The answer itself, and the cookie for the pages outside the API, speak it from now on.
    assert response.cookies["django_language"].value == "ru"


@pytest.mark.parametrize("bad", ["de", "", "x" * 40, 5, None, ["ru"]])
def test_profile_refuses_an_unknown_locale_and_keeps_the_old_one(world, client_a, bad):
    set_locale(world.agent_a, "ru")
    error = assert_error(client_a.patch("/api/v1/profile", {"locale": bad}, format="json"), 400, "invalid_data")
    assert "locale" in error["fields"]
    assert OperatorProfile.objects.get(user=world.agent_a).locale == "ru"


def test_first_login_takes_the_browsers_language_and_a_later_one_keeps_the_choice(world):
    assert OperatorProfile.objects.get(user=world.agent_a).locale == ""
    client = APIClient(HTTP_ACCEPT_LANGUAGE="fr-FR,ru;q=0.8,en;q=0.5")
    response = client.post("/api/v1/auth/login", {"username": "ann", "password": "password123"}, format="json")
    assert response.status_code == 200, response.content
    assert OperatorProfile.objects.get(user=world.agent_a).locale == "ru"
    assert response.cookies["django_language"].value == "ru"
    # A later login from an English browser does not undo it.
    APIClient(HTTP_ACCEPT_LANGUAGE="en").post("/api/v1/auth/login", {"username": "ann", "password": "password123"},
                                              format="json")
    assert OperatorProfile.objects.get(user=world.agent_a).locale == "ru"


def test_first_login_without_a_supported_language_gets_the_default(world):
    APIClient(HTTP_ACCEPT_LANGUAGE="de").post("/api/v1/auth/login", {"username": "bob", "password": "password123"},
                                               format="json")
    assert OperatorProfile.objects.get(user=world.agent_b).locale == "en"


def test_the_panels_login_form_sets_the_locale_too(world):
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    response = client.post("/login/", {"username": "ann", "password": "password123"})
    assert response.status_code == 302
    assert OperatorProfile.objects.get(user=world.agent_a).locale == "ru"
    panel = client.get("/app/")
    assert panel.context["boot"]["user"]["locale"] == "ru"


def test_an_operators_page_fills_an_empty_locale_from_the_browser_and_every_page_boots_with_it(world):
    """A session that never went through our login (older than the choice, the Django admin's
    login): the first page fills the profile from the browser, once; the pages speak it."""
    import json

    def boot(page) -> dict:
        return json.loads(page.content.decode().split('<script id="boot" type="application/json">')[1]
                          .split("</script>")[0])

    assert OperatorProfile.objects.get(user=world.agent_a).locale == ""
    client = Client(HTTP_ACCEPT_LANGUAGE="de-DE,ru;q=0.9")
    client.force_login(world.agent_a)
    assert boot(client.get("/app/"))["user"]["locale"] == "ru"
    assert OperatorProfile.objects.get(user=world.agent_a).locale == "ru"
    english = Client(HTTP_ACCEPT_LANGUAGE="en")
    english.force_login(world.agent_a)
    for path in ("/app/", "/app/settings/", "/app/reports/"):
        assert boot(english.get(path))["user"]["locale"] == "ru", path  # the profile wins, once set


# --- Messages in that language -----------------------------------------------------------------


def test_errors_speak_the_operators_language_and_keep_english_codes(world):
    ru_agent = token_client(world.agent_a)
    en_agent = token_client(world.agent_b)
    set_locale(world.agent_a, "ru")
    set_locale(world.agent_b, "en")
    # Even when the browser asks for the other language, the profile wins.
    ru_agent.credentials(HTTP_AUTHORIZATION=ru_agent._credentials["HTTP_AUTHORIZATION"], HTTP_ACCEPT_LANGUAGE="en")
    missing = "/api/v1/conversations/999999/"
    assert assert_error(ru_agent.get(missing), 404, "not_found")["message"] == "Диалог не найден."
    assert assert_error(en_agent.get(missing), 404, "not_found")["message"] == "Conversation not found."
    bad = {"status": "bogus"}
    ru = assert_error(ru_agent.get("/api/v1/conversations/", bad), 400, "invalid_data")
    en = assert_error(en_agent.get("/api/v1/conversations/", bad), 400, "invalid_data")
    assert (ru["message"], en["message"]) == ("Неизвестный статус.", "Unknown status.")
    assert ru["fields"]["status"][0].startswith("Одно из значений:")


def test_drf_validation_messages_follow_the_profile_too(world, client_a):
    set_locale(world.agent_a, "ru")
    error = assert_error(client_a.patch("/api/v1/profile", {"availability": "asleep"}, format="json"),
                         400, "invalid_data")
    # DRF's own Russian (it ships it), because the language was active before validation ran.
    assert error["fields"]["availability"] == ["Значения asleep нет среди допустимых вариантов."]


def test_an_operator_without_a_choice_reads_their_browsers_language(world):
    client = token_client(world.agent_a)
    client.credentials(HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"], HTTP_ACCEPT_LANGUAGE="ru")
    assert assert_error(client.get("/api/v1/conversations/999999/"), 404, "not_found")["message"] == "Диалог не найден."


def test_an_anonymous_caller_reads_accept_language():
    response = APIClient(HTTP_ACCEPT_LANGUAGE="ru").get("/api/v1/profile")
    assert assert_error(response, 401, "not_authenticated")["message"] != "Authentication credentials were not provided."
    wrong = APIClient(HTTP_ACCEPT_LANGUAGE="ru").post("/api/v1/auth/login", {"username": "x", "password": "y"},
                                                       format="json")
    assert assert_error(wrong, 401, "not_authenticated")["message"] == "Неверное имя пользователя или пароль."


# --- Activity lines per reader -----------------------------------------------------------------


def test_two_operators_read_the_same_activity_line_each_in_their_language(world):
    colleague = UserFactory(username="ivan")
    InboxMemberFactory(inbox=world.inbox_a, user=colleague)
    set_locale(world.agent_a, "en")
    set_locale(colleague, "ru")
    conversation_set_status(conversation_id=world.conv_a.pk, status="resolved", actor_user=world.agent_a)
    stored = Message.objects.get(conversation=world.conv_a, direction=MessageDirection.ACTIVITY)
    assert stored.content == "Conversation was resolved by Ann"  # the server's language, for old clients
    assert stored.content_attributes["activity"] == {
        "kind": "resolved", "actor": {"type": "user", "id": world.agent_a.pk, "name": "Ann"}, "assignee": None}

    def line(user) -> dict:
        rows = token_client(user).get(f"/api/v1/conversations/{world.conv_a.pk}/messages/").json()["results"]
        return next(r for r in rows if r["direction"] == "activity")

    english, russian = line(world.agent_a), line(colleague)
    assert english["content"] == "Conversation was resolved by Ann"
    assert russian["content"] == "Диалог решён оператором Ann"
    assert english["content_attributes"] == russian["content_attributes"] == stored.content_attributes


def test_the_transcript_speaks_the_readers_language(world, client_a):
    set_locale(world.agent_a, "ru")
    conversation_set_status(conversation_id=world.conv_a.pk, status="pending", actor_user=world.agent_a)
    text = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/transcript?format=txt").content.decode()
    assert text.startswith(f"Диалог №{world.conv_a.display_id} — ")
    assert "[событие] Диалог переведён в ожидание оператором Ann" in text
    json_rows = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/transcript?format=json").json()["messages"]
    assert [r["content"] for r in json_rows if r["direction"] == "activity"] == [
        "Диалог переведён в ожидание оператором Ann"]


def test_free_text_activity_lines_still_read_as_stored(world, client_a):
    from chat.services.conversations import activity_add

    set_locale(world.agent_a, "ru")
    activity_add(conversation=world.conv_a, content="Labels changed: vip")
    rows = client_a.get(f"/api/v1/conversations/{world.conv_a.pk}/messages/").json()["results"]
    assert [r["content"] for r in rows if r["direction"] == "activity"] == ["Labels changed: vip"]


# --- The visitor's language --------------------------------------------------------------------


def test_widget_session_speaks_the_requested_locale(world):
    response = APIClient().post("/api/widget/v1/sessions", {"website_token": "nope", "locale": "ru"}, format="json")
    assert assert_error(response, 404, "not_found")["message"] == "Неизвестный токен сайта."
    response = APIClient(HTTP_ACCEPT_LANGUAGE="ru").post("/api/widget/v1/sessions", {"website_token": "nope"},
                                                          format="json")
    assert assert_error(response, 404, "not_found")["message"] == "Неизвестный токен сайта."
    response = APIClient().post("/api/widget/v1/sessions", {"website_token": "nope"}, format="json")
    assert assert_error(response, 404, "not_found")["message"] == "Unknown website token."


def test_widget_rest_follows_accept_language(world):
    client = widget_client(world.visitor_a)
    client.credentials(HTTP_X_WIDGET_TOKEN=world.visitor_a.pubsub_token, HTTP_ACCEPT_LANGUAGE="ru")
    error = assert_error(client.post("/api/widget/v1/messages", {"content": ""}, format="json"), 400, "invalid_data")
    assert error["message"] == "В сообщении должен быть текст или вложение."


def test_a_service_message_stays_lazy_until_rendered(world):
    """The service raises under no particular language; the edge renders it."""
    from chat.errors import InvalidData

    with pytest.raises(InvalidData) as caught:
        operator_set_locale(user=world.agent_a, locale="xx")
    with translation.override("ru"):
        assert caught.value.as_dict()["message"] == "Неизвестный язык; допустимо одно из: en, ru."
    with translation.override("en"):
        assert caught.value.as_dict()["message"] == "Unknown language; one of en, ru."


@pytest.mark.parametrize(("asked", "boot"), [("ru-RU", "ru"), ("en", "en"), ("xx", None), (None, None)])
def test_widget_frame_passes_the_embeds_locale_on(world, asked, boot):
    """loader.js turns the snippet's data-locale into ?locale=; the frame's boot carries it
    (null: the frame chooses from the visitor's browser)."""
    query = {"website_token": world.inbox_a.website_token, **({"locale": asked} if asked else {})}
    response = Client().get("/widget/frame/", query)
    assert response.status_code == 200
    assert response.context["boot"]["locale"] == boot



def test_language_neutral_files_do_not_vary_by_language_but_pages_do(world):
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    loader = client.get("/widget.js")
    assert "Accept-Language" not in loader.get("Vary", "")
    loader.close()
    static = client.get("/static/frontend/shared/i18n.js")
    assert "Accept-Language" not in static.get("Vary", "")
    static.close()
    page = client.get("/login/")
    assert "Accept-Language" in page["Vary"] and page["Content-Language"] == "ru"
