"""The outbox dispatcher: written in the transaction, published once after commit."""
from __future__ import annotations

import pytest
from django.db import connection, transaction

from chat.events import EventDraft, EventType, dispatch, dispatch_all
from chat.models import Event
from chat.outbox import read_released
from chat.outbox import watermark as stable_watermark
from tests.concurrency import HeldTransaction
from tests.factories import InboxFactory
from tests.payloads import conversation_stub


@pytest.mark.django_db(transaction=True)
def test_event_is_not_published_when_the_transaction_rolls_back(published):
    inbox = InboxFactory()
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub(1), inbox_id=inbox.pk)
            raise RuntimeError("boom")
    assert published == []
    assert not Event.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_event_is_published_once_after_commit(published):
    inbox = InboxFactory()
    with transaction.atomic():
        row = dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub(1), inbox_id=inbox.pk)
        assert published == []  # nothing leaves before the commit
    assert [e.id for e in published] == [row.id]
    assert published[0].payload == conversation_stub(1) and published[0].inbox_id == inbox.pk


@pytest.mark.django_db(transaction=True)
def test_nested_savepoint_rollback_drops_only_its_event(published):
    inbox = InboxFactory()
    with transaction.atomic():
        kept = dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub(), inbox_id=inbox.pk)
        try:
            with transaction.atomic():
                dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub(), inbox_id=inbox.pk)
                raise ValueError
        except ValueError:
            pass
    assert [e.id for e in published] == [kept.id]
    assert list(Event.objects.values_list("id", flat=True)) == [kept.id]


@pytest.mark.django_db(transaction=True)
def test_dispatch_outside_a_transaction_is_a_programming_error():
    with pytest.raises(RuntimeError):
        dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub())


@pytest.mark.django_db
def test_operator_only_types_never_go_to_everyone():
    with transaction.atomic():
        row = dispatch(EventType.ASSIGNEE_CHANGED, payload={"assignee": None}, audience="everyone")
    assert row.audience == "operators"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_late_commit_holds_back_later_ids_until_it_ends():
    """T1 allocates id N and stays open; T2 allocates N+1 and commits. The reader must not
    release N+1 (a cursor moved past it would lose N); once T1 commits, both come, in order."""
    inbox = InboxFactory()
    start = stable_watermark()
    with HeldTransaction(EventType.CONVERSATION_UPDATED, payload=conversation_stub("late"), inbox_id=inbox.pk) as late:
        late_id = late.start()
        with transaction.atomic():
            early_id = dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub("early"), inbox_id=inbox.pk).id
        assert early_id > late_id
        assert Event.objects.filter(pk=early_id).exists() and not Event.objects.filter(pk=late_id).exists()

        held = read_released(start)
        assert held.events == [] and held.watermark == start
        assert stable_watermark() < late_id
        late.commit()
    released = read_released(start)
    assert [e.id for e in released.events] == [late_id, early_id]
    assert released.watermark == early_id == stable_watermark()
    assert connection.vendor == "postgresql"


