"""REST read paths at realistic size (docs/benchmarks.md, "REST").

    .venv/bin/python bench/history.py [--conversations 100000] [--messages 1000000] [--runs 60] [--keep]

Needs PostgreSQL (BENCH_PG, default postgres://postgres@127.0.0.1:5432). Creates its own
database (msg_bench_history), migrates it, bulk-loads branches, inboxes, operators, contacts,
conversations and messages with COPY, then times the REST endpoints in process (DRF views,
token authentication, serialization included; no HTTP server): each conversation-list tab for an
agent (member of 5 of 20 inboxes) and for an administrator, a deep page, the tab counts, and
history pages. Prints p50/p95 per case and a summary of the EXPLAIN (ANALYZE) plan of the main
query of each case, then drops the database (unless --keep).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = os.environ.get("BENCH_DB", "msg_bench_history")  # another name for parallel runs
WORDS = ("order parcel refund delivery invoice account password login shipping address payment card "
         "return exchange size colour broken late missing thanks hello please help question issue").split()


RARE_WORD = "xylophone"
RARE_EVERY = 50_000


def admin_dsn(base: str) -> str:
    return f"{base.rstrip('/')}/postgres"


def recreate_database(base: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn(base), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")


def drop_database(base: str) -> None:
    import psycopg

    with psycopg.connect(admin_dsn(base), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def django_setup(base: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = f"{base.rstrip('/')}/{DB_NAME}"
    os.environ.pop("REDIS_URL", None)
    # Persistent connections, as a production deployment sets DB_CONN_MAX_AGE: otherwise every
    # request pays a new PostgreSQL connection (~5 ms), which is not what is measured here.
    os.environ.setdefault("DB_CONN_MAX_AGE", "600")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    # One client times 60 requests per case: the per-operator report throttle would measure itself.
    os.environ.setdefault("THROTTLE_REPORTS", "100000/min")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()


# --- Loading ----------------------------------------------------------------------------------


def load(*, conversations: int, messages: int, seed: int = 7) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection

    from chat.models import Branch, Inbox, InboxMember, OperatorProfile, Role
    from chat.services.conversations import conversation_set_priority

    rng = random.Random(seed)
    report_rng = random.Random(seed + 1)
    resolved_rows: list[tuple[int, datetime, int | None]] = []
    User = get_user_model()
    started = time.perf_counter()

    branches = [Branch.objects.create(name="Main", is_default=True), Branch.objects.create(name="North")]
    inboxes = [Inbox.objects.create(name=f"Inbox {i}", branch=branches[i % 2]) for i in range(20)]
    password = make_password("bench-password")
    admin = User.objects.create(username="admin", password=password, is_superuser=True, is_staff=True)
    agents = [User.objects.create(username=f"agent{i}", password=password) for i in range(40)]
    OperatorProfile.objects.bulk_create(
        [OperatorProfile(user=u, role=Role.AGENT, display_name=u.username.title()) for u in agents]
        + [OperatorProfile(user=admin, role=Role.ADMINISTRATOR, display_name="Admin")]
    )
    members: dict[int, list[int]] = {inbox.pk: [] for inbox in inboxes}
    rows = []
    for index, agent in enumerate(agents):
        for k in range(5):  # each agent in 5 of the 20 inboxes; 10 agents per inbox
            inbox = inboxes[(index + k * 4) % 20]
            if agent.pk not in members[inbox.pk]:
                members[inbox.pk].append(agent.pk)
                rows.append(InboxMember(inbox=inbox, user=agent))
    InboxMember.objects.bulk_create(rows)

    now = datetime.now(UTC)
    per_conversation = max(1, messages // conversations)
    display = {b.pk: 0 for b in branches}
    statuses = ["open"] * 30 + ["pending"] * 5 + ["snoozed"] * 5 + ["resolved"] * 60
    priorities = ["none"] * 70 + ["low", "medium", "high", "urgent"] * 5 + ["high"] * 10

    def ts(value: datetime) -> str:
        return value.isoformat()

    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg 3 cursor
        with raw.copy("COPY chat_contact (id, name, email, phone, identifier, blocked, last_activity_at, "
                      "additional_attributes, custom_attributes, created_at) FROM STDIN") as copy:
            for cid in range(1, conversations + 1):
                copy.write_row((cid, f"Customer {cid} {rng.choice(WORDS).title()}", f"customer{cid}@mail.example",
                                f"+336{cid:08d}"[:12], None, False, None, "{}", "{}", ts(now)))
        with raw.copy("COPY chat_contactinbox (id, contact_id, inbox_id, source_id, pubsub_token, created_at) "
                      "FROM STDIN") as copy:
            for cid in range(1, conversations + 1):
                copy.write_row((cid, cid, inboxes[cid % 20].pk, f"visitor-{cid}", f"bench-token-{cid}", ts(now)))
        conversation_rows = []
        with raw.copy("COPY chat_conversation (id, display_id, branch_id, inbox_id, contact_id, contact_inbox_id, "
                      "assignee_id, status, priority, identifier, last_activity_at, waiting_since, "
                      "first_reply_created_at, contact_last_seen_at, agent_last_seen_at, snoozed_until, "
                      "additional_attributes, custom_attributes, created_at, resolved_at) FROM STDIN") as copy:
            for cid in range(1, conversations + 1):
                inbox = inboxes[cid % 20]
                display[inbox.branch_id] += 1
                status = rng.choice(statuses)
                assignee = rng.choice(members[inbox.pk]) if status != "open" or rng.random() < 0.5 else None
                created = now - timedelta(seconds=rng.randint(3600, 90 * 86400))
                count = rng.randint(1, 2 * per_conversation - 1)
                last = created + timedelta(seconds=60 * count)
                seen = created + timedelta(seconds=60 * rng.randint(0, count))
                # Report columns from their own generator: the other columns stay as before.
                first_reply = created + timedelta(seconds=report_rng.randint(15, 3600))
                resolved = min(now, created + timedelta(seconds=report_rng.randint(600, 3 * 86400)))
                conversation_rows.append((cid, created, count))
                if status == "resolved":
                    resolved_rows.append((cid, resolved, assignee))
                copy.write_row((
                    cid, display[inbox.branch_id], inbox.branch_id, inbox.pk, cid, cid, assignee, status,
                    rng.choice(priorities), None, ts(last), ts(created) if status == "open" else None,
                    ts(first_reply), None, ts(seen),
                    ts(now + timedelta(days=1)) if status == "snoozed" else None, "{}", "{}", ts(created),
                    ts(resolved) if status == "resolved" else None,
                ))
        with raw.copy("COPY chat_csatresponse (rating, feedback, created_at, updated_at, assignee_id, contact_id, "
                      "conversation_id) FROM STDIN") as copy:
            for cid, resolved, assignee in resolved_rows:
                if report_rng.random() < 0.3:  # three in ten resolved conversations get an answer
                    answered = ts(min(now, resolved + timedelta(minutes=5)))
                    copy.write_row((report_rng.choice([1, 2, 3, 4, 4, 5, 5, 5]), "", answered, answered, assignee,
                                    cid, cid))
        total = 0
        with raw.copy("COPY chat_message (conversation_id, direction, private, sender_contact_id, sender_user_id, "
                      "content, processed_message_content, content_type, content_attributes, "
                      "external_source_ids, source_id, echo_id, created_at) FROM STDIN") as copy:
            for cid, created, count in conversation_rows:
                if total >= messages:
                    break
                agent_id = rng.choice(members[inboxes[cid % 20].pk])
                for n in range(count):
                    kind = n % 2 if rng.random() > 0.1 else 2
                    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
                    if total % RARE_EVERY == RARE_EVERY // 2:
                        text += f" {RARE_WORD}"  # the rare word of the search cases: ~20 messages
                    at = ts(created + timedelta(seconds=60 * (n + 1)))
                    if kind == 0:
                        row = (cid, "incoming", False, cid, None, text, "", "text", "{}", "{}", None, None, at)
                    elif kind == 1:
                        row = (cid, "outgoing", rng.random() < 0.1, None, agent_id, text, "", "text", "{}", "{}",
                               None, None, at)
                    else:
                        row = (cid, "activity", False, None, None, "Conversation was resolved by Agent", "",
                               "text", "{}", "{}", None, None, at)
                    copy.write_row(row)
                    total += 1
        for table in ("chat_contact", "chat_contactinbox", "chat_conversation"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        for branch_id, last in display.items():
            cursor.execute("UPDATE chat_branch SET last_display_id = %s WHERE id = %s", [last, branch_id])
    loaded = time.perf_counter() - started
    # A few real events so the watermark has something to read.
    for cid in range(1, 51):
        conversation_set_priority(conversation_id=cid, priority="medium")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return {"admin": admin, "agents": agents, "members": members, "messages": total, "load_seconds": loaded,
            "total_seconds": time.perf_counter() - started}


def existing() -> dict[str, Any]:
    """The loaded database of an earlier ``--keep`` run (``--reuse``)."""
    from django.contrib.auth import get_user_model

    from chat.models import InboxMember, Message

    User = get_user_model()
    agents = list(User.objects.filter(username__startswith="agent").order_by("pk"))
    members: dict[int, list[int]] = {}
    for inbox_id, user_id in InboxMember.objects.order_by("pk").values_list("inbox_id", "user_id"):
        members.setdefault(inbox_id, []).append(user_id)
    return {"admin": User.objects.get(username="admin"), "agents": agents, "members": members,
            "messages": Message.objects.count(), "load_seconds": 0.0, "total_seconds": 0.0}


# --- Timing -----------------------------------------------------------------------------------


class QueryRecorder:
    """Records a request's statements (the main one is explained)."""

    def __init__(self) -> None:
        self.statements: list[tuple[float, str, Any]] = []

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append((time.perf_counter() - started, sql, params))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def summarize_plan(plan: dict[str, Any]) -> str:
    """Execution time, then how each big table is reached (scan type, index) and any sort."""
    found: list[str] = []

    def walk(node: dict[str, Any], where: str) -> None:
        relation = node.get("Relation Name", "")
        kind = node["Node Type"]
        label = ""
        if relation in ("chat_conversation", "chat_message", "chat_contact"):
            label = f"{kind} {node.get('Index Name') or relation}"
            if kind in ("Seq Scan", "Bitmap Heap Scan"):
                label = f"{kind} {relation}"
        elif kind == "Bitmap Index Scan" and node.get("Index Name", "").startswith(("conv", "msg", "chat_",
                                                                                  "contact_")):
            label = f"Bitmap Index Scan {node['Index Name']}"
        elif kind in ("Sort", "Incremental Sort"):
            label = kind
        if label:
            found.append(f"{where}{label}")
        for child in node.get("Plans", []):
            sub = child.get("Subplan Name", "")
            walk(child, "sub: " if sub or where else "")

    walk(plan["Plan"], "")
    unique = list(dict.fromkeys(found))
    return f"{plan['Execution Time']:.1f} ms: " + "; ".join(unique[:7])


