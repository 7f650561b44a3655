"""The end of a batch's journey: move the file to success/ or error/ once every row has a submission
outcome, keep its report current as receipts arrive, and settle it when receipts are complete or the
receipt window closes.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

from remessa.config import Settings
from remessa.model import Batch, BatchState, Status
from remessa.results import report
from remessa.schedule.window import load_zone
from remessa.spool import Spool, changed, identity
from remessa.store import Store

log = logging.getLogger(__name__)

NEVER = float("inf")
REPORT_INTERVAL = 5.0  # least seconds between rewrites of a report while receipts keep arriving


class Settlement:
    """Finishes and settles batches; the only writer of reports for the daemon."""

    def __init__(self, settings: Settings, store: Store, spool: Spool) -> None:
        self.settings = settings
        self.store = store
        self.spool = spool
        self._written: dict[int, float] = {}  # batch id → `now` of the last report rewrite
        self._cost: dict[int, float] = {}  # batch id → seconds the last rewrite took
        self._seen: dict[int, float | None] = {}  # batch id → changed_at when last looked at
        self._latest: Any = None  # store.latest_change() at the last tick
        self._next_check = 0.0  # earliest `now` a time-driven step (receipt window, rewrite) is due
        self.awaiting_receipts = False  # some batch is finished and still waiting for receipts

    def folder(self, batch: Batch) -> Path:
        return self.spool.folder(batch.profile, batch.outcome or "processing")

    def close(self, batch: Batch, path: Path, outcome: str, now: float) -> None:
        """Move the batch's file to success/ or error/, record where, and write its report.

        Where it goes is committed before anything moves, so that a crash midway is finished at start-up
        under the same name (never a second name beside the first, never a sidecar left behind); a FAILED
        batch is committed settled only once its report is written."""
        if batch.outcome:  # a close that a crash interrupted: the same move
            outcome, final = batch.outcome, batch.final_name
        else:
            final = self.spool.free_name(batch.profile, outcome, batch.name, batch.id)
            self.store.update_batch(batch.id, final_name=final, outcome=outcome)
        self.spool.finish(path, outcome, final)
        state = BatchState.FAILED if batch.state == BatchState.FAILED else BatchState.FINISHED
        self.store.update_batch(batch.id, finished_at=now, state=state, changed_at=now)
        closed = self.store.batch(batch.id)
        if state == BatchState.FAILED:
            self.write(dataclasses.replace(closed, settled_at=now), now)
            self.store.update_batch(batch.id, settled_at=now)
        else:
            self.write(closed, now)
        counts = self.store.counts(batch.id)
        log.info(
            "batch %d: finished in %s/ %s", batch.id, outcome,
            " ".join(f"{k.lower()}={v}" for k, v in sorted(counts.items())) or "rows=0",
        )

    def recover(self, now: float) -> None:
        """At start-up, before any file is looked at: finish the closes of refused batches that a crash
        interrupted, and remove the temporary files of report writes it cut short (the writes themselves
        are done again: a FINISHED batch is rewritten or settled on its first look)."""
        for batch in self.store.batches([BatchState.FAILED]):
            if batch.settled_at is not None:
                continue
            path = self.spool.folder(batch.profile, "processing") / batch.name
            if not os.path.lexists(path):
                path = self.spool.folder(batch.profile, "inbox") / batch.name
            log.warning("batch %d: finishing the refusal of %s that the last run left midway", batch.id, batch.name)
            self.close(batch, path, "error", now)
        for profile in self.spool.profiles:
            for removed in self.spool.remove_stale_temporaries(profile):
                log.info("removed %s, left by a report write the last run did not finish", removed)

    def progress(self, batch: Batch, now: float) -> float:
        """Advance one batch as far as its messages allow; returns when it next needs a look by time
        alone (receipt window closing, report rewrite due), or infinity."""
        self._seen[batch.id] = batch.changed_at
        if batch.state == BatchState.QUEUED and self.store.pending(batch.id) == 0:
            outcome = "success" if self.store.accepted(batch.id) else "error"
            path = self.spool.folder(batch.profile, "processing") / batch.name
            if self._changed_since_read(batch, path):
                outcome = "error"
            self.close(batch, path, outcome, now)
            batch = self.store.batch(batch.id)
            self._seen[batch.id] = batch.changed_at
        if batch.state != BatchState.FINISHED:
            return NEVER
        window = self._receipt_timeout(batch)
        deadline = (batch.last_submit_at or batch.finished_at or now) + window
        awaiting = self.store.awaiting(batch.id, reads=batch.kind == "whatsapp")
        if awaiting == 0 or now >= deadline:
            if awaiting:
                marked = self.store.no_receipt(batch.id, f"no_receipt: no delivery receipt within {span(window)}")
                log.warning("batch %d: %d messages got no delivery receipt within %s of the last submit",
                            batch.id, marked, span(window))
            self.settle(batch, now)
            return NEVER
        # A big report costs seconds to write: never spend more than a tenth of the time rewriting it.
        interval = max(REPORT_INTERVAL, 10 * self._cost.get(batch.id, 0.0))
        last = self._written.get(batch.id, 0.0)
        if (batch.changed_at or 0) > last:
            if now - last >= interval:
                self.write(batch, now)
            else:
                return min(deadline, last + interval)
        return deadline

    def _changed_since_read(self, batch: Batch, path: Path) -> bool:
        """A writer that went on after the file was read (an upload that stalled past the settle interval):
        what it added was never sent. The batch says so and its file goes to error/."""
        read = batch.info.get("read")
        try:
            now = identity(path)
        except FileNotFoundError:
            return False
        if not read or now == read:
            return False
        why = (f"{batch.name}: {changed(read, now)} after it was read: only the rows read were sent; send the"
               " rest in a new file")
        log.error("batch %d: %s", batch.id, why)
        self.store.update_batch(batch.id, error_code="file_changed", error=f"file_changed: {why}")
        return True

    def settle(self, batch: Batch, now: float) -> None:
        """The final report is written first, then the batch is committed SETTLED: a crash between the two
        settles it again at start-up, never leaves a settled batch with a stale report."""
        self.write(dataclasses.replace(self.store.batch(batch.id), state=BatchState.SETTLED, settled_at=now,
                                       changed_at=now), now)
        self.store.update_batch(batch.id, state=BatchState.SETTLED, settled_at=now, changed_at=now)
        counts = self.store.counts(batch.id)
        delivered = counts.get(Status.DELIVERED, 0)
        log.info(
            "batch %d: settled delivered=%d other=%d in %.0fs", batch.id, delivered,
            sum(counts.values()) - delivered, now - batch.received_at,
        )

    def tick(self, now: float) -> None:
        """Advance the batches that changed, or whose time came; cheap when nothing did."""
        latest = self.store.latest_change()
        if latest == self._latest and now < self._next_check:
            return
        self._latest = latest
        next_check = NEVER
        for batch in self.store.batches([BatchState.QUEUED, BatchState.FINISHED]):
            if batch.state == BatchState.QUEUED and self._seen.get(batch.id) == batch.changed_at:
                continue
            next_check = min(next_check, self.progress(batch, now))
        self._next_check = next_check
        self.awaiting_receipts = next_check < NEVER

    def write(self, batch: Batch, now: float) -> Path:
        started = time.monotonic()
        path = report.write(self.store, batch, self.folder(batch), load_zone(batch.timing.zone))
        self._cost[batch.id] = time.monotonic() - started
        self._written[batch.id] = now
        return path

    def _receipt_timeout(self, batch: Batch) -> float:
        profile = self.settings.profiles.get(batch.profile)
        return profile.receipt_timeout if profile else 86400.0


def span(seconds: float) -> str:
    """A duration as an operator writes it: 24 h, 90 min, 45 s."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
