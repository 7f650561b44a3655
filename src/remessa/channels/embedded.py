"""The sandbox provider: an embedded stand-in for the real one that accepts messages, assigns UUIDs and
emits sent and delivery receipts with seed 002's codes, keeping its "server side" in its own SQLite file.
"""

from __future__ import annotations

import fnmatch
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from remessa.channels.base import ReceiptSink, Report
from remessa.errors import TemporaryFailure
from remessa.model import DELIVERED_CODES, SENT_CODES, Accepted, Outcome, OutgoingMessage, Receipt, Rejected

log = logging.getLogger(__name__)

SENT_SUCCESS = 2
DELIVERED_SUCCESS = 4
THREAD_NAME = "sandbox-receipts"
MAX_RETRY_WAIT = 5.0  # seconds between receipt rounds while the handler keeps failing
IDLE_WAIT = 5.0  # longest sleep of the receipt thread when nothing is outstanding

#: The provider's state. Times are UTC ISO 8601 with microseconds (so text order is time order).
#: A refused submission has no provider_id and a refused_code; an accepted one has a sent receipt and,
#: when sent_code is 2, a delivery receipt; `*_acked` turns 1 once the sink took it.
SCHEMA = """
CREATE TABLE IF NOT EXISTS submission (
    seq             INTEGER PRIMARY KEY,
    provider_id     TEXT UNIQUE,
    message_id      INTEGER NOT NULL,
    batch_id        INTEGER NOT NULL,
    destination     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    correlation_id  TEXT NOT NULL,
    submitted_at    TEXT NOT NULL,
    refused_code    INTEGER,
    sent_due        TEXT,
    sent_code       INTEGER,
    sent_acked      INTEGER NOT NULL DEFAULT 0,
    delivered_due   TEXT,
    delivered_code  INTEGER,
    delivered_acked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS submission_message ON submission (message_id);
CREATE INDEX IF NOT EXISTS submission_sent_pending ON submission (sent_due) WHERE sent_acked = 0;
CREATE INDEX IF NOT EXISTS submission_delivered_pending ON submission (delivered_due)
    WHERE delivered_acked = 0;
"""

_PENDING = """
SELECT 1 FROM submission WHERE sent_acked = 0 AND sent_due IS NOT NULL
UNION ALL
SELECT 1 FROM submission WHERE delivered_acked = 0 AND delivered_code IS NOT NULL AND delivered_due IS NOT NULL
LIMIT 1
"""
_DUE = """
SELECT due, level, provider_id, destination, correlation_id, sent_due, sent_code, delivered_code FROM (
    SELECT sent_due AS due, 0 AS level, * FROM submission
     WHERE sent_acked = 0 AND sent_due <= :now
    UNION ALL
    SELECT delivered_due AS due, 1 AS level, * FROM submission
     WHERE delivered_acked = 0 AND delivered_code IS NOT NULL AND delivered_due <= :now
) ORDER BY due, level, seq
"""


