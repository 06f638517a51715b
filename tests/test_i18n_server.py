"""Server strings are translatable and translated (docs/i18n.md): every message of an
application error is marked for translation, every msgid of the sources is in each language's
``.po`` with a translation (no fuzzy, same placeholders), the catalogues compile from a clean
tree without GNU gettext, and the language rules of ``chat.i18n`` and ``chat.activity``."""
from __future__ import annotations

import gettext
import io
import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import translation
from django.utils.functional import Promise

from chat import errors
from chat.activity import ActivityKind, activity_data, localized_message, render_activity
from chat.i18n import language_for_operator, language_for_visitor, language_from_accept, normalize_language
from chat.i18n_lint import python_findings
from chat.locales import compile_catalogues, extract_template, po_files, read_catalogue

PLACEHOLDER = re.compile(r"\{(\w*)\}")


def translated_languages() -> list[str]:
    return [code for code, _name in settings.LANGUAGES if code != "en"]


def test_every_translated_language_has_a_catalogue():
    assert sorted(p.parent.parent.name for p in po_files()) == sorted(translated_languages())


def test_no_error_message_in_the_sources_is_left_unmarked():
    assert python_findings() == []


def test_the_checker_flags_plain_and_formatted_messages(tmp_path):
    source = tmp_path / "bad.py"
    source.write_text(
        'raise InvalidData("plain")\n'
        'raise NotFound(f"{x} missing")\n'
        'raise Conflict(_("ok"), fields={"a": ["Not marked."]})\n'
        'raise Conflict(_("ok"), fields={"a": [_("Marked.")]})\n'
        'raise InvalidData("developer only")  # i18n-ignore\n'
        'class P:\n    message = "Administrators only."\n'
    )
    findings = python_findings([source])
    assert [f.split(":")[1] for f in findings] == ["1", "2", "3", "7"]


def test_every_msgid_of_the_sources_is_in_every_catalogue():
    wanted = {(m.context, m.id if isinstance(m.id, str) else tuple(m.id)) for m in extract_template() if m.id}
    for po in po_files():
        have = {(m.context, m.id if isinstance(m.id, str) else tuple(m.id)) for m in read_catalogue(po) if m.id}
        assert sorted(map(str, wanted - have)) == [], f"{po}: run manage.py extract_messages and translate"


def test_the_templates_translate_tags_are_extracted_too():
    """The login page's words ({% translate %}) are msgids like the Python ones, so
    extract_messages keeps them and the test above requires them in every catalogue."""
    found = {m.id: [path for path, _line in m.locations] for m in extract_template() if m.id}
    assert "frontend/templates/frontend/login.html" in found["Sign in to the operator panel"]
    assert "frontend/templates/frontend/base.html" in found["Messenger"]


def test_every_entry_is_translated_not_fuzzy_with_the_same_placeholders():
    problems = []
    for po in po_files():
        for message in read_catalogue(po):
            if not message.id:
                continue
            ids = [message.id] if isinstance(message.id, str) else list(message.id)
            strings = [message.string] if isinstance(message.string, str) else list(message.string)
            if message.fuzzy:
                problems.append(f"{po.parent.parent.name}: fuzzy {ids[0]!r}")
            if not all(s and s.strip() for s in strings):
                problems.append(f"{po.parent.parent.name}: untranslated {ids[0]!r}")
            expected = set(PLACEHOLDER.findall(ids[-1]))
            for string in strings:
                if string and set(PLACEHOLDER.findall(string)) != expected:
                    problems.append(f"{po.parent.parent.name}: placeholders of {ids[0]!r}")
    assert problems == []


def error_classes() -> list[type[errors.AppError]]:
    found, todo = [], [errors.AppError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_default_message_is_lazy_and_translated(cls):
    assert isinstance(cls.default_message, Promise)
    english = str(cls.default_message)
    for language in translated_languages():
        with translation.override(language):
            assert str(cls.default_message) != english, (language, english)
            assert cls().as_dict()["message"] == str(cls.default_message)


def test_a_message_renders_in_the_language_active_where_it_leaves_the_server():
    error = errors.FloodLimited()  # raised under one language...
    with translation.override("ru"):
        russian = error.as_dict()  # ...rendered under the reader's
    with translation.override("en"):
        english = error.as_dict()
    assert english == {"code": "flood_limited", "message": "Too many messages; wait a moment."}
    assert russian == {"code": "flood_limited", "message": "Слишком много сообщений; подождите немного."}


def test_field_messages_are_rendered_too():
    from chat.validation import clean_text

    with pytest.raises(errors.InvalidData) as caught:
        clean_text("a\x00b", field="name")
    with translation.override("ru"):
        body = caught.value.as_dict()
    assert body["message"] == "name: управляющие символы не допускаются."
    assert body["fields"] == {"name": ["Управляющие символы не допускаются."]}


def test_compile_command_works_from_a_clean_tree(tmp_path):
    """No .mo is committed: a fresh clone compiles them, in Python (no msgfmt)."""
    root = tmp_path / "locale"
    shutil.copytree(Path(settings.LOCALE_PATHS[0]), root, ignore=shutil.ignore_patterns("*.mo"))
    assert not list(root.rglob("*.mo"))
    written = compile_catalogues(root)
    assert sorted(p.parent.parent.name for p in written) == sorted(translated_languages())
    with (root / "ru/LC_MESSAGES/django.mo").open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    assert compiled.gettext("Not found.") == "Не найдено."
    assert compiled.ngettext("{count} minute", "{count} minutes", 5) == "{count} минут"
    assert compile_catalogues(root) == []  # up to date: nothing rewritten
    out = io.StringIO()
    call_command("compile_locales", stdout=out)
    assert out.getvalue().startswith("compiled ")


def test_mo_files_are_not_committed():
    ignored = (Path(settings.BASE_DIR) / ".gitignore").read_text().splitlines()
    assert "*.mo" in ignored


# --- Which language ---------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("ru", "ru"), ("ru-RU", "ru"), ("RU_ru", "ru"), ("en-GB", "en"), ("de", None), ("", None), (None, None),
    (7, None), ("x" * 100, None),
])
def test_normalize_language(value, expected):
    assert normalize_language(value) == expected


