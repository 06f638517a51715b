"""Reports (DESIGN.md §12, docs/reports.md): ``Conversation.resolved_at`` and the indexes of the
report queries.

* ``resolved_at``: nothing durable recorded when a conversation was resolved (the outbox is
  pruned; the activity line is text). From now on the status owner writes it in the same UPDATE
  as the status (``chat.services.conversations.status_columns``). Backfill, for conversations
  resolved now: the time of their latest "Conversation was resolved by …" activity line, else
  their ``last_activity_at``. Nullable without a default, so adding it rewrites nothing.
* Indexes (measured with EXPLAIN on 100k conversations / 1M messages, docs/benchmarks.md
  "Reports"): conversations by ``created_at`` and by (``inbox``, ``created_at``), by
  ``resolved_at`` (partial: resolved rows only), messages by ``created_at``; each INCLUDEs the
  columns the report aggregates read, so PostgreSQL answers them with index-only scans (the
  30-day message counts fell from a 180 ms heap scan to 65 ms). SQLite ignores INCLUDE.

Non-atomic: on PostgreSQL the indexes are built ``CONCURRENTLY`` (no writer blocked on a big
table; an interrupted build leaves an INVALID index: drop it and migrate again) and the
backfill commits in batches.
"""
from __future__ import annotations

from django.db import migrations, models, transaction
from django.db.models import Max, OuterRef, Subquery
from django.db.models.functions import Coalesce

BATCH = 5_000
RESOLVED_LINE = "Conversation was resolved by "


class AddIndexOnline(migrations.AddIndex):
    """AddIndex, built CONCURRENTLY on PostgreSQL (plainly elsewhere)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)


def backfill_resolved_at(apps, schema_editor) -> None:
    Conversation = apps.get_model("chat", "Conversation")
    Message = apps.get_model("chat", "Message")
    latest_resolve = (
        Message.objects.filter(conversation_id=OuterRef("pk"), direction="activity",
                               content__startswith=RESOLVED_LINE)
        .order_by().values("conversation_id").annotate(at=Max("created_at")).values("at")
    )
    pending = Conversation.objects.filter(status="resolved", resolved_at__isnull=True)
    last = 0
    while True:
        ids = list(pending.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not ids:
            return
        with transaction.atomic(using=schema_editor.connection.alias):
            pending.filter(pk__in=ids).update(
                resolved_at=Coalesce(Subquery(latest_resolve), "last_activity_at"))
        last = ids[-1]


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("chat", "0006_visitor"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="resolved_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill_resolved_at, migrations.RunPython.noop, elidable=True),
        AddIndexOnline(
            model_name="conversation",
            index=models.Index(fields=["created_at"], include=["inbox", "assignee", "first_reply_created_at"],
                               name="conv_created_at"),
        ),
        AddIndexOnline(
            model_name="conversation",
            index=models.Index(fields=["inbox", "created_at"], include=["assignee", "first_reply_created_at"],
                               name="conv_inbox_created_at"),
        ),
        AddIndexOnline(
            model_name="conversation",
            index=models.Index(condition=models.Q(("resolved_at__isnull", False)), fields=["resolved_at"],
                               include=["inbox", "assignee", "created_at"], name="conv_resolved_at"),
        ),
        AddIndexOnline(
            model_name="message",
            index=models.Index(fields=["created_at"], include=["direction", "private", "sender_user", "conversation"],
                               name="msg_created_at"),
        ),
    ]