@dataclass(frozen=True)
class SandboxSettings:
    """A ``[providers.NAME]`` table of type ``sandbox``; patterns are fnmatch globs on the destination."""

    sent_delay: float = 0.2  # seconds from acceptance to the sent receipt (2 SENT_SUCCESS)
    delivered_delay: float = 0.5  # seconds from acceptance to the delivery receipt (4 DELIVERED_SUCCESS)
    refuse: dict[str, int] = field(default_factory=lambda: {"*0202": 202})  # refused at submit: sent code
    # accepted, then this code: a delivered code (104, 101) comes in the delivery receipt after a sent 2;
    # any other sent code (102, 103, 301...) comes in the sent receipt and there is no delivery receipt.
    fail: dict[str, int] = field(default_factory=lambda: {"*0104": 104})
    state: str = ""  # the provider's SQLite file; empty: <spool>/sandbox.sqlite
    down: bool = False  # simulate an outage: send raises TemporaryFailure, no receipts flow
    pump_interval: float = 0.05  # seconds between receipt rounds; 0: no thread, receipts only by pump()
    rate: float = 1000.0  # messages/s the provider takes (real time), also used for ETA and admission

    def __post_init__(self) -> None:
        for name in ("sent_delay", "delivered_delay", "pump_interval"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        for pattern, code in self.refuse.items():
            if code not in SENT_CODES or code == SENT_SUCCESS:
                raise ValueError(f"refuse[{pattern!r}]: {code} is not a sent failure code of seed 002")
        for pattern, code in self.fail.items():
            if code not in SENT_CODES.keys() | DELIVERED_CODES.keys() or code in (2, 4, 401):
                raise ValueError(f"fail[{pattern!r}]: {code} is not a failure code of seed 002")


def state_path(settings: SandboxSettings, spool: Path) -> Path:
    """Where the provider keeps its state."""
    return Path(settings.state) if settings.state else spool / "sandbox.sqlite"


def submissions(state: str | Path, message_id: int) -> int:
    """How many times our message `message_id` was submitted (accepted or refused); opens read-only."""
    with _read_only(state) as db:
        row = db.execute("SELECT count(*) FROM submission WHERE message_id = ?", (message_id,)).fetchone()
    return int(row[0])


def submission_counts(state: str | Path) -> dict[int, int]:
    """Our message id → number of submissions, for every message the provider ever saw; read-only."""
    with _read_only(state) as db:
        rows = db.execute("SELECT message_id, count(*) FROM submission GROUP BY message_id").fetchall()
    return {int(m): int(n) for m, n in rows}


@contextmanager
def _read_only(state: str | Path) -> Iterator[sqlite3.Connection]:
    path = Path(state)
    if not path.is_file():
        raise FileNotFoundError(f"no sandbox state file at {path}")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield db
    finally:
        db.close()


def _stamp(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("the sandbox clock must return aware datetimes")
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SandboxState:
    """The provider's side: submissions and pending receipts in a SQLite file, safe to share by threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def record(self, rows: Sequence[dict[str, Any]]) -> None:
        """Store the submissions of one send call in one transaction."""
        with self._write() as db:
            db.executemany(
                "INSERT INTO submission (provider_id, message_id, batch_id, destination, kind,"
                " correlation_id, submitted_at, refused_code, sent_due, sent_code, delivered_due,"
                " delivered_code) VALUES (:provider_id, :message_id, :batch_id, :destination, :kind,"
                " :correlation_id, :submitted_at, :refused_code, :sent_due, :sent_code,"
                " :delivered_due, :delivered_code)",
                rows,
            )

    def due(self, now: datetime) -> list[sqlite3.Row]:
        """Unacknowledged receipts due at `now`, in due order, a sent receipt before its delivery."""
        with self._lock:
            return self._db.execute(_DUE, {"now": _stamp(now)}).fetchall()

    def pending(self) -> bool:
        """Whether any receipt is still to be acknowledged."""
        with self._lock:
            return self._db.execute(_PENDING).fetchone() is not None

    def acknowledge(self, provider_id: str, level: int) -> None:
        column = "delivered_acked" if level else "sent_acked"
        with self._write() as db:
            db.execute(f"UPDATE submission SET {column} = 1 WHERE provider_id = ?", (provider_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()


class SandboxChannel:
    """A Channel whose provider is embedded: see SandboxSettings for what it refuses, fails and when."""

    def __init__(
        self,
        settings: SandboxSettings,
        *,
        spool: Path,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self.state_path = state_path(settings, spool)
        self._clock = clock
        self._state: SandboxState | None = None
        self._closed = False
        self._free_at = 0.0  # monotonic instant the throttle lets the next message in
        self._sink: ReceiptSink | None = None
        self._pump_lock = threading.Lock()  # one receipt round at a time (thread or a test's pump)
        self._stop = threading.Event()
        self._sent = threading.Event()  # set by send(): receipts are coming
        self._thread: threading.Thread | None = None
        self._failing_rounds = 0

    def open(self, sink: ReceiptSink) -> None:
        """Open the state file and, unless pump_interval is 0, start the receipt thread."""
        if self._closed or self._state is not None:
            raise RuntimeError("a sandbox channel is opened once")
        self._state = SandboxState(self.state_path)
        self._sink = sink
        if self.settings.pump_interval > 0:
            self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
            self._thread.start()
        log.info("sandbox provider open, state %s", self.state_path)

    def send(self, messages: Sequence[OutgoingMessage], report: Report | None = None) -> list[Outcome]:
        """Refuse or accept each message, committed (here and, through `report`, in the store) before
        returning.

        Raises TemporaryFailure when not open, closed, `down`, or the state file is unusable.
        """
        state = self._state
        if state is None or self._closed:
            raise TemporaryFailure(f"sandbox channel is {'closed' if self._closed else 'not open'}")
        if self.settings.down:
            raise TemporaryFailure("sandbox provider is down (settings.down)")
        if not messages:
            return []
        self._throttle(len(messages))
        now = self._clock()
        rows = [self._submission(m, now) for m in messages]
        try:
            state.record(rows)
        except sqlite3.Error as exc:  # closed under our feet, disk full, locked by another process
            raise TemporaryFailure(f"sandbox state {self.state_path} unavailable: {exc}") from exc
        self._sent.set()
        outcomes: list[Outcome] = []
        for message, row in zip(messages, rows, strict=True):
            if row["refused_code"] is not None:
                code = row["refused_code"]
                reason = f"{code} {SENT_CODES[code]}"
                outcomes.append(Rejected(message.id, reason, permanent=True, code=code))
                log.debug("sandbox: message %d refused with %d", message.id, code)
            else:
                outcomes.append(Accepted(message.id, row["provider_id"], parts=1))
                log.debug("sandbox: message %d accepted as %s", message.id, row["provider_id"])
        if report is not None:
            report(outcomes)
        return outcomes

    def _throttle(self, count: int) -> None:
        """Take messages no faster than `rate` per second of real time, like a provider's contract."""
        start = max(self._free_at, time.monotonic())
        self._free_at = start + count / self.settings.rate
        time.sleep(max(0.0, start - time.monotonic()))

    def pump(self, now: datetime | None = None) -> int:
        """Hand every receipt due at `now` (default: the clock) to the sink; return how many it took.

        A receipt is acknowledged only once the sink returns; one whose sink raised stays pending and
        comes again on a later round (its message's delivery receipt waits behind it).
        """
        with self._pump_lock:
            state, sink = self._state, self._sink
            if state is None or sink is None or self._closed or self.settings.down:
                return 0
            taken, failed = 0, 0
            first_error: BaseException | None = None
            held: set[str] = set()
            for row in state.due(now if now is not None else self._clock()):
                if self._stop.is_set():
                    break  # closing: the rest stays pending for the next run
                if row["provider_id"] in held:
                    continue
                try:
                    sink.receipts([_receipt(row)])
                except Exception as exc:  # the daemon's handler failing must not stop the provider
                    held.add(row["provider_id"])
                    failed += 1
                    first_error = first_error or exc
                    continue
                state.acknowledge(row["provider_id"], row["level"])
                taken += 1
            if failed:
                self._failing_rounds += 1
                log.warning(
                    "sandbox: %d receipts not acknowledged (handler raised), will redeliver",
                    failed, exc_info=first_error,
                )
            else:
                self._failing_rounds = 0
            return taken

    def close(self) -> None:
        """Stop the receipt thread and close the state file (waits at most ~3 s); idempotent.

        A receipt whose handler is still running when the wait ends is left unacknowledged: it comes
        again when the state file is next opened.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._sent.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        idle = self._pump_lock.acquire(timeout=1.0)
        try:
            if not idle:
                log.warning("sandbox: receipt handler still busy, closing anyway")
            if self._state is not None:
                self._state.close()
        finally:
            if idle:
                self._pump_lock.release()
        log.info("sandbox provider closed")

    def _run(self) -> None:
        wait = self.settings.pump_interval
        while not self._stop.wait(wait):
            try:
                self.pump()
            except Exception:
                log.exception("sandbox: receipt round failed")
                self._failing_rounds += 1
            wait = min(MAX_RETRY_WAIT, self.settings.pump_interval * 2 ** min(self._failing_rounds, 10))
            if not self._failing_rounds:
                self._idle()

    def _idle(self) -> None:
        """With no receipt outstanding, sleep until something is sent (or a while passes), not every
        pump_interval: an idle daemon must cost next to nothing."""
        self._sent.clear()
        state = self._state
        if state is not None and not self._closed and not state.pending():
            self._sent.wait(IDLE_WAIT)

    def _submission(self, message: OutgoingMessage, now: datetime) -> dict[str, Any]:
        row: dict[str, Any] = {
            "provider_id": None, "message_id": message.id, "batch_id": message.batch_id,
            "destination": message.destination, "kind": message.kind,
            "correlation_id": message.correlation_id, "submitted_at": _stamp(now),
            "refused_code": _match(self.settings.refuse, message.destination),
            "sent_due": None, "sent_code": None, "delivered_due": None, "delivered_code": None,
        }
        if row["refused_code"] is not None:
            return row
        fail = _match(self.settings.fail, message.destination)
        sent_delay = self.settings.sent_delay
        row["provider_id"] = str(uuid.uuid4())
        row["sent_due"] = _stamp(now + timedelta(seconds=sent_delay))
        if fail is not None and fail not in DELIVERED_CODES:
            row["sent_code"] = fail  # refused by the carrier: no second level
            return row
        row["sent_code"] = SENT_SUCCESS
        delivered_delay = max(sent_delay, self.settings.delivered_delay)
        row["delivered_due"] = _stamp(now + timedelta(seconds=delivered_delay))
        row["delivered_code"] = fail if fail is not None else DELIVERED_SUCCESS
        return row


def _match(patterns: dict[str, int], destination: str) -> int | None:
    for pattern, code in patterns.items():
        if fnmatch.fnmatchcase(destination, pattern):
            return code
    return None


def _receipt(row: sqlite3.Row) -> Receipt:
    """The receipt of one level, shaped like seed 002's callback (sent) or DR (both levels) JSON."""
    at = datetime.fromisoformat(row["due"])
    sent_code = row["sent_code"]
    raw: dict[str, Any] = {
        "id": row["provider_id"], "correlationId": row["correlation_id"],
        "destination": row["destination"], "sentStatusCode": sent_code,
        "sentStatus": SENT_CODES[sent_code], "sentStatusDate": row["sent_due"],
    }
    if row["level"] == 0:
        return Receipt(row["provider_id"], at, sent_code, SENT_CODES[sent_code],
                       correlation_id=row["correlation_id"], raw=raw)
    code = row["delivered_code"]
    raw.update(deliveredStatusCode=code, deliveredStatus=DELIVERED_CODES[code], deliveredDate=row["due"])
    return Receipt(row["provider_id"], at, sent_code, SENT_CODES[sent_code], code, DELIVERED_CODES[code],
                   row["correlation_id"], raw)

