"""Where each batch stands, as ``remessa status`` (and later the status page) shows it: its state
(SENDING, WAITING for a window or for a failed provider, PAUSED while queued), progress, the next window
opening, when the open window closes, and the ETA, in the batch's own time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from remessa.config import Settings
from remessa.model import PENDING, Batch, BatchState, Status
from remessa.schedule.planner import estimate, plan_of
from remessa.schedule.window import load_zone, local_iso
from remessa.store import Store


def progress(settings: Settings, store: Store, now: float) -> list[dict[str, Any]]:
    """Every stored batch, oldest first, as a JSON-ready dict (see batch_progress)."""
    queued = store.queued()
    waiting = store.batches([BatchState.QUEUED])
    paused = store.provider_errors()
    return [batch_progress(settings, store, batch, queued, waiting, now, paused) for batch in store.batches()]


def batch_progress(
    settings: Settings, store: Store, batch: Batch, queued: dict[int, int], waiting: list[Batch], now: float,
    paused: dict[str, tuple[str, float]] | None = None,
) -> dict[str, Any]:
    """One batch: `queued` is the messages waiting per batch, `waiting` the batches sharing the providers,
    `paused` the providers paused by a failure (name → error, since): their batches are WAITING for them."""
    counts = store.counts(batch.id)
    zone = load_zone(batch.timing.zone)
    state, opening, closing, eta, provider_error = batch.state, None, None, None, None
    if batch.state == BatchState.QUEUED and counts.get(Status.QUEUED):
        moment = datetime.fromtimestamp(now, UTC)
        plan = plan_of(batch.timing)
        sending = plan.allowed(moment)
        if paused and batch.provider in paused:
            provider_error = f"provider {batch.provider}: {paused[batch.provider][0]}"
        state = "PAUSED" if batch.paused else ("SENDING" if sending and not provider_error else "WAITING")
        upcoming = plan.next_allowed(moment)
        opening = local_iso(upcoming.timestamp(), zone) if upcoming else None
        until = plan.open_until(moment) if sending else None
        closing = local_iso(until.timestamp(), zone) if until else None
        finish = estimate(batch, queued, waiting, settings.rate(batch.provider), now).finish
        eta = local_iso(finish.timestamp(), zone) if finish else None
    return {
        "id": batch.id, "profile": batch.profile, "name": batch.name, "state": state,
        "rows": sum(counts.values()), "done": sum(n for s, n in counts.items() if s not in PENDING),
        "counts": counts, "nextOpening": opening, "windowClosesAt": closing, "eta": eta,
        "expectedExpired": batch.expected_expired, "error": batch.error, "providerError": provider_error,
    }
