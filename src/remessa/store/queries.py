"""The Store facade: every query the layers above make, each in its own transaction.

Writes on messages that must share a transaction live beside it (outcomes, receipts, inbound).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from remessa.errors import NotFound
from remessa.model import (
    AWAITING_RECEIPT,
    MAY_BE_READ,
    PENDING,
    Batch,
    BatchState,
    Inbound,
    Message,
    Outcome,
    Receipt,
    Status,
)
from remessa.store import schema
from remessa.store.database import Database
from remessa.store.inbound import record_inbound
from remessa.store.instance import InstanceLock
from remessa.store.outcomes import SUBMITTING_BY_ID, apply_outcomes, in_doubt
from remessa.store.receipts import mark_no_receipt, reason_codes, record_receipts
from remessa.store.retention import delete_messages, prunable, prune
from remessa.store.rows import batch_from_row, batch_values, message_from_row
from remessa.store.schema import batches, blocklist, messages, provider_state

log = logging.getLogger(__name__)

INSERT_CHUNK = 100_000  # rows per transaction when storing a file


#: a submission's answers were committed: the batch's first and last submit instants (one prepared statement,
#: run once per group of answers)
_TOUCH_SUBMIT = (
    update(batches)
    .where(batches.c.id == bindparam("bid"))
    .values(first_submit_at=func.coalesce(batches.c.first_submit_at, bindparam("now")),
            last_submit_at=bindparam("now"), changed_at=bindparam("now"))
)


class Store:
    """The queries on the database; safe to share between threads (each call takes its own connection)."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self._instance = InstanceLock(self.db)

    def hold(self) -> None:
        """Claim the store for this daemon until close(); raises AlreadyRunning if another daemon has it."""
        self._instance.acquire()

    def migrate(self, if_needed: bool = False) -> None:
        """Bring the schema to the newest revision (with `if_needed`: only if it is not there yet)."""
        self.db.migrate(if_needed)

    def close(self) -> None:
        self._instance.release()
        self.db.close()

    # --- batches -------------------------------------------------------------------------------

    def create_batch(self, **values: Any) -> int:
        values = batch_values(values)
        with self.db.write() as conn:
            key = conn.execute(batches.insert().values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def update_batch(self, batch_id: int, **values: Any) -> None:
        with self.db.write() as conn:
            conn.execute(update(batches).where(batches.c.id == batch_id).values(**batch_values(values)))

    def batch(self, batch_id: int) -> Batch:
        with self.db.reader.connect() as conn:
            row = conn.execute(select(batches).where(batches.c.id == batch_id)).first()
        if row is None:
            raise NotFound(f"no batch {batch_id}")
        return batch_from_row(row)

    def find_batch(self, name: str, profile: str | None = None) -> Batch:
        """The newest batch whose file name (or final name) is `name`."""
        query = select(batches).where((batches.c.name == name) | (batches.c.final_name == name))
        if profile:
            query = query.where(batches.c.profile == profile)
        with self.db.reader.connect() as conn:
            row = conn.execute(query.order_by(batches.c.id.desc())).first()
        if row is None:
            raise NotFound(f"no batch named {name!r}" + (f" in profile {profile!r}" if profile else ""))
        return batch_from_row(row)

    def name_taken(self, profile: str, name: str, exclude: int | None = None) -> bool:
        query = select(func.count()).where(
            batches.c.profile == profile, batches.c.name == name, batches.c.id != (exclude or 0)
        )
        with self.db.reader.connect() as conn:
            return bool(conn.execute(query).scalar())

    def batches(self, states: Iterable[str] | None = None) -> list[Batch]:
        query = select(batches).order_by(batches.c.id)
        if states is not None:
            query = query.where(batches.c.state.in_(list(states)))
        with self.db.reader.connect() as conn:
            return [batch_from_row(row) for row in conn.execute(query)]

    # --- storing a file's rows -----------------------------------------------------------------

    def add_messages(self, batch_id: int, rows: Iterable[Sequence[Any]]) -> int:
        """Store rows (tuples in schema.MESSAGE_INSERT_COLUMNS order, batch_id omitted) in large
        transactions; each commit also records the batch's progress, so an interrupted load resumes."""
        columns = ", ".join(schema.MESSAGE_INSERT_COLUMNS)
        mark = "?" if self.db.is_sqlite else "%s"
        sql = f"INSERT INTO messages ({columns}) VALUES ({', '.join([mark] * len(schema.MESSAGE_INSERT_COLUMNS))})"
        total = 0
        chunk: list[tuple[Any, ...]] = []
        for row in rows:
            chunk.append((batch_id, *row))
            if len(chunk) >= INSERT_CHUNK:
                total += self._insert_chunk(batch_id, sql, chunk)
                chunk = []
        if chunk:
            total += self._insert_chunk(batch_id, sql, chunk)
        return total

    def _insert_chunk(self, batch_id: int, sql: str, chunk: list[tuple[Any, ...]]) -> int:
        with self.db.write() as conn:
            conn.exec_driver_sql(sql, chunk)
            conn.execute(
                update(batches)
                .where(batches.c.id == batch_id)
                .values(rows=batches.c.rows + len(chunk), last_line=chunk[-1][1])
            )
        return len(chunk)

    def destinations(self, batch_id: int) -> Iterator[tuple[str, int]]:
        """(destination, line) of every stored row that passed validation, for re-seeding
        de-duplication on resume."""
        query = select(messages.c.destination, messages.c.line).where(
            messages.c.batch_id == batch_id, messages.c.status.not_in([Status.INVALID, Status.BLOCKED])
        )
        with self.db.reader.connect() as conn:
            for row in conn.execute(query.execution_options(yield_per=10_000)):
                yield row[0], row[1]

    def discard_messages(self, batch_id: int) -> None:
        with self.db.write() as conn:
            delete_messages(conn, batch_id)
            conn.execute(update(batches).where(batches.c.id == batch_id).values(rows=0, last_line=0))

    # --- dispatch ------------------------------------------------------------------------------

    def dispatchable(self) -> list[Batch]:
        """Queued, unpaused batches that still have messages to submit, highest priority first."""
        has_queued = (
            select(messages.c.id)
            .where(messages.c.batch_id == batches.c.id, messages.c.status == Status.QUEUED)
            .exists()
        )
        query = (
            select(batches)
            .where(batches.c.state == BatchState.QUEUED, batches.c.paused == 0, has_queued)
            .order_by(batches.c.priority.desc(), batches.c.id)
        )
        with self.db.reader.connect() as conn:
            return [batch_from_row(row) for row in conn.execute(query)]

    def claim(self, batch_id: int, limit: int, now: float) -> list[Message]:
        """Mark up to `limit` queued messages SUBMITTING (committed before they go out) and return them."""
        ids = (
            select(messages.c.id)
            .where(messages.c.batch_id == batch_id, messages.c.status == Status.QUEUED)
            .order_by(messages.c.id)
            .limit(limit)
        )
        if not self.db.is_sqlite:
            ids = ids.with_for_update(skip_locked=True)
        with self.db.write() as conn:
            claimed = conn.execute(
                update(messages)
                .where(messages.c.id.in_(ids.scalar_subquery()))
                .values(status=Status.SUBMITTING, attempts=messages.c.attempts + 1, submitted_at=now)
                .returning(*messages.c)
            ).all()
        return sorted((message_from_row(row) for row in claimed), key=lambda m: m.id)

    def record_outcomes(self, batch_id: int, outcomes: Sequence[Outcome], now: float, max_attempts: int = 5) -> None:
        """Commit what the provider answered; a receipt that arrived before its id is applied now; a message
        refused temporarily `max_attempts` times is REJECTED."""
        with self.db.write() as conn:
            apply_outcomes(conn, batch_id, outcomes, max_attempts)
            self._touch_submit(conn, batch_id, now)

    def release(self, message_ids: Sequence[int]) -> None:
        """Put SUBMITTING messages back in the queue (the provider did not take them: the attempt does not
        count towards max_attempts, and the reason an earlier attempt left, e.g. in_flight_retried, stays)."""
        if message_ids:
            with self.db.write() as conn:
                conn.execute(SUBMITTING_BY_ID.values(status=Status.QUEUED, attempts=messages.c.attempts - 1),
                             [{"mid": mid} for mid in message_ids])

    @staticmethod
    def _touch_submit(conn: Connection, batch_id: int, now: float) -> None:
        conn.execute(_TOUCH_SUBMIT, {"bid": batch_id, "now": now})

    def expire(self, batch_id: int, reason: str, now: float) -> int:
        """Every still-queued message of the batch becomes EXPIRED with `reason`; returns how many."""
        with self.db.write() as conn:
            done = conn.execute(
                update(messages)
                .where(messages.c.batch_id == batch_id, messages.c.status == Status.QUEUED)
                .values(status=Status.EXPIRED, reason=reason)
            ).rowcount
            conn.execute(update(batches).where(batches.c.id == batch_id).values(changed_at=now))
        return int(done or 0)

    def queued(self, batch_ids: Iterable[int] | None = None) -> dict[int, int]:
        """Messages still waiting to be submitted, per batch."""
        query = (
            select(messages.c.batch_id, func.count())
            .where(messages.c.status == Status.QUEUED)
            .group_by(messages.c.batch_id)
        )
        if batch_ids is not None:
            query = query.where(messages.c.batch_id.in_(list(batch_ids)))
        with self.db.reader.connect() as conn:
            return {batch_id: n for batch_id, n in conn.execute(query)}

    def latest_change(self) -> tuple[Any, ...]:
        """The newest change to any unsettled batch (receipts, outcomes, expiry), and how many there are."""
        query = select(func.max(batches.c.changed_at), func.count()).where(
            batches.c.state.in_([BatchState.QUEUED, BatchState.FINISHED])
        )
        with self.db.reader.connect() as conn:
            return tuple(conn.execute(query).one())

    def revision(self) -> tuple[Any, ...]:
        """A cheap fingerprint of what operators and intake change (new batches, pauses, states):
        the idle loop re-plans only when it moves."""
        query = select(func.max(batches.c.id), func.sum(batches.c.paused), func.count()).where(
            batches.c.state.in_([BatchState.RECEIVING, BatchState.QUEUED])
        )
        with self.db.reader.connect() as conn:
            return tuple(conn.execute(query).one())

    def prune(self, before: float, now: float, limit: int = 20) -> dict[int, int]:
        """Delete the messages and receipts of up to `limit` batches settled before `before`, one
        transaction per batch (a long prune never holds the write lock for long); returns {batch: count}."""
        with self.db.reader.connect() as conn:
            candidates = prunable(conn, before, limit)
        done: dict[int, int] = {}
        for batch_id in candidates:
            with self.db.write() as conn:
                done[batch_id] = prune(conn, batch_id, now)
        return done

    def recover_in_flight(self, now: float) -> dict[int, tuple[str, int]]:
        """After a crash: apply each batch's in_flight policy to messages left SUBMITTING.

        Returns {batch_id: (policy, count)}. `retry` puts them back in the queue, `unknown` marks them UNKNOWN.
        """
        done: dict[int, tuple[str, int]] = {}
        with self.db.write() as conn:
            rows = conn.execute(
                select(messages.c.batch_id, batches.c.in_flight, func.count())
                .join(batches, batches.c.id == messages.c.batch_id)
                .where(messages.c.status == Status.SUBMITTING)
                .group_by(messages.c.batch_id, batches.c.in_flight)
            ).all()
            for batch_id, policy, count in rows:
                values = in_doubt(policy, "being submitted when remessa stopped")
                conn.execute(
                    update(messages)
                    .where(messages.c.batch_id == batch_id, messages.c.status == Status.SUBMITTING)
                    .values(**values)
                )
                conn.execute(update(batches).where(batches.c.id == batch_id).values(changed_at=now))
                done[batch_id] = (policy, count)
        return done

    # --- receipts ------------------------------------------------------------------------------

    def record_receipts(self, batch: Sequence[Receipt], now: float) -> int:
        """Persist receipts in one transaction and apply each to its message; unknown ids are kept for
        later matching. Returns how many matched a message, once committed (raises: none was stored)."""
        with self.db.write() as conn:
            matched = record_receipts(conn, batch, now)
        if matched < len(batch):
            log.debug("%d receipts for unknown ids kept for later matching", len(batch) - matched)
        return matched

    def record_inbound(
        self, message: Inbound, provider: str, profiles: Sequence[str], number: str, now: float
    ) -> bool:
        """Persist an MO message (and an opt-out's blocklist entries); returns whether it opted out."""
        with self.db.write() as conn:
            return record_inbound(conn, message, provider, profiles, number, now)

    def blocklist(self, profile: str) -> set[str]:
        """Destinations added to the profile's blocklist by opt-out replies."""
        query = select(blocklist.c.destination).where(blocklist.c.profile == profile)
        with self.db.reader.connect() as conn:
            return {row[0] for row in conn.execute(query)}

    # --- providers -----------------------------------------------------------------------------

    def provider_failed(self, name: str, error: str, now: float) -> None:
        """Record why provider `name` is paused (kept from the first failure of a run of failures)."""
        with self.db.write() as conn:
            known = conn.execute(select(provider_state.c.since).where(provider_state.c.name == name)).first()
            if known is None:
                conn.execute(provider_state.insert().values(name=name, error=error, since=now))
            else:
                conn.execute(update(provider_state).where(provider_state.c.name == name).values(error=error))

    def provider_ok(self, name: str | None = None) -> None:
        """Provider `name` (every provider, for None) is no longer paused."""
        query = provider_state.delete()
        if name is not None:
            query = query.where(provider_state.c.name == name)
        with self.db.write() as conn:
            conn.execute(query)

    def provider_errors(self) -> dict[str, tuple[str, float]]:
        """Paused providers: name → (error, since)."""
        with self.db.reader.connect() as conn:
            return {name: (error, since) for name, error, since in conn.execute(select(provider_state))}

    # --- reading for reports and status ----------------------------------------------------------

    def counts(self, batch_id: int) -> dict[str, int]:
        query = (
            select(messages.c.status, func.count())
            .where(messages.c.batch_id == batch_id)
            .group_by(messages.c.status)
        )
        with self.db.reader.connect() as conn:
            return {status: n for status, n in conn.execute(query)}

    def reason_counts(self, batch_id: int) -> dict[str, int]:
        """Messages per reason code (the word before a colon; a reason may carry several, each counted:
        "in_flight_retried: ...; no_receipt: ...")."""
        query = select(messages.c.reason).where(messages.c.batch_id == batch_id, messages.c.reason != "")
        tally: dict[str, int] = {}
        with self.db.reader.connect() as conn:
            for (reason,) in conn.execute(query.execution_options(yield_per=10_000)):
                for code in reason_codes(reason):
                    tally[code] = tally.get(code, 0) + 1
        return tally

    def no_receipt(self, batch_id: int, why: str) -> int:
        """The messages still waiting for a receipt when the window closes say so (`why` added to any
        reason they had); returns how many."""
        with self.db.write() as conn:
            return mark_no_receipt(conn, batch_id, why)

    def messages(self, batch_id: int, statuses: Iterable[str] | None = None) -> Iterator[Message]:
        """A batch's messages in input order, streamed."""
        query = select(messages).where(messages.c.batch_id == batch_id).order_by(messages.c.line, messages.c.id)
        if statuses is not None:
            query = query.where(messages.c.status.in_(list(statuses)))
        with self.db.reader.connect() as conn:
            for row in conn.execute(query.execution_options(yield_per=5_000)):
                yield message_from_row(row)

    def accepted(self, batch_id: int) -> int:
        """Messages the provider took (they have its id)."""
        query = select(func.count()).where(messages.c.batch_id == batch_id, messages.c.provider_id.is_not(None))
        with self.db.reader.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def awaiting(self, batch_id: int, reads: bool = False) -> int:
        """Messages still waiting for a receipt; with `reads` (WhatsApp), delivered ones too: a read may follow."""
        waiting = list(AWAITING_RECEIPT | MAY_BE_READ) if reads else list(AWAITING_RECEIPT)
        query = select(func.count()).where(messages.c.batch_id == batch_id, messages.c.status.in_(waiting))
        with self.db.reader.connect() as conn:
            return int(conn.execute(query).scalar() or 0)

    def report_rows(self, batch_id: int, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
        """Plain tuples of the named message columns in input order, streamed (cheap for 1M rows)."""
        query = (
            select(*(messages.c[name] for name in columns))
            .where(messages.c.batch_id == batch_id)
            .order_by(messages.c.line, messages.c.id)
        )
        with self.db.reader.connect() as conn:
            for row in conn.execute(query.execution_options(yield_per=10_000)):
                yield tuple(row)

    def pending(self, batch_id: int) -> int:
        query = select(func.count()).where(messages.c.batch_id == batch_id, messages.c.status.in_(list(PENDING)))
        with self.db.reader.connect() as conn:
            return int(conn.execute(query).scalar() or 0)


__all__ = ["Batch", "Message", "Store"]
