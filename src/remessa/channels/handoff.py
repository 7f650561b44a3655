"""The hand-off: what a channel's I/O threads learn (answers to submissions, receipts, MO messages) is
persisted by the channel's writer threads, so an I/O thread never waits on the database.

Everything queued while a write runs goes in the next write: the queued outcomes of one send() call are
reported together (one transaction), all queued receipts in one ReceiptSink call. Each item's ``then`` runs on
this thread once its write is over, and is how a bind learns it may answer a deliver_sm (the receipt is
stored) or reuse a window slot (the acknowledgement is stored): at any instant only what is on the wire, or
answered and not yet committed within the window, can be in doubt after a crash. An outcome that cannot be
written (the database is down) is tried again, with back-off, until it is, the channel closes or GIVE_UP
passes: the slots stay taken meanwhile, so the binds stop submitting and go on reading and answering.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from remessa.backoff import Backoff
from remessa.channels.base import ReceiptSink, Report
from remessa.model import Inbound, Outcome, Receipt

log = logging.getLogger(__name__)

GIVE_UP = 120.0  # seconds of failing writes after which outcomes are given up on (not a stall: a fault)

@dataclass(frozen=True)
class _Outcome:
    report: Report | None
    outcome: Outcome
    then: Callable[[], None]


@dataclass(frozen=True)
class _Receipts:
    receipts: Sequence[Receipt]
    then: Callable[[bool], None]  # (stored)


@dataclass(frozen=True)
class _Inbound:
    message: Inbound
    then: Callable[[bool], None]  # (stored)


Item = _Outcome | _Receipts | _Inbound


class _Lane:
    """A queue and the one thread that writes what it holds, in groups: all that is queued at once."""

    def __init__(self, name: str, write: Callable[[list[Item]], None]) -> None:
        self._write = write
        self._changed = threading.Condition()
        self._queue: list[Item] = []
        self.closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Item) -> None:
        with self._changed:
            self._queue.append(item)
            self._changed.notify_all()
            late = self.closed and not self._thread.is_alive()
        if late:  # handed over after close: written here, so that whoever waits hears back
            self._write(self._take(block=False))

    def wait_closed(self, seconds: float) -> bool:
        """Sleep `seconds` unless closed meanwhile; returns whether closed."""
        with self._changed:
            if not self.closed:
                self._changed.wait(seconds)
            return self.closed

    def close(self, timeout: float) -> None:
        with self._changed:
            self.closed = True
            self._changed.notify_all()
        self._thread.join(timeout + 1.0)

    def _run(self) -> None:
        while items := self._take(block=True):
            self._write(items)

    def _take(self, block: bool) -> list[Item]:
        with self._changed:
            while block and not self._queue and not self.closed:
                self._changed.wait()
            items, self._queue = self._queue, []
            return items


class Handoff:
    """Persists what I/O threads hand it: answers on one thread, receipts and MO messages on another (a
    window slot never waits behind a large group of receipts; a receipt stored before its answer is matched
    when the answer is)."""

    def __init__(self, sink: ReceiptSink, name: str) -> None:
        self._sink = sink
        self._answers = _Lane(f"{name}-answers", self._write_answers)
        self._receipts = _Lane(f"{name}-receipts", self._write_receipts)

    def outcome(self, report: Report | None, outcome: Outcome, then: Callable[[], None]) -> None:
        """Persist `outcome` with `report` (None: nothing to persist), then call `then()`."""
        self._answers.put(_Outcome(report, outcome, then))

    def receipts(self, receipts: Sequence[Receipt], then: Callable[[bool], None]) -> None:
        """Persist receipts read together, then call `then(stored)`."""
        self._receipts.put(_Receipts(receipts, then))

    def inbound(self, message: Inbound, then: Callable[[bool], None]) -> None:
        """Persist an MO message, then call `then(stored)`."""
        self._receipts.put(_Inbound(message, then))

    def close(self, timeout: float) -> None:
        """Write what is queued (at most `timeout` s more for a failing write), then stop the threads."""
        self._answers.close(timeout)
        self._receipts.close(timeout)

    def _write_answers(self, items: list[Item]) -> None:
        self._outcomes([i for i in items if isinstance(i, _Outcome)])

    def _write_receipts(self, items: list[Item]) -> None:
        self._store_receipts([i for i in items if isinstance(i, _Receipts)])
        for item in items:
            if isinstance(item, _Inbound):
                self._inbound(item)

    def _outcomes(self, items: list[_Outcome]) -> None:
        by_report: dict[int, list[_Outcome]] = {}
        for item in items:
            by_report.setdefault(id(item.report), []).append(item)
        for group in by_report.values():
            report = group[0].report
            if report is not None:
                self._persist(report, [item.outcome for item in group])
            for item in group:
                item.then()

    def _persist(self, report: Report, outcomes: list[Outcome]) -> None:
        backoff: Backoff | None = None  # made on the first failure (seeding its random costs, per write)
        give_up = time.monotonic() + GIVE_UP
        while True:
            try:
                report(outcomes)
                return
            except Exception:  # the database is down or stalled: the slots stay taken, the binds wait
                backoff = backoff or Backoff(0.1, 5.0)
                pause = backoff.failed()
                log.exception("%d outcomes not stored; trying again in %.1f s", len(outcomes), pause)
            if self._answers.wait_closed(pause) or time.monotonic() > give_up:
                # their messages stay SUBMITTING: the next start applies the batch's in_flight policy
                log.error("%d outcomes never stored: their messages are judged in doubt at the next start",
                          len(outcomes))
                return

    def _store_receipts(self, items: list[_Receipts]) -> None:
        if not items:
            return
        stored = True
        try:
            self._sink.receipts([receipt for item in items for receipt in item.receipts])
        except Exception:  # the provider redelivers them
            log.warning("%d receipts not stored; the provider will send them again",
                        sum(len(item.receipts) for item in items), exc_info=True)
            stored = False
        for item in items:
            item.then(stored)

    def _inbound(self, item: _Inbound) -> None:
        try:
            self._sink.inbound(item.message)
        except Exception:  # the provider redelivers it
            log.warning("inbound message not stored; the provider will send it again", exc_info=True)
            item.then(False)
            return
        item.then(True)
