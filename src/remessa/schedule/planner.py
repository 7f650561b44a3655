"""The planner: which batches may send now (window, start, expiry, pause), what is overdue, and when
the loop must next wake up.

The store is the truth; plans are re-made from it at start-up and whenever it changes. APScheduler
(a BackgroundScheduler with one in-memory job, see LIBRARIES.md for why not its SQL job store) is only
the alarm clock that wakes the loop at the next window opening or expiry; correctness never depends on
it firing, so tests drive the loop with an injected clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.background import BackgroundScheduler

from remessa.model import Batch, Timing
from remessa.schedule.window import HORIZON_DAYS, Plan, Window, load_zone, local_iso
from remessa.store import Store

log = logging.getLogger(__name__)

NEVER = float("inf")


def _instant(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def plan_of(timing: Timing) -> Plan:
    """The Plan of a batch's stored timing."""
    return Plan(
        zone=load_zone(timing.zone or "UTC"),
        window=_window(timing.window),
        not_before=_instant(timing.not_before),
        expires=_instant(timing.expires_at),
    )


def _window(data: dict[str, Any]) -> Window:
    """A stored window ({"hours": [...]} or the WhatsApp {"date","start","end"} form)."""
    if "hours" in data:
        return Window.from_hours(data["hours"])
    if data:
        return Window.from_whatsapp(data.get("date", ""), data.get("start", ""), data.get("end", ""))
    return Window.from_hours([])


class Planner:
    """Filters the dispatcher's batches by their plans and keeps the next wake-up instant."""

    def __init__(self, store: Store, wake: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.wake = wake
        self._plans: dict[int, tuple[Any, Plan]] = {}  # batch id → (window/dates key, plan)
        self._wake_at = 0.0  # epoch of the next instant a waiting batch may change; 0 = look now
        self._revision: tuple[Any, ...] | None = None
        self.scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
        )

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def plan(self, batch: Batch) -> Plan:
        key = (batch.zone, repr(batch.window), batch.not_before, batch.expires_at)
        cached = self._plans.get(batch.id)
        if cached is None or cached[0] != key:
            cached = self._plans[batch.id] = (key, plan_of(batch.timing))
        return cached[1]

    def touch(self) -> None:
        """Something changed (a new batch, a send): look at the batches on the next turn."""
        self._wake_at = 0.0

    def due(self, now: float) -> bool:
        """Whether the dispatcher has anything to look at: the store changed or a planned instant came."""
        revision = self.store.revision()
        if revision != self._revision:
            self._revision = revision
            self._wake_at = 0.0
        return now >= self._wake_at

    def expire_overdue(self, batches: Iterable[Batch], now: float) -> list[Batch]:
        """Expire the unsent rows of the batches past their expiry or whose window will not open again;
        returns the other batches, in the given order."""
        moment = datetime.fromtimestamp(now, UTC)
        live: list[Batch] = []
        for batch in batches:
            plan = self.plan(batch)
            if plan.expires is not None and moment >= plan.expires:
                local = plan.expires.astimezone(plan.zone).isoformat(timespec="seconds")
                expired = self.store.expire(batch.id, f"expired: not submitted by {local}", now)
                log.info("batch %d: expired, %d messages not submitted", batch.id, expired)
            elif not plan.allowed(moment) and plan.next_allowed(moment) is None:
                expired = self.store.expire(batch.id, "expired: its window will not open again", now)
                log.info("batch %d: window will not open again, %d messages expired", batch.id, expired)
            else:
                live.append(batch)
        return live

    def ready(self, batches: Iterable[Batch], now: float) -> list[Batch]:
        """The batches whose plan allows sending at `now`, in the given (priority) order; the next wake-up
        (an opening or an expiry) is armed from all of them."""
        moment = datetime.fromtimestamp(now, UTC)
        ready: list[Batch] = []
        wake_at = NEVER
        for batch in batches:
            plan = self.plan(batch)
            if plan.expires is not None:
                wake_at = min(wake_at, plan.expires.timestamp())
            if plan.allowed(moment):
                ready.append(batch)
                continue
            opening = plan.next_allowed(moment)
            if opening is not None:
                wake_at = min(wake_at, opening.timestamp())
        self._wake_at = 0.0 if ready else wake_at
        if not ready and wake_at < NEVER:
            self._alarm(wake_at)
        return ready

    def _alarm(self, epoch: float) -> None:
        """Have APScheduler wake the loop at `epoch` (real time)."""
        if not self.scheduler.running:
            return
        self.scheduler.add_job(
            self.wake, "date", run_date=datetime.fromtimestamp(epoch, UTC), id="wake", replace_existing=True
        )


def ahead_of(batch: Batch, queued: dict[int, int], others: Iterable[Batch]) -> int:
    """Messages that go before or alongside the batch's own on its provider: all of higher-priority
    batches, and of each equal-priority batch as many as the batch has itself (equals take turns)."""
    own = queued.get(batch.id, 0)
    ahead = 0
    for other in others:
        if other.id == batch.id or other.provider != batch.provider:
            continue
        waiting = queued.get(other.id, 0)
        if other.priority > batch.priority:
            ahead += waiting
        elif other.priority == batch.priority:
            ahead += min(waiting, own)
    return ahead


@dataclass(frozen=True)
class Eta:
    """When a batch's queued messages will have been submitted, and how many would expire first."""

    finish: datetime | None  # None: never (the window closes for good, or beyond the horizon)
    expiring: int
    rate: float  # the provider's messages per second it was computed with

    def local(self, zone: ZoneInfo) -> str:
        """The finish in ISO 8601 in `zone`, or "never"."""
        return local_iso(self.finish.timestamp(), zone) if self.finish is not None else "never"


def forecast(timing: Timing, own: int, ahead: int, rate: float, now: float) -> Eta:
    """When `own` messages behind `ahead` others will have been submitted at `rate`/s inside the timing's
    openings, and how many of the own would expire first."""
    plan = plan_of(timing)
    moment = datetime.fromtimestamp(now, UTC)
    eta = plan.finish_time(moment, (ahead + own) / rate) if own else moment
    if eta is not None and (plan.expires is None or eta <= plan.expires):
        return Eta(eta, 0, rate)
    fits = plan.capacity_before_expiry(moment, rate)
    if fits is None:  # no expiry, but the window closes for good before the work is done
        fits = sum(
            ((end - start).total_seconds() * rate if end else float("inf"))
            for start, end in plan.openings(moment, moment + timedelta(days=HORIZON_DAYS))
        )
    return Eta(eta, max(0, own - max(0, int(fits) - ahead)), rate)


def estimate(batch: Batch, queued: dict[int, int], others: Iterable[Batch], rate: float, now: float) -> Eta:
    """The Eta of a stored batch among the others queued on its provider (`queued`: messages per batch)."""
    return forecast(batch.timing, queued.get(batch.id, 0), ahead_of(batch, queued, others), rate, now)
