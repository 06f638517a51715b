from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Queue positions follow every committed change to an inbox's queue, from any entry point.
        from chat.events import subscribe
        from chat.services.queue import QUEUE_EVENT_TYPES, on_event

        subscribe(on_event, types=QUEUE_EVENT_TYPES)
