from django.apps import AppConfig


class PresenceConfig(AppConfig):
    name = "presence"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Whether anyone can answer in an inbox depends on its members: re-tell its widgets
        # when they change, from every entry point (REST, admin, commands).
        from presence.reactions import register

        register()
