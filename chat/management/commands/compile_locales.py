"""``manage.py compile_locales [--force]``: the server's ``.po`` catalogues to ``.mo``, in Python
(no GNU gettext needed; chat/locales.py). Run by bin/serve and bin/test."""
from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from chat.locales import compile_catalogues


class Command(BaseCommand):
    help = "Compile locale/*/LC_MESSAGES/django.po to .mo (pure Python, skips fuzzy entries)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--force", action="store_true", help="Compile even the up-to-date ones.")

    def handle(self, *args: Any, **options: Any) -> None:
        written = compile_catalogues(force=options["force"])
        self.stdout.write(f"compiled {len(written)} catalogue(s)")
