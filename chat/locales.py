"""Server catalogues without GNU gettext: extract, update and compile with Babel (pure Python).

Django's ``makemessages`` / ``compilemessages`` call GNU gettext's ``xgettext`` and ``msgfmt``,
a system package a fresh machine may lack; these do the same jobs in Python, so ``bin/serve``,
``bin/test`` and CI need nothing but ``requirements.txt``.

* ``compile_catalogues()``: every ``locale/<lang>/LC_MESSAGES/django.po`` to its ``django.mo``
  (skipping fuzzy entries, as ``msgfmt`` does), written atomically; an up-to-date ``.mo`` is
  left alone. The ``.mo`` files are build output (``.gitignore``).
* ``extract_template()``: the msgids of the Python sources (``_``/``gettext_lazy``,
  ``pgettext_lazy``, ``ngettext``, ...) and of the Django templates' ``{% translate "..." %}``
  (the login page), as a Babel catalogue.
* ``update_catalogues()``: merge that template into every language's ``.po``: new msgids
  arrive untranslated, changed ones come back fuzzy (to be checked), vanished ones go.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "locale"
DOMAIN = "django"
SOURCE_DIRS = ("chat", "assignment", "presence", "project", "frontend")
KEYWORDS = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}


def po_files(root: Path = LOCALE_DIR) -> list[Path]:
    return sorted(root.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))


def read_catalogue(path: Path) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=path.parent.parent.name, domain=DOMAIN)


def _write_atomically(path: Path, write: object) -> None:
    """Write through a temporary file and rename, so that parallel runs (test workers) never
    read half a file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)  # type: ignore[operator]
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def compile_catalogues(root: Path = LOCALE_DIR, *, force: bool = False) -> list[Path]:
    """Compile each ``.po`` whose ``.mo`` is missing or older; returns the ``.mo`` files written."""
    written = []
    for po in po_files(root):
        mo = po.with_suffix(".mo")
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        catalogue = read_catalogue(po)
        _write_atomically(mo, lambda handle, c=catalogue: write_mo(handle, c, use_fuzzy=False))
        written.append(mo)
    return written


_TEMPLATE_TRANSLATE = re.compile(
    r"""{%\s*trans(?:late)?\s+("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')(?:\s+context\s+("[^"]*"|'[^']*'))?[^%]*%}""")


def extract_django_template(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Iterator[tuple[int, str, Any, list[str]]]:
    """Babel extraction method for ``{% translate "text" %}`` (``context "..."`` too) in Django
    templates; other tags (``blocktranslate``) are not used by ours."""
    text = fileobj.read().decode("utf-8")
    for match in _TEMPLATE_TRANSLATE.finditer(text):
        lineno = text.count("\n", 0, match.start()) + 1
        message = match.group(1)[1:-1]
        if match.group(2):
            yield lineno, "pgettext", (match.group(2)[1:-1], message), []
        else:
            yield lineno, "gettext", message, []


def extract_template() -> Catalog:
    """Every translatable string of the Python sources (migrations and tests excluded) and of
    the templates."""
    template = Catalog(domain=DOMAIN, project="messenger")
    for directory in SOURCE_DIRS:
        for filename, lineno, message, comments, context in extract_from_dir(
            ROOT / directory,
            method_map=[("**/migrations/**.py", "ignore"), ("**.py", "python"),
                        ("**/templates/**.html", "chat.locales:extract_django_template")],
            keywords=KEYWORDS,
            comment_tags=("Translators:",),
        ):
            template.add(message, None, [(f"{directory}/{filename}", lineno)], auto_comments=comments,
                         context=context)
    return template


def update_catalogues(root: Path = LOCALE_DIR) -> list[Path]:
    """Merge the sources' msgids into every ``.po`` (see the module docstring)."""
    template = extract_template()
    updated = []
    for po in po_files(root):
        catalogue = read_catalogue(po)
        catalogue.update(template, update_header_comment=False)
        catalogue.obsolete.clear()
        # File names without line numbers: a moved line does not churn the catalogue.
        _write_atomically(po, lambda handle, c=catalogue: write_po(handle, c, width=100, include_lineno=False,
                                                                    include_previous=False))
        updated.append(po)
    return updated
