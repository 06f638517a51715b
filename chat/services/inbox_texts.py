"""The texts an administrator writes for an inbox's visitors, per language (docs/i18n.md,
"Inbox texts per language"): the one owner of which text a visitor reads.

An inbox has a default ``locale`` (the language its base fields are written in; ``""`` = the
server's ``LANGUAGE_CODE``), the base fields ``greeting``, ``out_of_office_message`` and
``csat_question``, and ``translations``::

    {"ru": {"greeting": "...", "out_of_office_message": "...", "csat_question": "..."}}

``inbox_text(inbox, field, language)`` picks, for a visitor reading ``language``: the
translation of exactly that tag, then of its language (``ru-RU`` → ``ru``), then of the inbox's
default locale, then the base field; for the out-of-office answer and the survey question a
built-in text, in the visitor's language, when the administrator wrote none. Every path asks
here: the widget config and session answers, the out-of-office reply
(``chat.services.messages.out_of_office_reply``) and the survey (``chat.services.csat``).

A visitor's language, where no request carries it (a survey sent when an operator resolves),
is ``ContactInbox.locale``: what the widget last told the sessions endpoint.
"""
from __future__ import annotations

from typing import Any

from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from chat.errors import InvalidData
from chat.i18n import default_language, normalize_language, supported_languages
from chat.validation import clean_text

# Field -> the most characters an administrator may write (the base field and each translation).
TEXT_FIELDS: dict[str, int] = {
    "greeting": 10_000,
    "out_of_office_message": 10_000,
    "csat_question": 1_000,
}
# What a visitor reads when the administrator wrote nothing (a greeting may stay empty: no bubble).
BUILT_IN = {
    "out_of_office_message": _("We are away right now. We will answer as soon as we are back."),
    "csat_question": _("Please rate this conversation."),
}


def _bad(field: str, message: Any) -> InvalidData:
    return InvalidData(format_lazy("{}: {}", field, message), fields={field: [message]})


def validate_inbox_locale(value: Any) -> str:
    """``""`` (the server's default) or a supported language (``ru-RU`` is taken as ``ru``)."""
    if value is None or value == "":
        return ""
    language = normalize_language(value)
    if language is None:
        raise _bad("locale", format_lazy(_("Unknown language {value}; one of {languages}."),
                                         value=repr(str(value)[:35]), languages=", ".join(supported_languages())))
    return language


def validate_text(field: str, value: Any) -> str:
    """A base text field: a string without control characters, at most its bound."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(field, _("Must be a string."))
    text: str = clean_text(value, field=field)
    if len(text) > TEXT_FIELDS[field]:
        raise _bad(field, format_lazy(_("At most {max_length} characters."), max_length=TEXT_FIELDS[field]))
    return text


def validate_translations(value: Any) -> dict[str, dict[str, str]]:
    """``{language: {field: text}}`` normalized: languages of ``settings.LANGUAGES``, fields of
    ``TEXT_FIELDS``, strings within their bounds; blank texts and empty languages are dropped.
    Anything else is InvalidData (400) on ``translations`` naming what is wrong."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad("translations", _("An object of languages, each an object of texts."))
    languages = supported_languages()
    cleaned: dict[str, dict[str, str]] = {}
    for language, texts in value.items():
        if language not in languages:
            raise _bad("translations", format_lazy(_("Unknown language {value}; one of {languages}."),
                                                   value=repr(str(language)[:35]), languages=", ".join(languages)))
        if not isinstance(texts, dict):
            raise _bad("translations", format_lazy(_("{language}: an object of texts."), language=language))
        entry: dict[str, str] = {}
        for field, text in texts.items():
            if field not in TEXT_FIELDS:
                raise _bad("translations", format_lazy(_("{language}: unknown field {field}; one of {fields}."),
                                                       language=language, field=repr(str(field)[:64]),
                                                       fields=", ".join(TEXT_FIELDS)))
            if not isinstance(text, str):
                raise _bad("translations", format_lazy(_("{language}.{field}: must be a string."),
                                                       language=language, field=field))
            clean_text(text, field="translations")
            if len(text) > TEXT_FIELDS[field]:
                raise _bad("translations", format_lazy(_("{language}.{field}: at most {max_length} characters."),
                                                       language=language, field=field, max_length=TEXT_FIELDS[field]))
            if text.strip():
                entry[field] = text
        if entry:
            cleaned[language] = entry
    return cleaned


def _candidates(language: str | None, inbox_locale: str) -> list[str]:
    found: list[str] = []
    if isinstance(language, str) and language:
        exact = language.strip().lower().replace("_", "-")
        base = normalize_language(exact)
        found += [exact, base] if base else [exact]
    if inbox_locale:
        found.append(inbox_locale)
    return list(dict.fromkeys(found))


def visitor_language(inbox: Any, language: str | None) -> str:
    """The language a visitor reads the built-in texts in: theirs if supported, else the
    inbox's default, else the server's."""
    return normalize_language(language) or normalize_language(inbox.locale) or default_language()


def inbox_text(inbox: Any, field: str, language: str | None, *, built_in: bool = True) -> str:
    """The text of ``field`` for a visitor reading ``language`` (None or "" when unknown):
    exact translation → its language's → the inbox default locale's → the base field → the
    built-in text (out-of-office, survey) in the visitor's language (``built_in=False``: none,
    for a widget that shows its greeting when the administrator wrote no away text) → ``""``."""
    if field not in TEXT_FIELDS:
        raise ValueError(f"not an inbox text: {field}")
    translations = inbox.translations if isinstance(inbox.translations, dict) else {}
    for code in _candidates(language, inbox.locale or ""):
        entry = translations.get(code)
        text = entry.get(field) if isinstance(entry, dict) else None
        if isinstance(text, str) and text.strip():
            return text.strip()
    base = str(getattr(inbox, field) or "").strip()
    if base:
        return base
    if built_in and field in BUILT_IN:
        with translation.override(visitor_language(inbox, language)):
            return str(BUILT_IN[field])
    return ""


def inbox_texts(inbox: Any, language: str | None, *, built_in: bool = True) -> dict[str, str]:
    """Every visitor text of the inbox for ``language`` (the widget's config)."""
    return {field: inbox_text(inbox, field, language, built_in=built_in) for field in TEXT_FIELDS}
