"""Several outbox events in one statement (docs/benchmarks.md, "Assignment").

``chat_event_insert_many(...)`` (PostgreSQL only) writes the events of one change (an assignment
writes three: the activity line's ``message.created``, ``assignee.changed``,
``conversation.updated``) in one round trip, in the order given.

Each event goes through ``chat_event_insert()`` (migration 0009_lean), one after the other:
exactly what as many separate statements did, so every guarantee of the single insert holds per
event (the caller's own xid taken first, each row inserted in its own subtransaction after its
id was allocated, so its ``xmin`` is an xid assigned after its id; chat/outbox.py holds it back
while a transaction that took a lower id before is still running). The ids are ascending in the
order of the arrays; the rows are returned in that order.
"""
from django.db import migrations

CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION chat_event_insert_many(
    p_types varchar[], p_inbox_ids bigint[], p_conversation_ids bigint[], p_contact_inbox_ids bigint[],
    p_user_ids bigint[], p_audiences varchar[], p_payloads jsonb[]
) RETURNS TABLE (new_id bigint, new_created_at timestamptz) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_types, 1), 0) LOOP
        SELECT e.event_id, e.event_created_at INTO new_id, new_created_at
        FROM chat_event_insert(p_types[i], p_inbox_ids[i], p_conversation_ids[i], p_contact_inbox_ids[i],
                               p_user_ids[i], p_audiences[i], p_payloads[i]) AS e;
        RETURN NEXT;
    END LOOP;
END;
$$;
"""

DROP_FUNCTION = (
    "DROP FUNCTION IF EXISTS chat_event_insert_many(varchar[], bigint[], bigint[], bigint[], bigint[], varchar[], jsonb[]);"
)


def create_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE_FUNCTION)


def drop_function(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_FUNCTION)


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0011_inbox_translations"),
    ]

    operations = [
        migrations.RunPython(create_function, drop_function),
    ]