def explain(sql: str, params: Any) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return summarize_plan(plan[0])


def time_case(client: Any, urls: list[str], runs: int) -> tuple[list[float], str]:
    from django.db import connection

    for url in urls[:3]:
        assert client.get(url).status_code == 200, url  # warm-up
    durations = []
    recorder = QueryRecorder()
    for index in range(runs):
        url = urls[index % len(urls)]
        recorder.statements.clear()
        with connection.execute_wrapper(recorder):
            started = time.perf_counter()
            response = client.get(url)
            durations.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.content[:300])
    selects = [s for s in recorder.statements if s[1].lstrip().upper().startswith("SELECT")]
    # The page query: the longest statement on conversations or messages (reports: the slowest
    # of their few aggregates).
    main = [s for s in selects if '"chat_conversation"' in s[1] or '"chat_message"' in s[1]] or selects
    if "/reports/" in urls[0]:
        slowest = max(main, key=lambda s: s[0])
    else:
        slowest = max(main, key=lambda s: len(s[1]))
    return durations, explain(slowest[1], slowest[2])


def time_sql(sql: str, params: list[Any], runs: int) -> tuple[list[float], str]:
    """A bare statement (the reports' baselines), timed as the REST cases are."""
    from django.db import connection

    durations = []
    with connection.cursor() as cursor:
        for index in range(runs + 3):
            started = time.perf_counter()
            cursor.execute(sql, params)
            cursor.fetchall()
            if index >= 3:  # warm-up
                durations.append((time.perf_counter() - started) * 1000)
    return durations, explain(sql, params)


