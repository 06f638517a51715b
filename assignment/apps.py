from django.apps import AppConfig


class AssignmentConfig(AppConfig):
    name = "assignment"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Auto-assignment reacts to the dispatcher's events from every entry point.
        from assignment.reactions import register

        register()
