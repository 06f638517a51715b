from django.db import migrations, models


class Migration(migrations.Migration):
    """Inbox texts per language (docs/i18n.md): the inbox's default locale, its survey question
    and translations of its visitor texts; the visitor's language on the contact inbox."""

    dependencies = [
        ("chat", "0010_i18n"),
    ]

    operations = [
        migrations.AddField(
            model_name="inbox",
            name="csat_question",
            field=models.TextField(blank=True, default=""),
        ),
        migrations.AddField(
            model_name="inbox",
            name="locale",
            field=models.CharField(blank=True, default="", max_length=10),
        ),
        migrations.AddField(
            model_name="inbox",
            name="translations",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="contactinbox",
            name="locale",
            field=models.CharField(blank=True, default="", max_length=10),
        ),
    ]