def report_cases(data: dict[str, Any], admin_client: Any, agent_client: Any) -> tuple[list[Any], list[Any]]:
    """Reports (docs/reports.md) over the last 30 days, and bare COUNTs over the same window."""
    until = datetime.now(UTC).replace(microsecond=0)
    since = until - timedelta(days=30)
    window = f"since={since:%Y-%m-%dT%H:%M:%SZ}&until={until:%Y-%m-%dT%H:%M:%SZ}"
    agent = data["agents"][0]
    inbox = next(i for i, m in data["members"].items() if agent.pk in m)
    summary, series, agents = "/api/v1/reports/summary?", "/api/v1/reports/timeseries?", "/api/v1/reports/agents?"
    cases = [
        ("admin: reports summary, 30 days", admin_client, [summary + window]),
        ("admin: reports summary, 30 days, one inbox", admin_client, [summary + window + f"&inbox={inbox}"]),
        ("admin: reports summary, 30 days, one agent", admin_client, [summary + window + f"&agent={agent.pk}"]),
        ("agent: reports summary, 30 days (5 of 20 inboxes)", agent_client, [summary + window]),
        ("admin: reports summary CSV, 30 days", admin_client, [summary + window + "&format=csv"]),
        ("admin: reports timeseries opened / day", admin_client,
         [series + window + "&metric=conversations_opened&bucket=day"]),
        ("admin: reports timeseries incoming / hour (720 points)", admin_client,
         [series + window + "&metric=messages_incoming&bucket=hour"]),
        ("admin: reports timeseries first response / day", admin_client,
         [series + window + "&metric=first_response_seconds&bucket=day&tz=Europe/Paris"]),
        ("agent: reports timeseries incoming / day", agent_client,
         [series + window + "&metric=messages_incoming&bucket=day"]),
        ("admin: reports agents, 30 days (41 rows)", admin_client, [agents + window]),
        ("agent: reports agents, 30 days (own row)", agent_client, [agents + window]),
    ]
    baselines = [
        ("reports baseline: SQL COUNT(*) messages, 30 days",
         "SELECT count(*) FROM chat_message WHERE created_at >= %s AND created_at < %s", [since, until]),
        ("reports baseline: SQL COUNT(*) conversations created, 30 days",
         "SELECT count(*) FROM chat_conversation WHERE created_at >= %s AND created_at < %s", [since, until]),
    ]
    return cases, baselines


