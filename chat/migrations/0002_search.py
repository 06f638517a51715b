"""Full-text and substring search indexes (DESIGN.md §12, docs/api.md "Search").

PostgreSQL only; on any other database (the embedded SQLite mode) every step is a no-op and the
search selectors use ``icontains`` instead (chat/selectors/search.py). Nothing is declared on the
models: the indexes are expression indexes the ORM cannot create on SQLite, so the model state
does not change and ``makemigrations`` stays clean.

* ``msg_content_tsv``: GIN on ``to_tsvector('simple', content)``. An expression index rather than
  a stored generated column: adding a ``GENERATED ... STORED`` column rewrites the whole message
  table under an ACCESS EXCLUSIVE lock (minutes at millions of rows, every writer blocked), and
  the index alone answers ``@@``; the per-row recheck re-parses only the rows it returns.
  ``'simple'`` because the product serves Russian- and English-speaking businesses in the same
  table: a language configuration would stem one language and mangle the other; ``'simple'``
  lowercases and splits on word boundaries for both (no stemming: "refund" does not find
  "refunds").
* ``contact_{name,email,phone}_trgm``: pg_trgm GIN on ``upper(x)``, the expression Django's
  ``icontains`` compiles to, so substring matches on contacts use them.

Built ``CONCURRENTLY`` (hence ``atomic = False``): on a live deployment with a big message table
the build takes a while but blocks no writer. If a concurrent build is interrupted it leaves an
INVALID index that ``IF NOT EXISTS`` would keep: drop it and migrate again.

``CREATE EXTENSION IF NOT EXISTS pg_trgm`` needs superuser, or (PostgreSQL 13+, pg_trgm being a
trusted extension) the CREATE privilege on the database. Where the application's role has
neither, a superuser runs ``CREATE EXTENSION pg_trgm;`` in the database once before migrating;
the statement here is then a no-op.
"""
from __future__ import annotations

from django.db import migrations

INDEXES = {
    "msg_content_tsv": "chat_message USING gin (to_tsvector('simple'::regconfig, content))",
    "contact_name_trgm": "chat_contact USING gin (upper(name::text) gin_trgm_ops)",
    "contact_email_trgm": "chat_contact USING gin (upper(email::text) gin_trgm_ops)",
    "contact_phone_trgm": "chat_contact USING gin (upper(phone::text) gin_trgm_ops)",
}


def create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, target in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {target}")


def drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("chat", "0001_initial")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