@pytest.mark.django_db(transaction=True)
def test_reader_releases_committed_events_in_id_order():
    inbox = InboxFactory()
    start = stable_watermark()
    created = []
    for n in range(3):
        with transaction.atomic():
            created.append(dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub(n), inbox_id=inbox.pk).id)
    batch = read_released(start, limit=2)
    assert [e.id for e in batch.events] == created[:2] and batch.more
    rest = read_released(batch.watermark)
    assert [e.id for e in rest.events] == created[2:] and not rest.more


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_hold_is_decided_in_the_snapshot_that_read_the_rows():
    """A transaction that commits after the reader's rows were read but before it decides what
    to release must still hold later ids back: its event is not among the rows read, and a
    cursor moved past it would skip it for good (seen under load in bench/relay.py). A
    REPEATABLE READ transaction pins the reader's snapshot to make that moment deterministic."""
    inbox = InboxFactory()
    start = stable_watermark()
    with HeldTransaction(EventType.CONVERSATION_UPDATED, payload=conversation_stub(), inbox_id=inbox.pk) as late:
        late_id = late.start()
        with transaction.atomic():
            early_id = dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub(), inbox_id=inbox.pk).id

        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cursor.execute("SELECT 1")  # the snapshot is taken here, before T1 commits
            late.commit()
            batch = read_released(start)
            assert batch.events == [] and batch.watermark == start and batch.held
    assert [e.id for e in read_released(start).events] == [late_id, early_id]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_late_commit_of_a_younger_transaction_still_holds_back_later_ids():
    """The order of transaction ids is not the order of event ids: here the transaction that
    commits the later id began (took its xid) *before* the one that holds the earlier id open.
    A rule "release what is older than every running transaction" would release it and lose
    the earlier id; the row's xmin is assigned after its id, so it is not fooled."""
    inbox = InboxFactory()
    start = stable_watermark()
    late = HeldTransaction(EventType.CONVERSATION_UPDATED, payload=conversation_stub("late"), inbox_id=inbox.pk)
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_current_xact_id()::text")
                older_xid = int(cursor.fetchone()[0])
            late_id = late.start()  # a younger transaction takes the earlier id and stays open
            early_id = dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub("early"), inbox_id=inbox.pk).id
            assert early_id > late_id
        # The older transaction (the later id) has committed; the younger one is still open.
        assert Event.objects.filter(pk=early_id).exists() and not Event.objects.filter(pk=late_id).exists()
        with connection.cursor() as cursor:
            cursor.execute("SELECT backend_xid::text FROM pg_stat_activity WHERE datname = current_database() "
                           "AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()")
            running = [int(x) for (x,) in cursor.fetchall()]
        assert running and all(x > older_xid % 2**32 for x in running)  # the open one is the younger
        held = read_released(start)
        assert held.events == [] and held.held and stable_watermark() < late_id
    finally:
        late.commit()
    assert [e.id for e in read_released(start).events] == [late_id, early_id]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_transaction_of_another_database_holds_nothing_back():
    """Transaction ids are cluster-wide; a transaction left open in another database of the same
    server cannot commit one of our events and must not stall our stream."""
    import psycopg

    inbox = InboxFactory()
    start = stable_watermark()
    db = connection.settings_dict
    with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"] or None,
                         password=db["PASSWORD"] or None, dbname="postgres") as other:
        other.execute("SELECT pg_current_xact_id()")  # an open transaction with an xid, elsewhere
        with transaction.atomic():
            event_id = dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub(), inbox_id=inbox.pk).id
        released = read_released(start)
        assert [e.id for e in released.events] == [event_id] and not released.held
        assert stable_watermark() == event_id
        other.rollback()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_event_costs_one_statement_and_reads_no_other_session():
    from tests.sqlcount import SqlCount

    inbox = InboxFactory()
    with transaction.atomic():
        with SqlCount() as sql:
            dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub(1), inbox_id=inbox.pk)
            dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub(2), inbox_id=inbox.pk)
    assert len(sql.statements) == 2, sql.describe()
    assert not any("pg_stat_activity" in s for s in sql.sql())


# --- Several events of one change in one statement (dispatch_all) -------------------------------


def drafts(inbox_id, count=3, **kwargs):
    return [EventDraft(EventType.CONVERSATION_UPDATED, conversation_stub(n), inbox_id=inbox_id, **kwargs)
            for n in range(count)]


@pytest.mark.django_db(transaction=True)
def test_events_of_one_change_are_written_in_one_statement_in_order(published):
    from tests.sqlcount import SqlCount

    inbox = InboxFactory()
    with transaction.atomic():
        with SqlCount() as sql:
            rows = dispatch_all(drafts(inbox.pk))
        assert published == []
    assert len(sql.statements) == 1, sql.describe()
    ids = [row.id for row in rows]
    assert ids == sorted(ids) and len(set(ids)) == 3
    assert [e.id for e in published] == ids
    assert [e.payload for e in published] == [conversation_stub(n) for n in range(3)]
    stored = list(Event.objects.order_by("id").values_list("id", "payload", "created_at"))
    assert [(i, p) for i, p, _ in stored] == [(row.id, row.payload) for row in rows]
    assert [row.created_at for row in rows] == [c for _, _, c in stored]


