"""Inbox texts per language (chat/services/inbox_texts.py, docs/i18n.md): which text a visitor
reads (their translation → its language → the inbox's default locale → the base field → the
built-in text in their language), the validation of what an administrator writes, and that the
out-of-office answer and the survey question reach each visitor in their own language."""
from __future__ import annotations

import pytest
from django.utils import translation

from chat.errors import InvalidData
from chat.models import ContactInbox, Conversation, Message
from chat.services.conversations import conversation_set_status
from chat.services.inbox_texts import inbox_text, validate_inbox_locale, validate_translations
from chat.services.inboxes import inbox_update
from chat.services.messages import visitor_message_send
from chat.services.widget import widget_session_start
from tests.factories import ContactInboxFactory, InboxFactory

pytestmark = pytest.mark.django_db

ALWAYS_CLOSED = {"sun": [["00:00", "00:01"]]}
RU = {"greeting": "Здравствуйте!", "out_of_office_message": "Мы закрыты.", "csat_question": "Как мы справились?"}


def _inbox(**values):
    inbox = InboxFactory(greeting="Hello!", out_of_office_message="We are closed.", csat_question="How did we do?",
                         enable_auto_assignment=False)
    return inbox_update(inbox=inbox, **values)


def test_the_visitor_language_then_the_inbox_default_then_the_base_field():
    inbox = _inbox(translations={"ru": RU})
    assert inbox_text(inbox, "greeting", "ru") == "Здравствуйте!"
    assert inbox_text(inbox, "greeting", "ru-RU") == "Здравствуйте!"  # exact tag, then its language
    assert inbox_text(inbox, "greeting", "en") == "Hello!"
    assert inbox_text(inbox, "greeting", "de") == "Hello!"  # unsupported: the inbox's default, the base
    assert inbox_text(inbox, "greeting", None) == "Hello!"
    # An inbox written in Russian by default: a visitor with no translation of theirs reads Russian.
    inbox = _inbox(locale="ru", greeting="Добрый день", translations={"en": {"greeting": "Good afternoon"}})
    assert inbox_text(inbox, "greeting", "en") == "Good afternoon"
    assert inbox_text(inbox, "greeting", "de") == "Добрый день"
    assert inbox_text(inbox, "greeting", None) == "Добрый день"


def test_the_default_locale_translation_wins_over_the_base_field_and_a_missing_field_falls_through():
    inbox = _inbox(locale="ru", translations={"ru": {"greeting": "Привет"}, "en": {"csat_question": "Rate us"}})
    assert inbox_text(inbox, "greeting", "de") == "Привет"
    assert inbox_text(inbox, "greeting", "en") == "Привет"  # en has no greeting: the default locale's
    assert inbox_text(inbox, "csat_question", "en") == "Rate us"
    assert inbox_text(inbox, "out_of_office_message", "en") == "We are closed."


def test_empty_texts_get_the_built_in_ones_in_the_visitor_language():
    inbox = _inbox(out_of_office_message="", csat_question="", greeting="")
    assert inbox_text(inbox, "csat_question", "ru") == "Пожалуйста, оцените этот диалог."
    assert inbox_text(inbox, "csat_question", "en") == "Please rate this conversation."
    assert inbox_text(inbox, "out_of_office_message", "ru").startswith("Сейчас нас нет")
    assert inbox_text(inbox, "out_of_office_message", "ru", built_in=False) == ""
    assert inbox_text(inbox, "greeting", "ru") == ""  # no built-in greeting: no bubble
    russian_inbox = _inbox(locale="ru", csat_question="")
    assert inbox_text(russian_inbox, "csat_question", None) == "Пожалуйста, оцените этот диалог."


def test_translations_are_normalized():
    cleaned = validate_translations({"ru": {"greeting": "Привет", "csat_question": "   "}, "en": {"greeting": ""}})
    assert cleaned == {"ru": {"greeting": "Привет"}}  # blank texts and empty languages dropped
    assert validate_translations(None) == {}
    assert validate_inbox_locale("ru-RU") == "ru" and validate_inbox_locale("") == "" and validate_inbox_locale(None) == ""