def test_accept_language_picks_the_first_supported_by_quality():
    assert language_from_accept("de-DE,de;q=0.9,ru;q=0.8,en;q=0.7") == "ru"
    assert language_from_accept("en;q=0.5, ru") == "ru"
    assert language_from_accept("fr, de") is None
    assert language_from_accept(None) is None


def test_operator_profile_wins_over_the_browser_and_the_browser_over_the_default():
    assert language_for_operator(locale="ru", accept_language="en") == "ru"
    assert language_for_operator(locale="", accept_language="ru-RU,en") == "ru"
    assert language_for_operator(locale="", accept_language="fr") == "en"
    assert language_for_visitor(requested="ru", accept_language="en") == "ru"
    assert language_for_visitor(requested="xx", accept_language="ru") == "ru"
    assert language_for_visitor() == "en"


# --- Activity lines ---------------------------------------------------------------------------

BOB = {"type": "user", "id": 1, "name": "Bob"}
ANN = {"id": 2, "name": "Ann"}


@pytest.mark.parametrize(("data", "english", "russian"), [
    (activity_data(ActivityKind.ASSIGNED, actor=BOB, assignee=ANN),
     "Assigned to Ann by Bob", "Диалог назначен на Ann оператором Bob"),
    (activity_data(ActivityKind.RESOLVED, actor=BOB), "Conversation was resolved by Bob", "Диалог решён оператором Bob"),
    (activity_data(ActivityKind.REOPENED, actor={"type": "contact", "id": 5, "name": ""}),
     "Conversation was reopened by the contact", "Диалог снова открыт клиентом"),
    (activity_data(ActivityKind.PRIORITY_CHANGED, actor=BOB, priority="urgent"),
     "Priority set to urgent by Bob", "Установлен приоритет «срочный» оператором Bob"),
    (activity_data(ActivityKind.RELEASED_OFFLINE, assignee=ANN, minutes=1),
     "Conversation unassigned: Ann has been offline for more than 1 minute",
     "Диалог снят с исполнителя: Ann не в сети больше 1 минуты"),
    (activity_data(ActivityKind.RELEASED_OFFLINE, assignee=ANN, minutes=5),
     "Conversation unassigned: Ann has been offline for more than 5 minutes",
     "Диалог снят с исполнителя: Ann не в сети больше 5 минут"),
    (activity_data(ActivityKind.ESCALATED_NO_SUPERVISOR),
     "Conversation was escalated; no supervisor is available", "Диалог эскалирован; свободных супервайзеров нет"),
    (activity_data(ActivityKind.ACCEPTED_OFFER, actor={"type": "user", **ANN}, assignee=ANN),
     "Assigned to Ann (accepted the offer)", "Диалог назначен на Ann (предложение принято)"),
    (activity_data(ActivityKind.LABELS_CHANGED, actor=BOB, added=["vip", "refund"], removed=["spam"]),
     "Labels: +vip +refund \u2212spam by Bob", "Метки изменены оператором Bob: +vip +refund \u2212spam"),
])
def test_activity_renders_in_each_language(data, english, russian):
    assert render_activity(data, "en") == english
    assert render_activity(data, "ru") == russian


def test_every_activity_kind_renders_in_every_language_without_leftover_placeholders():
    for kind in ActivityKind:
        for actor in (None, BOB):
            data = activity_data(kind, actor=actor, assignee=ANN, priority="high", minutes=3,
                                 until="2026-12-03T17:00:00Z")
            for language, _name in settings.LANGUAGES:
                text = render_activity(data, language)
                assert text and "{" not in text, (kind, language, text)


def test_unknown_activity_data_falls_back_to_the_stored_text():
    assert render_activity({"kind": "labels_added", "labels": ["vip"]}, "ru", fallback="Labels: vip") == "Labels: vip"
    assert render_activity(None, "ru", fallback="text") == "text"
    payload = {"direction": "activity", "content": "free text", "content_attributes": {}}
    assert localized_message(payload, "ru") is payload
