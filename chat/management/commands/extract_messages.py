"""``manage.py extract_messages``: add the sources' new translatable strings to every
``locale/<lang>/LC_MESSAGES/django.po`` (pure Python, like ``makemessages`` without GNU
gettext; chat/locales.py). Then translate the empty ``msgstr``s and run ``compile_locales``."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from chat.locales import update_catalogues


class Command(BaseCommand):
    help = "Merge the Python sources' msgids into locale/*/LC_MESSAGES/django.po."

    def handle(self, *args: Any, **options: Any) -> None:
        for path in update_catalogues():
            self.stdout.write(f"updated {path}")
