"""Count the SQL a piece of code sends, in every thread (the sockets' database threads too).

``CaptureQueriesContext`` sees one connection of one thread, and neither the ``BEGIN`` psycopg
sends by itself nor the ``COMMIT``. ``SqlCount`` records every statement executed through a
Django cursor in any thread (savepoints included: Django sends them as statements; SQLite's
explicit ``BEGIN`` is not counted, as PostgreSQL's implicit one is not) and every
transaction: an explicit commit or rollback of an atomic block, or a statement run in
autocommit mode (its own transaction). Instrumentation only: the statements run as usual.

    with SqlCount() as sql:
        visitor_message_send(...)
    assert len(sql.statements) <= 6 and sql.transactions == 1
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper


@dataclass
class Statement:
    sql: str
    thread: str
    in_transaction: bool


@dataclass
class SqlCount:
    """Statements and transactions, optionally only of threads whose name passes ``threads``."""

    threads: Callable[[str], bool] = lambda name: True
    statements: list[Statement] = field(default_factory=list)
    commits: int = 0
    rollbacks: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _saved: list[tuple[Any, str, Any]] = field(default_factory=list)

    @property
    def transactions(self) -> int:
        """Explicit transactions ended, plus statements that ran in autocommit mode."""
        return self.commits + self.rollbacks + sum(1 for s in self.statements if not s.in_transaction)

    def sql(self) -> list[str]:
        return [s.sql for s in self.statements]

    def describe(self) -> str:
        lines = [f"{len(self.statements)} statements, {self.transactions} transaction(s):"]
        lines += [f"  [{s.thread}]{'' if s.in_transaction else ' (autocommit)'} {s.sql[:160]}" for s in self.statements]
        return "\n".join(lines)

    def _wanted(self) -> bool:
        return self.threads(threading.current_thread().name)

    def __enter__(self) -> SqlCount:
        count = self
        execute = CursorWrapper._execute_with_wrappers
        commit = BaseDatabaseWrapper.commit
        rollback = BaseDatabaseWrapper.rollback

        def counted_execute(self: CursorWrapper, sql: Any, params: Any, many: bool, executor: Any) -> Any:
            # SQLite's backend sends its BEGIN (IMMEDIATE) as a statement; psycopg's is implicit.
            # Either way it opens the transaction its COMMIT is counted for: not a statement.
            if count._wanted() and not str(sql).lstrip().upper().startswith("BEGIN"):
                with count._lock:
                    count.statements.append(Statement(
                        str(sql), threading.current_thread().name, not self.db.get_autocommit()))
            return execute(self, sql, params, many, executor)

        def counted_commit(self: BaseDatabaseWrapper) -> None:
            if count._wanted():
                with count._lock:
                    count.commits += 1
            commit(self)

        def counted_rollback(self: BaseDatabaseWrapper) -> None:
            if count._wanted():
                with count._lock:
                    count.rollbacks += 1
            rollback(self)

        self._saved = [(CursorWrapper, "_execute_with_wrappers", execute), (BaseDatabaseWrapper, "commit", commit),
                       (BaseDatabaseWrapper, "rollback", rollback)]
        CursorWrapper._execute_with_wrappers = counted_execute  # type: ignore[method-assign]
        BaseDatabaseWrapper.commit = counted_commit  # type: ignore[method-assign]
        BaseDatabaseWrapper.rollback = counted_rollback  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: Any) -> None:
        for owner, name, original in self._saved:
            setattr(owner, name, original)
