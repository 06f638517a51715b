"""Assignment throughput and presence fan-out cost (docs/benchmarks.md, "Assignment").

    .venv/bin/python bench/assignment.py [--conversations 2000] [--operators 50] [--seconds 60]
                                         [--count 200] [--verbose] [--only-cost]

Needs PostgreSQL (BENCH_PG, default postgres://postgres@127.0.0.1:5432) and Redis
(BENCH_REDIS, default redis://127.0.0.1:6379/3). Creates its own database, runs the services
from 2 OS processes (as 2 server processes would), prints a table, drops the database.

Measured:
* auto-assignment throughput: conversations assigned per second by `auto_assign_conversation`
  with N operators online in one inbox, 2 processes racing over the same waiting conversations
  (capacity and rate limit out of the way, so every call assigns); baseline in the same run:
  the bare row update + commit an assignment needs at least, from the same 2 processes;
* end to end: `conversation_create` whose `conversation.created` triggers the assignment;
* cost of one auto-assignment, in one process, one call after another: SQL statements (those
  after its commit too: the reactions), outbox statements and events, CPU time of the calling
  thread (the figures the machine's load does not move), without and with a capacity;
* presence: cost of a transition (connect/offline) for an operator in 1, 10 and 50 inboxes
  (one `presence.updated` per inbox), of a heartbeat with no change, and of reading the
  available operators of a 50-member inbox.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def django_setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()


# --- Roles run in child processes -------------------------------------------------------------


class KeepOnline:
    """Heartbeat the operators' sockets as their browsers would (every 15 s), so that a long
    run does not outlive the presence TTL."""

    def __init__(self, users: list[int]) -> None:
        from presence.tracker import get_tracker

        self.tracker, self.users, self.last = get_tracker(), users, 0.0

    def __call__(self) -> None:
        if time.monotonic() - self.last > 15:
            for user_id in self.users:
                self.tracker.heartbeat(user_id=user_id, socket_id=f"bench-{user_id}")
            self.last = time.monotonic()


def role_setup(args) -> dict:
    django_setup()
    from chat.models import Inbox, InboxMember
    from presence.tracker import get_tracker
    from tests.factories import ContactInboxFactory, InboxFactory, UserFactory

    inbox = InboxFactory(enable_auto_assignment=False, max_assignment_limit=None, assignment_rate_limit=1_000_000)
    users = [UserFactory() for _ in range(args.operators)]
    InboxMember.objects.bulk_create([InboxMember(inbox=inbox, user=u) for u in users])
    tracker = get_tracker()
    for user in users:
        tracker.set_online(user_id=user.pk, socket_id=f"bench-{user.pk}")
    from chat.services.conversations import conversation_create

    for _ in range(args.conversations):
        conversation_create(contact_inbox=ContactInboxFactory(inbox=inbox))
    Inbox.objects.filter(pk=inbox.pk).update(enable_auto_assignment=True)
    e2e = InboxFactory(enable_auto_assignment=True, assignment_rate_limit=1_000_000)
    InboxMember.objects.bulk_create([InboxMember(inbox=e2e, user=u) for u in users])
    return {"inbox": inbox.pk, "e2e_inbox": e2e.pk, "users": [u.pk for u in users]}


def role_assign(args) -> dict:
    django_setup()
    from django.db import connection

    from assignment.services import auto_assign_conversation
    from chat.models import Conversation

    keep_online = KeepOnline(args.users)
    ids = list(Conversation.objects.filter(inbox_id=args.inbox).order_by("id").values_list("pk", flat=True))
    # Both processes walk the same list from opposite ends, so they race for the middle.
    if args.index % 2:
        ids.reverse()
    deadline = time.monotonic() + args.seconds
    assigned = 0
    started = time.perf_counter()
    for conversation_id in ids:
        if time.monotonic() > deadline:
            break
        keep_online()
        if auto_assign_conversation(conversation_id=conversation_id) is not None:
            assigned += 1
    elapsed = time.perf_counter() - started
    connection.close()
    return {"assigned": assigned, "elapsed": elapsed}


def role_statements(args) -> dict:
    """SQL statements, transactions and CPU time of one auto-assignment (load-independent
    figures), in a fresh inbox whose members are the operators online: ``--capacity`` 0 for no
    ``max_assignment_limit`` (every candidate's load then needs no count), else that limit."""
    django_setup()
    from assignment.services import auto_assign_conversation
    from chat.models import Conversation, Event, Inbox, InboxMember
    from chat.services.conversations import conversation_create
    from tests.factories import ContactInboxFactory, InboxFactory
    from tests.sqlcount import SqlCount

    keep_online = KeepOnline(args.users)
    keep_online()
    inbox = InboxFactory(enable_auto_assignment=False, max_assignment_limit=args.capacity or None,
                         assignment_rate_limit=1_000_000)
    InboxMember.objects.bulk_create([InboxMember(inbox=inbox, user_id=u) for u in args.users])
    conversations = [conversation_create(contact_inbox=ContactInboxFactory(inbox=inbox, source_id=uuid.uuid4().hex))
                     for _ in range(args.count)]
    Inbox.objects.filter(pk=inbox.pk).update(enable_auto_assignment=True)
    statements, after_commit, outbox, events, cpu = [], [], [], [], []
    described = ""
    for conversation in conversations:
        keep_online()
        events_before = Event.objects.count()
        with SqlCount() as sql:
            started = time.thread_time()
            assigned = auto_assign_conversation(conversation_id=conversation.pk)
            cpu.append((time.thread_time() - started) * 1000)
        assert assigned is not None and Conversation.objects.get(pk=conversation.pk).assignee_id
        statements.append(len(sql.statements))
        after_commit.append(sum(1 for s in sql.statements if not s.in_transaction))
        outbox.append(sum(1 for q in sql.sql() if "chat_event_insert" in q or q.startswith('INSERT INTO "chat_event"')))
        events.append(Event.objects.count() - events_before)
        described = described or sql.describe()
    if args.verbose:
        print(described, file=sys.stderr)
    cpu = cpu[len(cpu) // 10:]  # warm-up (first queries compiled, caches filled)
    return {"statements": max(statements), "after_commit": max(after_commit), "outbox": max(outbox),
            "events": max(events), "cpu_median": statistics.median(cpu), "cpu_p90": sorted(cpu)[int(len(cpu) * 0.9)]}


def role_baseline(args) -> dict:
    django_setup()
    from django.db import transaction

    from chat.models import Conversation

    ids = list(Conversation.objects.filter(inbox_id=args.inbox).order_by("id").values_list("pk", flat=True))
    ids = ids[args.index :: 2]
    users = args.users
    started = time.perf_counter()
    for n, conversation_id in enumerate(ids):
        with transaction.atomic():
            Conversation.objects.select_for_update().filter(pk=conversation_id).first()
            Conversation.objects.filter(pk=conversation_id).update(assignee_id=users[n % len(users)])
    return {"assigned": len(ids), "elapsed": time.perf_counter() - started}


def role_e2e(args) -> dict:
    django_setup()
    from chat.models import Inbox
    from chat.services.conversations import conversation_create
    from tests.factories import ContactInboxFactory

    inbox = Inbox.objects.get(pk=args.inbox)
    contact_inboxes = [
        ContactInboxFactory(inbox=inbox, source_id=f"e2e-{args.index}-{n}") for n in range(args.conversations // 2)
    ]
    deadline = time.monotonic() + args.seconds
    created = 0
    started = time.perf_counter()
    keep_online = KeepOnline(args.users)
    for ci in contact_inboxes:
        if time.monotonic() > deadline:
            break
        keep_online()
        conversation_create(contact_inbox=ci)
        created += 1
    elapsed = time.perf_counter() - started
    from chat.models import Conversation

    assigned = Conversation.objects.filter(contact_inbox__in=contact_inboxes, assignee__isnull=False).count()
    return {"created": created, "assigned": assigned, "elapsed": elapsed}


def role_presence(args) -> dict:
    django_setup()
    from chat.models import InboxMember
    from presence.tracker import get_tracker
    from tests.factories import InboxFactory, UserFactory

    tracker = get_tracker()
    results = {}
    for inbox_count in (1, 10, 50):
        user = UserFactory(username=f"presence-{uuid.uuid4().hex[:8]}")
        inboxes = [InboxFactory() for _ in range(inbox_count)]
        InboxMember.objects.bulk_create([InboxMember(inbox=i, user=user) for i in inboxes])
        samples = []
        t = time.time()
        for n in range(40):
            # Connect (transition to online), then the socket's deadline passes (offline).
            now = t + n * 1000
            started = time.perf_counter()
            tracker.set_online(user_id=user.pk, socket_id="s", now=now)
            tracker.reconcile(user.pk, now=now + 61)
            samples.append((time.perf_counter() - started) / 2)
        results[f"transition_{inbox_count}"] = statistics.median(samples) * 1000
    user = UserFactory(username=f"presence-{uuid.uuid4().hex[:8]}")
    tracker.set_online(user_id=user.pk, socket_id="hb")
    samples = []
    for _ in range(300):
        started = time.perf_counter()
        tracker.heartbeat(user_id=user.pk, socket_id="hb")
        samples.append(time.perf_counter() - started)
    results["heartbeat"] = statistics.median(samples) * 1000
    samples = []
    for _ in range(100):
        started = time.perf_counter()
        tracker.get_available_users(args.inbox)
        samples.append(time.perf_counter() - started)
    results["available_50"] = statistics.median(samples) * 1000
    return results


ROLES = {
    "setup": role_setup,
    "assign": role_assign,
    "baseline": role_baseline,
    "e2e": role_e2e,
    "presence": role_presence,
    "statements": role_statements,
}


# --- Orchestration ----------------------------------------------------------------------------


def child(env: dict, role: str, **kwargs) -> subprocess.Popen:
    argv = [sys.executable, __file__, "--role", role]
    for key, value in kwargs.items():
        if value is True:
            argv.append(f"--{key}")
        else:
            argv += [f"--{key}", json.dumps(value) if isinstance(value, list) else str(value)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True)


def result_of(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate(timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def in_parallel(env: dict, role: str, **kwargs) -> list[dict]:
    procs = [child(env, role, index=i, **kwargs) for i in range(2)]
    return [result_of(p) for p in procs]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--role", choices=sorted(ROLES))
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument("--operators", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--index", type=int, default=0)
    parser.add_argument("--inbox", type=int, default=0)
    parser.add_argument("--users", type=json.loads, default=[])
    parser.add_argument("--capacity", type=int, default=0)
    parser.add_argument("--count", type=int, default=200, help="auto-assignments measured for statements and CPU")
    parser.add_argument("--verbose", action="store_true", help="print the statements of one auto-assignment")
    parser.add_argument("--only-cost", action="store_true", help="statements and CPU only (no throughput runs)")
    args = parser.parse_args()
    if args.role:
        print(json.dumps(ROLES[args.role](args)))
        return

    import psycopg

    pg = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    name = f"msg_bench_asg_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    env = {
        **os.environ,
        "DATABASE_URL": f"{pg}/{name}",
        "REDIS_URL": os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/3"),
        "SHARED_STORE_PREFIX": name,
        "SECRET_KEY": "bench",
        "PYTHONPATH": str(ROOT),
    }
    try:
        subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "-v0"], env=env, check=True)
        setup = result_of(child(env, "setup", conversations=0 if args.only_cost else args.conversations,
                                operators=args.operators))
        flags = {"verbose": True} if args.verbose else {}
        costs = {capacity: result_of(child(env, "statements", users=setup["users"], capacity=capacity, count=args.count,
                                           **flags))
                 for capacity in (0, 20)}
        if not args.only_cost:
            assign = in_parallel(env, "assign", inbox=setup["inbox"], seconds=args.seconds, users=setup["users"])
            baseline = in_parallel(env, "baseline", inbox=setup["inbox"], users=setup["users"])
            e2e = in_parallel(env, "e2e", inbox=setup["e2e_inbox"], conversations=args.conversations,
                              seconds=args.seconds, users=setup["users"])
            presence = result_of(child(env, "presence", inbox=setup["inbox"]))
    finally:
        import redis

        client = redis.Redis.from_url(env["REDIS_URL"])
        keys = list(client.scan_iter(match=f"{name}*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        with psycopg.connect(f"{pg}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def rate(rows: list[dict], key: str) -> float:
        return sum(r[key] for r in rows) / max(r["elapsed"] for r in rows)

    print(f"## Assignment ({args.operators} operators online in one inbox, 2 processes, PostgreSQL + Redis)\n")
    print("| Measure | Result |")
    print("|---|---|")
    for capacity, cost in costs.items():
        limit = f"max_assignment_limit {capacity}" if capacity else "no max_assignment_limit"
        print(f"| SQL statements in one auto-assignment, {limit} (of which after commit; outbox statements for "
              f"events) | {cost['statements']} ({cost['after_commit']}; {cost['outbox']} for {cost['events']}) |")
        print(f"| CPU time of the calling thread per auto-assignment, {limit}, median / p90 "
              f"({args.count} assignments) | {cost['cpu_median']:.2f} / {cost['cpu_p90']:.2f} ms |")
    if args.only_cost:
        return
    print(f"| auto_assign_conversation, 2 processes racing | {rate(assign, 'assigned'):.0f} assigned/s "
          f"({sum(r['assigned'] for r in assign)} conversations) |")
    print(f"| baseline: bare locked update + commit, 2 processes | {rate(baseline, 'assigned'):.0f} updates/s |")
    print(f"| conversation_create + triggered auto-assign, 2 processes | {rate(e2e, 'created'):.0f} conversations/s "
          f"({sum(r['assigned'] for r in e2e)} of {sum(r['created'] for r in e2e)} assigned) |")
    for count in (1, 10, 50):
        print(f"| presence transition, operator in {count} inbox(es) ({count} events) | {presence[f'transition_{count}']:.2f} ms |")
    print(f"| heartbeat, no change (no SQL) | {presence['heartbeat']:.3f} ms |")
    print(f"| available operators of a {args.operators}-member inbox | {presence['available_50']:.2f} ms |")


if __name__ == "__main__":
    main()
