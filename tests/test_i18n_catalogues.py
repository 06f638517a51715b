"""The browser catalogues (frontend/static/frontend/i18n/<lang>.js) are complete and consistent:
every language has every key, no text is empty, placeholders agree, plural entries have the
forms their language needs, every activity kind has its texts, and the browser's list of
activity kinds equals the server's (docs/i18n.md)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings

from chat.activity import ActivityKind

STATIC = Path(__file__).resolve().parents[1] / "frontend/static/frontend"
CATALOGUE_DIR = STATIC / "i18n"
ACTIVITY_JS = STATIC / "shared/activity.js"
# Intl.PluralRules categories each language uses for integers (plus "other" for the rest).
PLURAL_FORMS = {"en": {"one", "other"}, "ru": {"one", "few", "many", "other"}}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def load_catalogue(language: str) -> dict[str, object]:
    """The JSON object after ``export default`` (the catalogue format: see the file's header)."""
    text = (CATALOGUE_DIR / f"{language}.js").read_text()
    match = re.search(r"^export default (\{.*\});\s*$", text, flags=re.S | re.M)
    assert match, f"{language}.js is not `export default {{...}};`"
    return json.loads(match.group(1))


def languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES]


def texts(value: object) -> list[str]:
    return list(value.values()) if isinstance(value, dict) else [value]  # type: ignore[list-item]


def test_there_is_one_catalogue_per_language_and_no_other():
    assert sorted(p.stem for p in CATALOGUE_DIR.glob("*.js")) == sorted(languages())


def test_every_catalogue_has_the_same_keys():
    catalogues = {language: load_catalogue(language) for language in languages()}
    every_key = set().union(*(set(c) for c in catalogues.values()))
    missing = {language: sorted(every_key - set(c)) for language, c in catalogues.items()}
    assert missing == {language: [] for language in catalogues}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_no_text_is_empty_and_plurals_have_their_forms(language):
    problems = []
    for key, value in load_catalogue(language).items():
        if isinstance(value, dict):
            if set(value) != PLURAL_FORMS[language]:
                problems.append(f"{key}: plural forms {sorted(value)}, expected {sorted(PLURAL_FORMS[language])}")
        elif not isinstance(value, str):
            problems.append(f"{key}: not a string")
        if any(not isinstance(text, str) or not text.strip() for text in texts(value)):
            problems.append(f"{key}: empty")
    assert problems == []


def test_placeholders_agree_between_languages():
    english = load_catalogue("en")
    problems = []
    for language in languages():
        for key, value in load_catalogue(language).items():
            expected = {name for text in texts(english[key]) for name in PLACEHOLDER.findall(text)}
            for text in texts(value):
                found = set(PLACEHOLDER.findall(text))
                # A plural form may leave out {count} ("one" written as a word), never add one.
                if not found <= expected or (found != expected and not isinstance(value, dict)):
                    problems.append(f"{language}:{key}: {sorted(found)} != {sorted(expected)}")
    assert problems == []


def test_keys_are_stable_dotted_names():
    bad = [key for key in load_catalogue("en") if not re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", key)]
    assert bad == []


def test_every_activity_kind_has_its_texts_in_every_catalogue():
    needed = {f"activity.{kind}" for kind in ActivityKind} | {f"activity.{kind}_by" for kind in ActivityKind}
    for language in languages():
        assert needed - set(load_catalogue(language)) == set(), language


def test_activity_js_mirrors_the_server_kinds():
    body = re.search(r"export const ACTIVITY_KIND = Object\.freeze\(\{(.*?)\}\);", ACTIVITY_JS.read_text(), re.S)
    assert body
    entries = dict(re.findall(r'^\s*(\w+):\s*"([^"]*)",\s*$', body.group(1), flags=re.M))
    assert entries == {kind.name: kind.value for kind in ActivityKind}


def test_catalogue_texts_of_activity_lines_equal_the_servers_english():
    """English texts are the server's msgids with the same placeholders, so a line reads the
    same whichever side renders it (the browser test checks Russian the same way)."""
    from django.utils import translation

    from chat.activity import _TEXTS

    english = load_catalogue("en")
    with translation.override("en"):  # whatever language an earlier test left active
        for kind, (plain, with_actor) in _TEXTS.items():
            assert english[f"activity.{kind}"] == str(plain)
            assert english[f"activity.{kind}_by"] == str(with_actor)
