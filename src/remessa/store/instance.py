"""One daemon per store: a lock held for the daemon's whole life, so that a second ``remessa run`` on the
same store refuses to start instead of re-queueing (and resending) what the first has in flight.

SQLite: an exclusive ``flock`` on ``<database>.lock`` beside the file, which names its holder. PostgreSQL:
a session advisory lock on a connection kept open; the kernel or the server releases either when the
process dies, however it dies, so a crashed daemon never blocks its successor.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from sqlalchemy import Connection, text

from remessa.errors import AlreadyRunning
from remessa.store.database import Database

ADVISORY_KEY = 0x72656D657373  # "remess": the lock id every remessa daemon of a PostgreSQL store takes


class InstanceLock:
    """Held from `acquire()` until `release()` (or the process ends)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._fd: int | None = None  # a raw descriptor: the lock lives exactly as long as it is open
        self._conn: Connection | None = None

    def acquire(self) -> None:
        """Take the lock; raises AlreadyRunning naming the holder when another daemon has it."""
        if self.db.is_sqlite:
            self._flock(Path(f"{self.db.url.database}.lock"))
        else:
            self._advisory()

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _flock(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(fd)
            raise AlreadyRunning(f"another remessa daemon uses the store {self.db.url.database}: {holder}"
                                 f" (lock {path})") from None
        since = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {since}\n".encode(), 0)
        self._fd = fd

    def _advisory(self) -> None:
        conn = self.db.engine.connect()
        taken = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_KEY}).scalar()
        conn.commit()
        if taken:
            self._conn = conn
            return
        holder = conn.execute(text(
            "SELECT a.pid, coalesce(host(a.client_addr), 'local'), a.application_name FROM pg_locks l"
            " JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
            " AND l.objid = (:key & 4294967295)"), {"key": ADVISORY_KEY}).first()
        conn.close()
        who = f"PostgreSQL backend pid {holder[0]}, client {holder[1]}" if holder else "another process"
        raise AlreadyRunning(f"another remessa daemon uses the store {self.db.url.render_as_string()}: {who}")
