"""What one message costs, in process (docs/benchmarks.md, "Lean message path").

    .venv/bin/python bench/message_cost.py [--messages 400] [--json PATH]

Calls the message services as the sockets do (``visitor_message_send`` for a visitor,
``message_create`` for an operator's reply), one after another on one thread, against its own
PostgreSQL database (BENCH_PG, default postgres://postgres@127.0.0.1:5432; BENCH_DB, default
msg_bench_cost; created and dropped) and Redis (BENCH_REDIS, default redis://127.0.0.1:6379/2),
on open, assigned conversations (the steady state of a chat). Per message: SQL statements
(every statement through Django's cursor, plus the BEGIN and COMMIT of the transaction),
transactions, CPU time of the calling thread (Python: ORM, payloads, JSON, drivers) and wall
time (adds PostgreSQL's and Redis's work and the round trips). Medians and p90 over the
messages; CPU time is the figure least disturbed by other load on the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = os.environ.get("BENCH_DB", "msg_bench_cost")


def setup(base: str, redis_url: str) -> None:
    import psycopg

    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    os.environ.update({
        "DATABASE_URL": f"{base}/{DB_NAME}", "REDIS_URL": redis_url, "SECRET_KEY": "bench-only",
        "SHARED_STORE_PREFIX": "bench-cost", "DB_CONN_MAX_AGE": "600", "FLOOD_LIMIT_MESSAGES": "1000000000",
        "LOG_LEVEL": "ERROR", "DJANGO_SETTINGS_MODULE": "project.settings",
    })
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def drop(base: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"median": round(statistics.median(ordered), 3), "p90": round(ordered[int(len(ordered) * 0.9)], 3)}


def measure(count: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection

    from chat.models import Branch, Contact, ContactInbox, Conversation, Inbox, InboxMember, OperatorProfile
    from chat.services.messages import message_create, visitor_message_send

    branch = Branch.objects.create(name="Bench", is_default=True)
    inbox = Inbox.objects.create(branch=branch, name="Bench", enable_auto_assignment=False)
    user = get_user_model().objects.create(username="op", password="!")
    OperatorProfile.objects.create(user=user, display_name="Op")
    InboxMember.objects.create(inbox=inbox, user=user)
    pairs = []
    for i in range(20):
        contact = Contact.objects.create(name=f"visitor {i}")
        visitor = ContactInbox.objects.create(contact=contact, inbox=inbox, source_id=f"v{i}")
        conversation_id = visitor_message_send(contact_inbox_id=visitor.pk, content="hello").message.conversation_id
        Conversation.objects.filter(pk=conversation_id).update(assignee=user)
        message_create(conversation_id=conversation_id, direction="outgoing", content="hi", sender_user=user)
        pairs.append((visitor.pk, conversation_id))

    statements: list[str] = []

    def counting(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    results: dict[str, Any] = {}
    cases = {
        "visitor message": lambda n, v, c: visitor_message_send(contact_inbox_id=v, content=f"question {n}",
                                                                 echo_id=f"v-{n}"),
        "operator reply": lambda n, v, c: message_create(conversation_id=c, direction="outgoing",
                                                          content=f"answer {n}", sender_user=user, echo_id=f"o-{n}"),
    }
    for label, call in cases.items():
        cpu, wall, counts = [], [], []
        for n in range(count):
            visitor_id, conversation_id = pairs[n % len(pairs)]
            statements.clear()
            with connection.execute_wrapper(counting):
                t0, c0 = time.perf_counter(), time.thread_time()
                call(n, visitor_id, conversation_id)
                c1, t1 = time.thread_time(), time.perf_counter()
            cpu.append((c1 - c0) * 1000)
            wall.append((t1 - t0) * 1000)
            counts.append(len(statements))
        results[label] = {"statements": max(counts), "round_trips": max(counts) + 2,
                          "cpu_ms": summary(cpu[count // 10:]), "wall_ms": summary(wall[count // 10:])}
        print(f"{label}: {results[label]}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--json", metavar="PATH")
    args = parser.parse_args()
    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432").rstrip("/")
    setup(base, os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/2"))
    try:
        results = measure(args.messages)
    finally:
        from chat.store import get_store

        get_store().flush()
        drop(base)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