def run(args: argparse.Namespace) -> None:
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    from chat.models import Conversation

    data = existing() if args.reuse else load(conversations=args.conversations, messages=args.messages)
    print(f"loaded {args.conversations} conversations, {data['messages']} messages in {data['load_seconds']:.0f} s "
          f"(with VACUUM ANALYZE: {data['total_seconds']:.0f} s)\n")

    def client_for(user: Any) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
        return client

    agent = data["agents"][0]
    agent_client = client_for(agent)
    admin_client = client_for(data["admin"])
    base = "/api/v1/conversations/?limit=25"
    first = agent_client.get(base + "&status=all").json()
    page_20 = first["next"]
    for _ in range(18 if not args.only else 0):  # page 20 of "all"
        page_20 = agent_client.get(page_20).json()["next"]
    visible = list(Conversation.objects.filter(inbox_id__in=[i for i, m in data["members"].items() if agent.pk in m])
                   .order_by("?").values_list("pk", flat=True)[:200])
    busiest = (Conversation.objects.filter(pk__in=visible).order_by("-pk").values_list("pk", flat=True).first())
    history_urls = [f"/api/v1/conversations/{pk}/messages/?limit=20" for pk in visible]
    deep_history = []
    for pk in visible[:50]:
        body = agent_client.get(f"/api/v1/conversations/{pk}/messages/?limit=5").json()
        if body["next"]:
            deep_history.append(f"/api/v1/conversations/{pk}/messages/?limit=20&before={body['next']}")
    widget = APIClient()
    widget.credentials(HTTP_X_WIDGET_TOKEN=f"bench-token-{busiest}")
    cases = [
        ("agent: open / mine", agent_client, [base + "&status=open&assignee=me"]),
        ("agent: open / unassigned", agent_client, [base + "&status=open&assignee=unassigned"]),
        ("agent: open / all", agent_client, [base + "&status=open"]),
        ("agent: pending / all", agent_client, [base + "&status=pending"]),
        ("agent: snoozed / all", agent_client, [base + "&status=snoozed"]),
        ("agent: resolved / all", agent_client, [base + "&status=resolved"]),
        ("agent: all / all", agent_client, [base + "&status=all"]),
        ("agent: all, page 20 (cursor)", agent_client, [page_20]),
        ("agent: open, priority=high", agent_client, [base + "&status=open&priority=high"]),
        ("agent: open, one inbox", agent_client,
         [base + f"&status=open&inbox={next(i for i, m in data['members'].items() if agent.pk in m)}"]),
        ("agent: search q=<contact name>", agent_client, [base + "&status=all&q=Customer 4242"]),
        ("agent: search q=<common word>", agent_client, [base + "&status=all&q=refund"]),
        ("agent: search q=<rare word>", agent_client, [base + f"&status=all&q={RARE_WORD}"]),
        ("agent: search q=<text found nowhere>", agent_client, [base + "&status=all&q=zzz-no-such-text"]),
        ("agent: search q=<contact email>", agent_client, [base + "&status=all&q=customer4242@mail"]),
        ("admin: search q=<rare word>", admin_client, [base + f"&status=all&q={RARE_WORD}"]),
        ("admin: search q=<common word>", admin_client, [base + "&status=all&q=refund"]),
        ("agent: messages q=<common word>", agent_client, ["/api/v1/search/messages?q=refund"]),
        ("agent: messages q=<rare word>", agent_client, [f"/api/v1/search/messages?q={RARE_WORD}"]),
        ("agent: messages q=<contact name>", agent_client, ["/api/v1/search/messages?q=Customer 4242"]),
        ("agent: messages q=<phrase>", agent_client, ['/api/v1/search/messages?q="refund please"']),
        ("admin: messages q=<common word>", admin_client, ["/api/v1/search/messages?q=refund"]),
        ("admin: messages q=<rare word>", admin_client, [f"/api/v1/search/messages?q={RARE_WORD}"]),
        ("agent: tab counts (meta, open)", agent_client, ["/api/v1/conversations/meta/?status=open"]),
        ("admin: open / all", admin_client, [base + "&status=open"]),
        ("admin: open / unassigned", admin_client, [base + "&status=open&assignee=unassigned"]),
        ("admin: resolved / all", admin_client, [base + "&status=resolved"]),
        ("admin: tab counts (meta, open)", admin_client, ["/api/v1/conversations/meta/?status=open"]),
        ("agent: conversation detail", agent_client, [f"/api/v1/conversations/{pk}/" for pk in visible]),
        ("agent: history, newest page (20)", agent_client, history_urls),
        ("agent: history, older page (before=)", agent_client, deep_history or history_urls),
        ("widget: messages (20)", widget, ["/api/widget/v1/messages?limit=20"]),
    ]

    reports, baselines = report_cases(data, admin_client, agent_client)
    cases += reports
    print("| case | p50 ms | p95 ms | main query (EXPLAIN ANALYZE) |")
    print("|---|---:|---:|---|")
    for name, sql, params in baselines:
        if args.only and args.only not in name:
            continue
        durations, plan = time_sql(sql, params, args.runs)
        print(f"| {name} | {statistics.median(durations):.1f} | {percentile(durations, 0.95):.1f} | {plan} |",
              flush=True)
    for name, client, urls in cases:
        if args.only and args.only not in name:
            continue
        runs = args.runs
        durations, plan = time_case(client, urls, runs)
        print(f"| {name} | {statistics.median(durations):.1f} | {percentile(durations, 0.95):.1f} | {plan} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="time the database of an earlier --keep run")
    parser.add_argument("--only", default="", help="run only the cases whose name contains this text")
    args = parser.parse_args()
    base = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
    if not args.reuse:
        recreate_database(base)
    try:
        django_setup(base)
        from django.core.management import call_command

        if not args.reuse:
            call_command("migrate", verbosity=0)
        run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(base)


if __name__ == "__main__":
    main()