@pytest.mark.django_db(transaction=True)
def test_events_of_one_change_share_its_fate(published):
    inbox = InboxFactory()
    with transaction.atomic():
        kept = dispatch_all(drafts(inbox.pk, 2))
        try:
            with transaction.atomic():
                dispatch_all(drafts(inbox.pk, 3))
                raise ValueError
        except ValueError:
            pass
    assert [e.id for e in published] == [row.id for row in kept]
    assert list(Event.objects.values_list("id", flat=True)) == [row.id for row in kept]


@pytest.mark.django_db(transaction=True)
def test_events_of_one_change_follow_the_audience_rule():
    with transaction.atomic():
        rows = dispatch_all([EventDraft(EventType.ASSIGNEE_CHANGED, {"assignee": None}, audience="everyone"),
                             EventDraft(EventType.CONVERSATION_UPDATED, conversation_stub(), audience="everyone")])
    assert [row.audience for row in rows] == ["operators", "everyone"]
    with pytest.raises(RuntimeError):
        dispatch_all(drafts(None, 2))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_late_commit_holds_back_a_later_batch_until_it_ends():
    inbox = InboxFactory()
    start = stable_watermark()
    with HeldTransaction(EventType.CONVERSATION_UPDATED, payload=conversation_stub("late"), inbox_id=inbox.pk) as late:
        late_id = late.start()
        with transaction.atomic():
            early = [row.id for row in dispatch_all(drafts(inbox.pk))]
        assert min(early) > late_id
        held = read_released(start)
        assert held.events == [] and held.held and stable_watermark() < late_id
        late.commit()
    assert [e.id for e in read_released(start).events] == [late_id, *early]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_late_batch_holds_back_later_ids_until_it_ends():
    """Every row of a batch still open holds back what was committed after it: the reader
    stops at the batch's first id, and delivers it whole, in order, once it commits."""
    inbox = InboxFactory()
    start = stable_watermark()
    late = HeldTransaction(EventType.CONVERSATION_UPDATED, batch=3, payload=conversation_stub("late"), inbox_id=inbox.pk)
    with late:
        late.start()
        with transaction.atomic():
            early_id = dispatch(EventType.CONVERSATION_UPDATED, payload=conversation_stub("early"), inbox_id=inbox.pk).id
        assert early_id > max(late.event_ids) and late.event_ids == sorted(late.event_ids)
        held = read_released(start)
        assert held.events == [] and held.held and stable_watermark() < late.event_ids[0]
        late.commit()
    assert [e.id for e in read_released(start).events] == [*late.event_ids, early_id]


# --- Sends from a process without an event loop (the worker, commands) -------------------------


def test_sends_from_a_thread_without_an_event_loop_share_one_loop_and_arrive():
    """The worker and the commands have no event loop to send through: their pokes and control
    messages go through one loop kept for the process (not a new loop, thread and layer
    connection for every send), and arrive."""
    import asyncio
    import threading

    from channels.layers import get_channel_layer

    from chat.event_types import ControlType
    from chat.events import STREAM_GROUP, _sender_loop, poke_stream

    layer = get_channel_layer()
    loop = _sender_loop()

    def run(coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=10)

    channel = run(layer.new_channel())
    run(layer.group_add(STREAM_GROUP, channel))
    try:
        threads_before = {t.ident for t in threading.enumerate()}
        for _ in range(3):
            poke_stream()
        assert [t for t in threading.enumerate() if t.ident not in threads_before] == []
        assert run(layer.receive(channel)) == {"type": str(ControlType.STREAM_POKE)}
    finally:
        run(layer.group_discard(STREAM_GROUP, channel))
    assert [t.name for t in threading.enumerate()].count("channel-layer-sender") == 1
