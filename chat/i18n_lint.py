"""Checks that what people read is translatable (docs/i18n.md "Checking for untranslated text").

Three checkers, each a plain function returning ``"path:line: why"`` findings (empty = clean):

* ``python_findings``: an application error (``chat.errors``' classes, DRF's exceptions) raised
  with a message, or ``fields`` messages, written as a plain or f-string literal instead of
  ``_("...")`` (``gettext_lazy``) / ``format_lazy(_("... {name}"), name=...)``;
* ``js_findings``: a string literal in a browser module that reads like English words for
  people (a capital then lower-case letters, or two words and more) rather than a catalogue key,
  a selector, a URL or an identifier;
* ``template_findings``: text between tags, or in ``title``/``placeholder``/``aria-label``/
  ``alt`` attributes, outside ``{% translate %}`` / ``{% blocktranslate %}``, unless the element
  carries ``data-i18n`` (its text comes from the browser catalogue; the English inside is the
  fallback) or ``data-i18n-attr`` naming that attribute.

A line may opt out with a ``i18n-ignore`` comment (developer-only text such as a console
message). ``manage.py check_i18n`` runs all three over the whole project (see docs/i18n.md); the
test suite runs them over the files already converted (tests/test_i18n_lint.py).
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON_DIRS = ("chat", "assignment", "presence", "project", "frontend")
JS_DIR = ROOT / "frontend" / "static" / "frontend"
TEMPLATE_DIR = ROOT / "frontend" / "templates"
# Catalogues hold the words themselves; protocol.js holds wire names; vendor/ is third-party
# code served as published (its strings are not ours to translate).
JS_EXEMPT = ("i18n/", "shared/protocol.js", "widget/loader.js", "vendor/")

ERROR_CLASSES = frozenset({
    "AppError", "InvalidFrame", "UnknownCommand", "InvalidData", "NotFound", "PermissionDenied",
    "NotAuthenticated", "FloodLimited", "RateLimited", "ContentTooLong", "TooManyAttachments",
    "InvalidAttachment", "ContactBlocked", "ResyncRequired", "Conflict", "Unavailable",
    # DRF's, raised by our own code
    "AuthenticationFailed", "ValidationError", "ParseError", "Throttled",
})
MARKERS = frozenset({"_", "gettext_lazy", "pgettext_lazy", "ngettext_lazy", "npgettext_lazy", "format_lazy",
                     "gettext", "pgettext", "ngettext"})
IGNORE = "i18n-ignore"


def _call_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            return func.attr
    return None


def _unmarked(node: ast.AST) -> bool:
    """A literal for people: a string constant (not empty), an f-string, ``"..." % x`` or
    ``"...".format(...)``."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(node.value.strip())
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mod, ast.Add)):
        return _unmarked(node.left) or _unmarked(node.right)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return _unmarked(node.func.value)
    return False


def _field_messages(node: ast.AST) -> Iterable[ast.expr]:
    """The messages of a ``fields={name: [message, ...]}`` argument."""
    if isinstance(node, ast.Dict):
        for value in node.values:
            if isinstance(value, (ast.List, ast.Tuple)):
                yield from value.elts


def python_findings(paths: Iterable[Path] | None = None) -> list[str]:
    if paths is None:
        paths = sorted(p for d in PYTHON_DIRS for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts)
    findings = []
    for path in paths:
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if _call_name(node) not in ERROR_CLASSES:
                continue
            assert isinstance(node, ast.Call)
            messages: list[ast.expr] = [*node.args[:1], *(k.value for k in node.keywords if k.arg in ("message", "detail"))]
            for keyword in node.keywords:
                if keyword.arg == "fields":
                    messages += list(_field_messages(keyword.value))
            for message in messages:
                if _unmarked(message) and IGNORE not in lines[message.lineno - 1]:
                    findings.append(f"{_rel(path)}:{message.lineno}: error message not marked for translation")
        # Class attributes such as a DRF permission's ``message = "..."``.
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if (isinstance(item, ast.Assign) and any(isinstance(t, ast.Name) and t.id in ("message", "default_message")
                                                             for t in item.targets)
                            and _unmarked(item.value) and IGNORE not in lines[item.lineno - 1]):
                        findings.append(f"{_rel(path)}:{item.lineno}: message attribute not marked for translation")
    return findings


# --- Browser modules ---------------------------------------------------------------------------

_JS_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'|`((?:[^`\\]|\\.)*)`')
_LETTERS = "A-Za-zА-Яа-яЁё"
# Where a string is shown to people whatever it looks like: text properties and attributes.
_TEXT_CONTEXT = re.compile(
    r"(?:textContent|innerText|title|placeholder|label|alt|\"aria-label\"|'aria-label')\s*[:=]\s*$")
# Sentence-like: two words, a capitalized word, or words with sentence punctuation.
_SENTENCE = re.compile(rf"[{_LETTERS}]{{2,}}[ ,;:!?…'’-]+[{_LETTERS}]{{2,}}|^[A-ZА-ЯЁ][a-zа-яё]{{2,}}|[{_LETTERS}]{{2,}}[…!?]")
_KEYS = frozenset({"Enter", "Escape", "Tab", "Backspace", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight",
                   "Notification"})
