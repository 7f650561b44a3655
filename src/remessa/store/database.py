"""The connection to the database and its transaction rules; the store's queries build on it.

SQLite by default (WAL, busy timeout, every write transaction ``BEGIN IMMEDIATE``), PostgreSQL by URL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url


class FairLock:
    """A lock granted in the order it was asked for. A plain Lock lets the thread that just released it
    take it again before a waiter wakes: a stream of receipt commits kept the dispatcher waiting ~0.5 s."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._next = 0  # the next ticket to hand out
        self._serving = 0  # the ticket that holds the lock

    def __enter__(self) -> None:
        with self._turn:
            ticket = self._next
            self._next += 1
            while ticket != self._serving:
                self._turn.wait()

    def __exit__(self, *exc: object) -> None:
        with self._turn:
            self._serving += 1
            self._turn.notify_all()


class Database:
    """Engines for one database URL; safe to share between threads (each call takes its own connection)."""

    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        if self.is_sqlite and self.url.database:
            Path(self.url.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, pool_pre_ping=not self.is_sqlite)
        if self.is_sqlite:
            _tune_sqlite(self.engine)
        # Reads begin DEFERRED so a long report never holds the write lock.
        self.reader: Engine = self.engine.execution_options(readonly=True)
        self._write_lock = FairLock()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction. Writers of this process queue on a lock, in turn: SQLite's own busy
        handler sleeps in steps of up to 100 ms, which would stall the dispatcher behind the receipts."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self, if_needed: bool = False) -> None:
        """Bring the schema to the newest revision (alembic); with `if_needed`, only when it is not there
        already (a read-only command then never takes the write lock)."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        if if_needed:
            with self.reader.connect() as conn:
                current = MigrationContext.configure(conn).get_current_heads()
            if set(current) == set(ScriptDirectory.from_config(cfg).get_heads()):
                return
        with self.write() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")


def _tune_sqlite(engine: Engine) -> None:
    """WAL, NORMAL sync, foreign keys, busy timeout; write transactions begin IMMEDIATE.

    A deferred transaction that reads and then writes fails at once with "database is locked" when
    another connection writes, whatever the busy timeout; IMMEDIATE takes the write lock up front.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let the begin hook below issue BEGIN itself
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        readonly = conn.get_execution_options().get("readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
