"""The end of a batch's journey: move the file to success/ or error/ once every row has a submission
outcome, keep its report current as receipts arrive, and settle it when receipts are complete or the
receipt window closes.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from remessa import report
from remessa.config import Settings
from remessa.spool import Spool
from remessa.status import BatchState, Status
from remessa.store import Batch, Store

log = logging.getLogger(__name__)

REPORT_INTERVAL = 5.0  # least seconds between rewrites of a report while receipts keep arriving


class Settlement:
    """Finishes and settles batches; the only writer of reports for the daemon."""

    def __init__(self, settings: Settings, store: Store, spool: Spool) -> None:
        self.settings = settings
        self.store = store
        self.spool = spool
        self._written: dict[int, float] = {}  # batch id → `now` of the last report rewrite
        self._cost: dict[int, float] = {}  # batch id → seconds the last rewrite took

    def zone(self, batch: Batch) -> ZoneInfo:
        """The batch's time zone: sidecar, then profile, then daemon default, then UTC."""
        name = batch.options.get("time_zone") or ""
        if not name and batch.profile in self.settings.profiles:
            name = self.settings.timezone_for(self.settings.profiles[batch.profile])
        return ZoneInfo(name or self.settings.daemon.timezone or "UTC")

    def folder(self, batch: Batch) -> Path:
        return self.spool.folder(batch.profile, batch.outcome or "processing")

    def close(self, batch: Batch, path: Path, outcome: str, now: float) -> None:
        """Move the batch's file to success/ or error/, record where, and write its report."""
        final = self.spool.free_name(batch.profile, outcome, batch.name, batch.id)
        if path.exists() or path.is_symlink():
            self.spool.finish(path, outcome, final)
        state = BatchState.FAILED if batch.state == BatchState.FAILED else BatchState.FINISHED
        self.store.update_batch(
            batch.id, final_name=final, outcome=outcome, finished_at=now, state=state, changed_at=now
        )
        closed = self.store.batch(batch.id)
        if state == BatchState.FAILED:
            self.store.update_batch(batch.id, settled_at=now)
            closed = self.store.batch(batch.id)
        self.write(closed, now)
        counts = self.store.counts(batch.id)
        log.info(
            "batch %d: finished in %s/ %s", batch.id, outcome,
            " ".join(f"{k.lower()}={v}" for k, v in sorted(counts.items())) or "rows=0",
        )

    def progress(self, batch: Batch, now: float) -> None:
        """Advance one batch as far as its messages allow."""
        if batch.state == BatchState.QUEUED and self.store.pending(batch.id) == 0:
            outcome = "success" if self.store.accepted(batch.id) else "error"
            path = self.spool.folder(batch.profile, "processing") / batch.name
            self.close(batch, path, outcome, now)
            batch = self.store.batch(batch.id)
        if batch.state == BatchState.FINISHED:
            window = self._receipt_timeout(batch)
            last = batch.last_submit_at or batch.finished_at or now
            if self.store.awaiting(batch.id) == 0 or now >= last + window:
                self.store.update_batch(batch.id, state=BatchState.SETTLED, settled_at=now, changed_at=now)
                settled = self.store.batch(batch.id)
                self.write(settled, now)
                counts = self.store.counts(batch.id)
                delivered = counts.get(Status.DELIVERED, 0)
                log.info(
                    "batch %d: settled delivered=%d other=%d in %.0fs", batch.id, delivered,
                    sum(counts.values()) - delivered, now - batch.received_at,
                )
                return
            # A big report costs seconds to write: never spend more than a tenth of the time rewriting it.
            interval = max(REPORT_INTERVAL, 10 * self._cost.get(batch.id, 0.0))
            last = self._written.get(batch.id, 0.0)
            if (batch.changed_at or 0) > last and now - last >= interval:
                self.write(batch, now)

    def tick(self, now: float) -> None:
        """Advance every batch that is not settled yet."""
        for batch in self.store.batches([BatchState.QUEUED, BatchState.FINISHED]):
            self.progress(batch, now)

    def write(self, batch: Batch, now: float) -> Path:
        started = time.monotonic()
        path = report.write(self.store, batch, self.folder(batch), self.zone(batch))
        self._cost[batch.id] = time.monotonic() - started
        self._written[batch.id] = now
        return path

    def _receipt_timeout(self, batch: Batch) -> float:
        profile = self.settings.profiles.get(batch.profile)
        return profile.receipt_timeout if profile else 86400.0