_FUNCTION_WORDS = re.compile(r"\b(the|a|an|to|of|no|is|are|and|or|in|on|for|you|your|not)\b")


def _code_like(literal: str, *, words_may_be_code: bool = True) -> bool:
    """Selectors, class lists, URLs, header names, key names, identifiers: not text. Where a
    string is certainly shown (``words_may_be_code=False``), lower-case words are text too."""
    text = literal.strip()
    if not text or text in _KEYS:
        return True
    if re.search(r"[\[\]#=<>{}()/\\]|^\.|https?:", text) and not re.search(r"[…!?]|\s\w+\s", text):
        return True  # a selector, a path or markup
    if re.fullmatch(r"[A-Z][a-z]*(?:-[A-Z][a-z]+)+", text):
        return True  # an HTTP header name
    if text.startswith("/") or re.fullmatch(r"[A-Z][a-z]+[A-Z]\w*", text):
        return True  # a path or URL; a CamelCase identifier (an error name)
    tokens = re.split(r"[ ,]+", text)
    if words_may_be_code and re.fullmatch(r"[a-z0-9_.:-]+(?:[ ,]+[a-z0-9_.:-]+)*", text) and not any(
            _FUNCTION_WORDS.fullmatch(token) for token in tokens):
        return True  # class lists, identifiers, "input, textarea, select"
    return False


def _js_code_only(line: str) -> str:
    return line.split("//", 1)[0] if "//" in line and "://" not in line else line


def js_findings(paths: Iterable[Path] | None = None) -> list[str]:
    if paths is None:
        paths = sorted(p for p in JS_DIR.rglob("*.js") if not str(p.relative_to(JS_DIR)).startswith(JS_EXEMPT))
    findings = []
    for path in paths:
        in_block_comment = False
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if in_block_comment:
                in_block_comment = "*/" not in stripped
                continue
            if stripped.startswith("/*"):
                in_block_comment = "*/" not in stripped
                continue
            if stripped.startswith(("//", "*", "import ")) or IGNORE in line or "console." in line:
                continue
            code = _js_code_only(line)
            for match in _JS_STRING.finditer(code):
                literal = next(g for g in match.groups() if g is not None)
                if "${" in literal:  # a template literal: look at its text parts only
                    literal = re.sub(r"\$\{[^}]*\}", " ", literal)
                in_text_context = bool(_TEXT_CONTEXT.search(code[:match.start()]))
                if not re.search(rf"[{_LETTERS}]{{2,}}", literal):
                    continue
                if (in_text_context and not _code_like(literal, words_may_be_code=False)
                        or not _code_like(literal) and _SENTENCE.search(literal)):
                    findings.append(f"{_rel(path)}:{number}: untranslated text {literal.strip()[:40]!r}")
    return findings


# --- Templates ---------------------------------------------------------------------------------

_TAG_TEXT = re.compile(r">([^<>{]*[A-Za-zА-Яа-яЁё]{2,}[^<>{]*)<")
_ATTR_TEXT = re.compile(r'\b(title|placeholder|aria-label|alt)="([^"{]*[A-Za-z]{2,}[^"{]*)"')
_TRANS_BLOCK = re.compile(r"{%\s*blocktrans(?:late)?\b.*?{%\s*endblocktrans(?:late)?\s*%}", re.S)
_SCRIPT_STYLE = re.compile(r"<(script|style)\b[^>]*>.*?</\1>", re.S)


def template_findings(paths: Iterable[Path] | None = None) -> list[str]:
    if paths is None:
        paths = sorted(TEMPLATE_DIR.rglob("*.html"))
    findings = []
    for path in paths:
        text = path.read_text()
        # Keep line numbers: blank out what may hold text (translation blocks, scripts, styles).
        masked = _TRANS_BLOCK.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
        masked = _SCRIPT_STYLE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), masked)
        masked = re.sub(r"{#.*?#}", lambda m: " " * len(m.group(0)), masked)
        lines = text.splitlines()
        for pattern, group in ((_TAG_TEXT, 1), (_ATTR_TEXT, 2)):
            for match in pattern.finditer(masked):
                number = masked.count("\n", 0, match.start(group)) + 1
                if IGNORE in lines[number - 1]:
                    continue
                # The tag the text or attribute belongs to: filled from the catalogue?
                tag_start = masked.rfind("<", 0, match.start(group))
                tag = masked[tag_start:masked.find(">", tag_start) + 1]
                if group == 1 and "data-i18n=" in tag:
                    continue
                attributes = re.search(r'data-i18n-attr="([^"]*)"', tag)
                if group == 2 and attributes and f"{match.group(1)}:" in attributes.group(1).replace(" ", ""):
                    continue
                findings.append(f"{_rel(path)}:{number}: untranslated text {match.group(group).strip()[:40]!r}")
    return findings


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def all_findings() -> list[str]:
    return python_findings() + js_findings() + template_findings()
