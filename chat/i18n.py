"""Which language a caller reads: the one owner of that decision (docs/i18n.md).

* An operator reads their profile's ``locale`` (``en`` or ``ru``); while it is empty, the
  language their browser asks for (``Accept-Language``), else the server's default
  (``settings.LANGUAGE_CODE``). The first login fills an empty ``locale`` from the browser
  (``chat.services.agents.operator_locale_on_login``).
* A visitor reads the ``locale`` their widget sends (embed snippet ``data-locale``, the SDK's
  ``$messenger.setLocale``, else ``navigator.languages``: in the socket's ``auth`` frame and the
  session request), else their browser's ``Accept-Language``, else the server's default.

Every transport asks here and never decides by itself: REST (``chat.api.security``'s
authentication classes activate the operator's language before the view runs; Django's
``LocaleMiddleware`` has already activated ``Accept-Language`` for everyone else), the sockets
(``StreamConsumer.language``, rendered with ``translation.override``) and the pages (panel,
widget frame). Messages are translated lazily (``gettext_lazy``) and rendered at the edge in
the language chosen here.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header

# What the product speaks; a new language is added to settings.LANGUAGES (README "How to add a
# language").


def supported_languages() -> tuple[str, ...]:
    return tuple(code for code, _name in settings.LANGUAGES)


def default_language() -> str:
    """The server's language: stored activity lines and anything with no reader are in it."""
    return normalize_language(settings.LANGUAGE_CODE) or supported_languages()[0]


def normalize_language(value: Any) -> str | None:
    """``"ru"``, ``"ru-RU"``, ``"RU_ru"`` → ``"ru"``; anything not supported (or not a short
    string) → None."""
    if not isinstance(value, str) or not value or len(value) > 35:
        return None
    code = value.strip().lower().replace("_", "-")
    supported = supported_languages()
    if code in supported:
        return code
    base = code.split("-", 1)[0]
    return base if base in supported else None


def language_from_accept(header: str | None) -> str | None:
    """The first supported language of an ``Accept-Language`` header (by its q order)."""
    if not header or len(header) > 1000:
        return None
    for code, _q in parse_accept_lang_header(header):
        if code == "*":
            continue
        language = normalize_language(code)
        if language is not None:
            return language
    return None


def language_for_operator(*, locale: str | None, accept_language: str | None = None) -> str:
    """An operator's language: their profile's locale, else their browser's, else the default."""
    return normalize_language(locale) or language_from_accept(accept_language) or default_language()


def visitor_language_asked(*, requested: Any = None, accept_language: str | None = None) -> str | None:
    """What a visitor's widget asked for, else their browser's; None when neither names a
    supported language (then an inbox's texts fall back to its own default: chat.services.inbox_texts)."""
    return normalize_language(requested) or language_from_accept(accept_language)


def language_for_visitor(*, requested: Any = None, accept_language: str | None = None) -> str:
    """A visitor's language: what their widget asked for, else their browser's, else the default."""
    return visitor_language_asked(requested=requested, accept_language=accept_language) or default_language()


def activate_for_operator(user: Any, *, accept_language: str | None = None) -> str:
    """Activate the operator's language for the rest of this request (REST), and return it."""
    from chat.selectors.scope import operator_profile

    language = language_for_operator(locale=operator_profile(user).locale, accept_language=accept_language)
    translation.activate(language)
    return language


def activate_for_visitor(*, requested: Any = None, accept_language: str | None = None) -> str:
    """Activate the visitor's language for the rest of this request (widget REST), and return it."""
    language = language_for_visitor(requested=requested, accept_language=accept_language)
    translation.activate(language)
    return language


def language_cookie(response: Any, language: str) -> Any:
    """Remember the operator's language in the browser (Django's language cookie), so that
    pages outside the API (the Django admin, the login page) speak it too."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME, language, max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE, httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )
    return response


def active_language() -> str:
    """The language active now (a request's, a socket's override), in its supported form."""
    return normalize_language(translation.get_language()) or default_language()
