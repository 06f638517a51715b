"""Outages are not authentication failures (DESIGN.md §13), in-process: the widget's auth timer,
the outage decision itself, and the REST and non-DRF answers to an outage.

The live tests with Redis killed and PostgreSQL cut are in test_outages_live.py.
"""
from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time

import psycopg
import psycopg_pool
import pytest
import redis
from django.db import OperationalError, connections, transaction
from django.db.utils import IntegrityError

from chat.consumers.base import handshake_close_code
from chat.errors import ContactBlocked, NotAuthenticated, PermissionDenied, Unavailable
from chat.outages import as_unavailable, is_outage, unavailable_on_outage
from chat.realtime.codes import CloseCode
from tests.realtime.conftest import TIMEOUT, closed_with, db
from tests.realtime.test_widget_socket import raw_widget

# --- The decision ---------------------------------------------------------------------------------


def _wrapped(cause: BaseException, wrapper: type[Exception] = OperationalError) -> Exception:
    """What Django raises for a driver error: its own class, caused by the driver's."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise wrapper(str(exc)) from exc
    except Exception as exc:
        return exc


@pytest.mark.parametrize("exc", [
    psycopg_pool.PoolTimeout("couldn't get a connection after 3.00 sec"),
    psycopg.OperationalError("connection refused"),
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    psycopg.errors.CannotConnectNow("the database system is starting up"),
    psycopg.errors.TooManyConnections("sorry, too many clients already"),
    psycopg.InterfaceError("the connection is closed"),
    redis.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused."),
    redis.TimeoutError("Timeout reading from socket"),
    redis.exceptions.BusyLoadingError("Redis is loading the dataset in memory"),
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    sqlite3.OperationalError("database is locked"),  # embedded mode: busy past the busy timeout
    Unavailable(),
])
def test_outages_are_recognised_bare_and_wrapped_by_django(exc):
    assert is_outage(exc)
    assert is_outage(_wrapped(exc))
    assert isinstance(as_unavailable(_wrapped(exc)), Unavailable)


@pytest.mark.parametrize("exc", [
    # Deadlocks and serialization failures are psycopg OperationalErrors, but about one
    # transaction, not the server: they must not read as "come back later".
    psycopg.errors.DeadlockDetected("deadlock detected"),
    psycopg.errors.SerializationFailure("could not serialize access"),
    psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
    psycopg.errors.UniqueViolation("duplicate key"),
    sqlite3.OperationalError("no such table: chat_message"),
    ValueError("bug"),
    TimeoutError(),
    NotAuthenticated(),
])
def test_other_errors_are_not_outages(exc):
    assert not is_outage(exc)
    assert as_unavailable(exc) is None or isinstance(exc, Unavailable)


def test_a_decision_taken_while_handling_an_outage_stays_that_decision():
    try:
        try:
            raise redis.ConnectionError("down")
        except redis.ConnectionError:
            raise NotAuthenticated() from None
    except NotAuthenticated as exc:
        assert not is_outage(exc)
    assert not is_outage(_wrapped(psycopg.errors.UniqueViolation("dup"), IntegrityError))


def test_unavailable_on_outage_converts_outages_only():
    with pytest.raises(Unavailable) as caught, unavailable_on_outage():
        raise _wrapped(psycopg_pool.PoolTimeout("timeout"))
    assert isinstance(caught.value.__cause__, OperationalError)
    with pytest.raises(ValueError), unavailable_on_outage():
        raise ValueError("not an outage")


@pytest.mark.parametrize(("exc", "code"), [
    (NotAuthenticated(), CloseCode.UNAUTHORIZED),
    (PermissionDenied(), CloseCode.FORBIDDEN),
    (ContactBlocked(), CloseCode.FORBIDDEN),
    (Unavailable(), CloseCode.UNAVAILABLE),
    (_wrapped(psycopg_pool.PoolTimeout("timeout")), CloseCode.UNAVAILABLE),
    (redis.ConnectionError("down"), CloseCode.UNAVAILABLE),
    (ValueError("a bug"), CloseCode.UNAVAILABLE),  # logged; the client retries, keeps its credentials
])
def test_handshake_close_codes(exc, code):
    """4401 only for a refused credential, 4403 only for forbidden; anything else is 4503."""
    assert handshake_close_code(exc) == code


# --- The widget's auth timer ----------------------------------------------------------------------


class TableLock:
    """Another session holds ACCESS EXCLUSIVE on a table until ``release()``: every read of it
    waits, as when the database is slow to answer."""

    def __init__(self, table: str) -> None:
        self.table = table
        self._locked = threading.Event()
        self._release = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with transaction.atomic(), connections["default"].cursor() as cursor:
                cursor.execute(f"LOCK TABLE {self.table} IN ACCESS EXCLUSIVE MODE")
                self._locked.set()
                self._release.wait(30)
        finally:
            connections.close_all()
            self._locked.set()

    def __enter__(self) -> TableLock:
        self._thread.start()
        assert self._locked.wait(10)
        return self

    def release(self) -> None:
        self._release.set()
        self._thread.join(10)

    def __exit__(self, *exc: object) -> None:
        self.release()


def _waiting_on(table: str) -> int:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass", [table])
        return int(cursor.fetchone()[0])


@pytest.mark.postgres
async def test_slow_token_lookup_is_not_an_auth_timeout(world, settings):
    """The auth frame arrived in time; the token lookup waits on the database for longer than
    the auth timeout. The socket must wait for the lookup (here: success), not close 4401."""
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.3
    comm = await raw_widget()
    with TableLock("chat_contactinbox") as lock:
        await comm.send_to(text_data=json.dumps(
            {"type": "auth", "ref": "auth", "data": {"pubsub_token": world.visitor.pubsub_token}}))
        deadline = time.monotonic() + TIMEOUT
        while not await db(_waiting_on)("chat_contactinbox"):  # the lookup is blocked on the lock
            assert time.monotonic() < deadline, "the token lookup never reached the database"
            await asyncio.sleep(0.02)
        # Three times the auth timeout with the lookup still blocked: the timer had its chance.
        assert await comm.receive_nothing(timeout=3 * settings.WS_AUTH_TIMEOUT_SECONDS)
        await db(lock.release)()
    frame = json.loads(await comm.receive_from(timeout=TIMEOUT))
    assert frame["type"] == "reply" and frame["ref"] == "auth" and frame["ok"], frame
    await comm.disconnect()


async def test_no_auth_frame_still_closes_4401(world, settings):
    settings.WS_AUTH_TIMEOUT_SECONDS = 0.2
    comm = await raw_widget()
    assert await closed_with(comm) == CloseCode.UNAUTHORIZED


async def test_wrong_token_still_closes_4401(world):
    comm = await raw_widget()
    reply_or_close = await command_or_close(comm, {"pubsub_token": "no-such-token"})
    assert reply_or_close == CloseCode.UNAUTHORIZED


async def command_or_close(comm, data) -> int:
    await comm.send_to(text_data=json.dumps({"type": "auth", "ref": "a", "data": data}))
    return await closed_with(comm)


# --- Django's own error path --------------------------------------------------------------------


def _server_error_while_handling(exc: Exception):
    from django.test import RequestFactory

    from project.middleware import server_error

    try:
        raise exc
    except Exception:  # Django calls handler500 inside its except block
        return server_error(RequestFactory().get("/anything/"))


def test_handler500_answers_an_outage_with_503_json():
    response = _server_error_while_handling(_wrapped(psycopg_pool.PoolTimeout("timeout")))
    assert response.status_code == 503
    assert json.loads(response.content)["error"]["code"] == "unavailable"
    assert response["Retry-After"]


def test_handler500_leaves_other_errors_a_plain_500():
    response = _server_error_while_handling(ValueError("bug"))
    assert response.status_code == 500
    assert b"unavailable" not in response.content
