"""Inbox texts per language over HTTP (docs/i18n.md, docs/api.md): the admin REST fields
(``locale``, ``csat_question``, ``translations``) and their 400s, the Django admin form, and the
widget's config and session answers in the visitor's language (``?locale=``, the session's
``locale``, else Accept-Language, else the inbox's default)."""
from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from chat.admin import InboxForm
from chat.models import ContactInbox, Inbox
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

ALWAYS_CLOSED = {"sun": [["00:00", "00:01"]]}
RU = {"greeting": "Здравствуйте!", "out_of_office_message": "Мы закрыты.", "csat_question": "Как мы справились?"}


def _translated(world, admin_client, **extra):
    response = admin_client.patch(f"/api/v1/inboxes/{world.inbox_a.pk}/", {
        "greeting": "Hello!", "out_of_office_message": "We are closed.", "csat_question": "How did we do?",
        "translations": {"ru": RU}, **extra,
    }, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_admin_writes_and_reads_the_texts_per_language(world, admin_client):
    body = _translated(world, admin_client, locale="en-GB")
    assert body["translations"] == {"ru": RU} and body["locale"] == "en" and body["csat_question"] == "How did we do?"
    assert admin_client.get(f"/api/v1/inboxes/{world.inbox_a.pk}/").json()["translations"] == {"ru": RU}
    created = admin_client.post("/api/v1/inboxes/", {"name": "Магазин", "locale": "ru",
                                                     "translations": {"en": {"greeting": "Hi"}}}, format="json")
    assert created.status_code == 201, created.content
    assert (created.json()["locale"], created.json()["translations"]) == ("ru", {"en": {"greeting": "Hi"}})
    # Blank texts go; a language left without any goes with them.
    cleared = admin_client.patch(f"/api/v1/inboxes/{world.inbox_a.pk}/",
                                 {"translations": {"ru": {"greeting": ""}}}, format="json")
    assert cleared.json()["translations"] == {}


@pytest.mark.parametrize("body, field", [
    ({"translations": {"de": {"greeting": "Hallo"}}}, "translations"),
    ({"translations": {"ru": {"farewell": "Пока"}}}, "translations"),
    ({"translations": {"ru": {"greeting": "x" * 10_001}}}, "translations"),
    ({"translations": {"ru": ["Привет"]}}, "translations"),
    ({"translations": "ru"}, "translations"),
    ({"locale": "xx"}, "locale"),
    ({"csat_question": "x" * 1_001}, "csat_question"),
])
def test_bad_texts_are_400_naming_the_field_and_change_nothing(world, admin_client, body, field):
    error = assert_error(admin_client.patch(f"/api/v1/inboxes/{world.inbox_a.pk}/", body, format="json"),
                         400, "invalid_data")
    assert field in error["fields"], error
    inbox = Inbox.objects.get(pk=world.inbox_a.pk)
    assert (inbox.translations, inbox.locale, inbox.csat_question) == ({}, "", "")


def test_a_refusal_speaks_the_administrators_language(world, admin_client):
    error = assert_error(admin_client.patch(f"/api/v1/inboxes/{world.inbox_a.pk}/",
                                            {"translations": {"de": {"greeting": "Hallo"}}}, format="json",
                                            HTTP_ACCEPT_LANGUAGE="ru"), 400, "invalid_data")
    assert "Неизвестный язык 'de'" in error["message"]


def test_the_django_admin_form_checks_the_texts_with_the_service_rules(world):
    inbox = world.inbox_a
    data = {"name": inbox.name, "channel_type": inbox.channel_type, "timezone": "UTC", "assignment_mode": "auto",
            "ring_timeout_seconds": 30, "website_token": inbox.website_token, "hmac_secret": inbox.hmac_secret,
            "allowed_origins": "[]", "working_hours": "null", "locale": "ru", "csat_question": "",
            "translations": '{"de": {"greeting": "Hallo"}}'}
    form = InboxForm(data=data, instance=inbox)
    assert not form.is_valid() and "translations" in form.errors
    form = InboxForm(data={**data, "translations": '{"en": {"greeting": "Hi", "csat_question": " "}}'}, instance=inbox)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["translations"] == {"en": {"greeting": "Hi"}} and form.cleaned_data["locale"] == "ru"


def test_the_django_admin_change_page_shows_the_fields(world, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    from tests.factories import UserFactory

    client = Client()
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    page = client.get(f"/admin/chat/inbox/{world.inbox_a.pk}/change/")
    assert page.status_code == 200
    assert b'name="translations"' in page.content and b'name="locale"' in page.content


def test_widget_config_is_in_the_visitor_language(world, admin_client):
    _translated(world, admin_client, working_hours=ALWAYS_CLOSED)
    token = world.inbox_a.website_token
    russian = APIClient().get(f"/widget/config/?website_token={token}&locale=ru").json()
    assert (russian["greeting"], russian["out_of_office_message"], russian["csat_question"]) == (
        "Здравствуйте!", "Мы закрыты.", "Как мы справились?")
    assert russian["locale"] == ""
    by_header = APIClient().get(f"/widget/config/?website_token={token}", HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9").json()
    assert by_header["greeting"] == "Здравствуйте!"
    english = APIClient().get(f"/widget/config/?website_token={token}&locale=en",
                              HTTP_ACCEPT_LANGUAGE="ru-RU").json()  # the widget's choice wins over the header
    assert (english["greeting"], english["out_of_office_message"]) == ("Hello!", "We are closed.")


def test_widget_config_falls_back_to_the_inbox_default_language(world, admin_client):
    response = admin_client.patch(f"/api/v1/inboxes/{world.inbox_a.pk}/", {
        "locale": "ru", "greeting": "Добрый день", "translations": {"en": {"greeting": "Good afternoon"}}},
        format="json")
    assert response.status_code == 200, response.content
    token = world.inbox_a.website_token
    assert APIClient().get(f"/widget/config/?website_token={token}&locale=de").json()["greeting"] == "Добрый день"
    assert APIClient().get(f"/widget/config/?website_token={token}&locale=en").json()["greeting"] == "Good afternoon"
    assert APIClient().get(f"/widget/config/?website_token={token}").json()["locale"] == "ru"


def test_the_session_answers_the_greeting_in_its_locale_and_remembers_it(world, admin_client):
    _translated(world, admin_client)
    token = world.inbox_a.website_token
    answer = APIClient().post("/api/widget/v1/sessions", {"website_token": token, "locale": "ru"}, format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["inbox"]["greeting"] == "Здравствуйте!"
    source_id = answer.json()["contact_inbox"]["source_id"]
    assert ContactInbox.objects.get(inbox=world.inbox_a, source_id=source_id).locale == "ru"
    again = APIClient().post("/api/widget/v1/sessions", {"website_token": token, "source_id": source_id},
                             format="json", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.8")
    assert again.json()["inbox"]["greeting"] == "Hello!"
    assert ContactInbox.objects.get(inbox=world.inbox_a, source_id=source_id).locale == "en"


def test_a_russian_visitor_gets_the_russian_away_answer_an_english_one_the_english(world, admin_client):
    _translated(world, admin_client, working_hours=ALWAYS_CLOSED)
    token = world.inbox_a.website_token
    contents = {}
    for language in ("ru", "en"):
        session = APIClient().post("/api/widget/v1/sessions", {"website_token": token, "locale": language},
                                   format="json").json()
        visitor = APIClient()
        visitor.credentials(HTTP_X_WIDGET_TOKEN=session["contact_inbox"]["pubsub_token"])
        assert visitor.post("/api/widget/v1/messages", {"content": "Hello?"}, format="json").status_code == 201
        history = visitor.get("/api/widget/v1/messages").json()["results"]
        contents[language] = [m["content"] for m in history if m["content_attributes"].get("out_of_office")]
    assert contents == {"ru": ["Мы закрыты."], "en": ["We are closed."]}
