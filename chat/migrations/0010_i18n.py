from django.db import migrations, models


class Migration(migrations.Migration):
    """The operator's language (docs/i18n.md): empty until the first login fills it."""

    dependencies = [
        ("chat", "0009_lean"),
    ]

    operations = [
        migrations.AddField(
            model_name="operatorprofile",
            name="locale",
            field=models.CharField(blank=True, default="", max_length=10),
        ),
    ]
