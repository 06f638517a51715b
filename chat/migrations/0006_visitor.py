"""The first release's unused ``Inbox.business_hours`` JSON gives way to ``timezone`` +
``working_hours`` (0004_desk). What an administrator stored there (``{"timezone", "days"}``) is
carried over when it is valid and the new fields are still at their defaults; the REST API
keeps ``business_hours`` as a deprecated alias (docs/desk.md)."""
from django.db import migrations


def carry_over(apps, schema_editor):
    from chat.errors import InvalidData
    from chat.services.business_hours import validate_timezone, validate_working_hours

    Inbox = apps.get_model("chat", "Inbox")
    for inbox in Inbox.objects.exclude(business_hours={}).iterator():
        old = inbox.business_hours if isinstance(inbox.business_hours, dict) else {}
        if inbox.working_hours is not None or not old.get("days"):
            continue
        try:
            inbox.working_hours = validate_working_hours(old["days"])
            inbox.timezone = validate_timezone(old.get("timezone") or "UTC")
        except InvalidData:
            continue  # never used by any rule: an invalid value is dropped, not guessed at
        inbox.save(update_fields=["working_hours", "timezone"])


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0005_ring"),
    ]

    operations = [
        migrations.RunPython(carry_over, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="inbox",
            name="business_hours",
        ),
    ]
