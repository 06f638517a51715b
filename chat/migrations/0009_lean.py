"""The lean outbox (docs/realtime.md, "Why one last_event_id is a complete cursor").

* ``Event.pending_xids`` goes: the list of running transactions read from ``pg_stat_activity``
  for every event is replaced by the row's own ``xmin``, which ``chat_event_insert`` makes an
  xid assigned *after* the event id (see the function).
* ``chat_event_insert(...)`` (PostgreSQL only) writes one event in one statement.
"""
from django.db import migrations

# 1. The calling transaction's own xid first (assigned now if it had none): from here on it is
#    listed as running in every snapshot, before it holds an event id.
# 2. The row is inserted inside a subtransaction (the EXCEPTION clause makes one). Its id comes
#    from the column's default, computed before the tuple is written; writing it assigns the
#    subtransaction's xid. So the row's xmin is an xid assigned after the id was: larger than
#    the xid of every transaction that took a lower id before (each took its own xid first, 1.).
#    chat/outbox.py holds the row back while any such transaction is still running.
CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION chat_event_insert(
    p_type varchar, p_inbox_id bigint, p_conversation_id bigint, p_contact_inbox_id bigint,
    p_user_id bigint, p_audience varchar, p_payload jsonb,
    OUT event_id bigint, OUT event_created_at timestamptz
) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
    BEGIN
        INSERT INTO chat_event (type, inbox_id, conversation_id, contact_inbox_id, user_id, audience, payload)
        VALUES (p_type, p_inbox_id, p_conversation_id, p_contact_inbox_id, p_user_id, p_audience, p_payload)
        RETURNING chat_event.id, chat_event.created_at INTO event_id, event_created_at;
    EXCEPTION WHEN unique_violation THEN
        RAISE;
    END;
END;
$$;
"""

DROP_FUNCTION = "DROP FUNCTION IF EXISTS chat_event_insert(varchar, bigint, bigint, bigint, bigint, varchar, jsonb);"


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_FUNCTION)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FUNCTION)


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0008_edges"),
    ]

    operations = [
        migrations.RemoveField(model_name="event", name="pending_xids"),
        migrations.RunPython(create_function, drop_function),
    ]
