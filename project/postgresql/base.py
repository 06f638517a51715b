"""Django's PostgreSQL backend, with one change to its connection pool's health check.

Django 5.2 creates the psycopg_pool pool itself and passes ``check=ConnectionPool.check_connection``
when CONN_HEALTH_CHECKS is on (``django/db/backends/postgresql/base.py``; a ``check`` in the pool
options would be a duplicate argument). That check alone is not enough after a PostgreSQL
restart: every idle connection in the pool is dead, and psycopg_pool, after each failed check,
sleeps before trying the next one (1 s, then 2 s, 4 s...), so with a few dead connections a
request runs out of DB_POOL_TIMEOUT_SECONDS and fails. Here a failed check also sweeps the pool
(``ConnectionPool.check()``: every idle connection is tested, the dead ones are replaced at
once), so the request's next attempt gets a fresh connection: the first request after a
restart succeeds (about one second late) instead of failing. Measured by
tests/realtime/test_outages_live.py::test_terminated_sessions_are_not_handed_out.
"""
from __future__ import annotations

from typing import Any

from django.db.backends.base.base import NO_DB_ALIAS
from django.db.backends.postgresql import base as postgresql


class DatabaseWrapper(postgresql.DatabaseWrapper):
    @property
    def pool(self) -> Any:
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        pools: dict[str, Any] = self._connection_pools  # type: ignore[attr-defined]  # Django's, per alias
        if (self.alias != NO_DB_ALIAS and pool_options and self.alias not in pools
                and self.settings_dict["CONN_HEALTH_CHECKS"] and not self.settings_dict.get("CONN_MAX_AGE")):
            # As in Django: threads may race to create it; the first stored wins, the others
            # were never opened.
            pools.setdefault(self.alias, self._new_pool({} if pool_options is True else pool_options))
        return super().pool

    def _new_pool(self, pool_options: dict[str, Any]) -> Any:
        """The pool Django would create (see its ``pool`` property), with ``check_and_sweep``."""
        from psycopg_pool import ConnectionPool

        connect_kwargs = self.get_connection_params()
        connect_kwargs["autocommit"] = True
        pool: ConnectionPool | None = None

        def check_and_sweep(conn: Any) -> None:
            try:
                ConnectionPool.check_connection(conn)
            except Exception:
                if pool is not None:
                    pool.check()  # the other idle connections died with this one: replace them now
                raise

        pool = ConnectionPool(
            kwargs=connect_kwargs,
            open=False,
            configure=self._configure_connection,  # type: ignore[attr-defined]
            check=check_and_sweep,
            **pool_options,
        )
        return pool