@pytest.mark.parametrize("value, why", [
    ([], "An object of languages"),
    ({"de": {"greeting": "Hallo"}}, "Unknown language 'de'"),
    ({"ru-RU": {"greeting": "Привет"}}, "Unknown language 'ru-RU'"),
    ({"ru": "Привет"}, "ru: an object of texts"),
    ({"ru": {"farewell": "Пока"}}, "ru: unknown field 'farewell'"),
    ({"ru": {"greeting": 5}}, "ru.greeting: must be a string"),
    ({"ru": {"greeting": "x" * 10_001}}, "ru.greeting: at most 10000 characters"),
    ({"ru": {"csat_question": "x" * 1_001}}, "ru.csat_question: at most 1000 characters"),
    ({"ru": {"greeting": "nul\x00"}}, "control characters"),
])
def test_bad_translations_are_refused_with_what_is_wrong(value, why):
    with pytest.raises(InvalidData) as refused:
        validate_translations(value)
    with translation.override("en"):
        assert why in str(refused.value.message)
    assert "translations" in refused.value.fields


def test_a_bad_locale_is_refused():
    with pytest.raises(InvalidData) as refused:
        validate_inbox_locale("klingon")
    assert set(refused.value.fields) == {"locale"}


def test_the_session_remembers_the_visitor_language_and_only_writes_a_change():
    inbox = _inbox()
    session = widget_session_start(website_token=inbox.website_token, locale="ru-RU")
    assert session.contact_inbox.locale == "ru"
    source_id = session.contact_inbox.source_id
    again = widget_session_start(website_token=inbox.website_token, source_id=source_id, locale=None)
    assert again.contact_inbox.locale == "ru"  # no language given: the last one stays
    again = widget_session_start(website_token=inbox.website_token, source_id=source_id, locale="en")
    assert ContactInbox.objects.get(pk=again.contact_inbox.pk).locale == "en"


@pytest.mark.parametrize("language, expected", [("ru", "Мы закрыты."), ("en", "We are closed."), ("", "We are closed.")])
def test_the_out_of_office_answer_is_in_the_visitor_language(language, expected):
    inbox = _inbox(working_hours=ALWAYS_CLOSED, translations={"ru": RU})
    visitor = ContactInboxFactory(inbox=inbox, locale=language)
    message = visitor_message_send(contact_inbox_id=visitor.pk, content="Anyone?").message
    (answer,) = Message.objects.filter(conversation_id=message.conversation_id, content_attributes__out_of_office=True)
    assert answer.content == expected


@pytest.mark.parametrize("language, expected", [("ru", "Как мы справились?"), ("en", "How did we do?")])
def test_the_survey_question_is_in_the_visitor_language_whoever_resolves(language, expected):
    inbox = _inbox(csat_survey_enabled=True, translations={"ru": RU})
    visitor = ContactInboxFactory(inbox=inbox, locale=language)
    message = visitor_message_send(contact_inbox_id=visitor.pk, content="Help").message
    conversation = Conversation.objects.get(pk=message.conversation_id)
    conversation_set_status(conversation_id=conversation.pk, status="resolved")
    (survey,) = Message.objects.filter(conversation=conversation, content_type="input_csat")
    assert survey.content == expected


def test_the_built_in_survey_question_follows_the_visitor_too():
    inbox = _inbox(csat_survey_enabled=True, csat_question="")
    russian = ContactInboxFactory(inbox=inbox, locale="ru")
    message = visitor_message_send(contact_inbox_id=russian.pk, content="Помогите").message
    conversation_set_status(conversation_id=message.conversation_id, status="resolved")
    (survey,) = Message.objects.filter(conversation_id=message.conversation_id, content_type="input_csat")
    assert survey.content == "Пожалуйста, оцените этот диалог."
