"""``manage.py check_i18n [--python] [--js] [--templates]``: list the text people read that is
not translatable (chat/i18n_lint.py) over the whole project; exit status 1 when there is any.
Without options, all three checks."""
from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from chat.i18n_lint import js_findings, python_findings, template_findings


class Command(BaseCommand):
    help = "Find untranslated text in the server's error messages, the browser modules and the templates."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--python", action="store_true", help="Error messages of the server.")
        parser.add_argument("--js", action="store_true", help="Panel and widget modules.")
        parser.add_argument("--templates", action="store_true", help="Django templates.")

    def handle(self, *args: Any, **options: Any) -> None:
        chosen = [name for name in ("python", "js", "templates") if options[name]] or ["python", "js", "templates"]
        checks = {"python": python_findings, "js": js_findings, "templates": template_findings}
        findings = [line for name in chosen for line in checks[name]()]
        for line in findings:
            self.stdout.write(line)
        if findings:
            raise CommandError(f"{len(findings)} untranslated text(s)")
        self.stdout.write("no untranslated text")
