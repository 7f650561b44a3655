"""The daemon: one loop, read top to bottom, that takes files, dispatches messages and settles batches.

Threads: this loop, the watchdog observer (only enqueues), and each channel's own threads (receipts are
persisted by the channel's thread through the store). Signal handlers only set the stop flag.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from remessa.backoff import Backoff
from remessa.channels.base import CHANNEL_TYPES
from remessa.config import Settings
from remessa.delivery.dispatcher import Dispatcher
from remessa.delivery.provider import RETRY_FIRST, RETRY_MAX, Provider
from remessa.intake.intake import Intake
from remessa.model import BatchState
from remessa.receipts.endpoint import open_endpoint
from remessa.receipts.listener import Listener
from remessa.receipts.sink import Sink
from remessa.results import report
from remessa.results.settlement import Settlement
from remessa.schedule.planner import Planner
from remessa.spool import Spool, Watcher
from remessa.store import Store

log = logging.getLogger(__name__)

Clock = Callable[[], float]  # UTC epoch seconds
PRUNE_EVERY = 3600.0  # seconds between looks for batches past daemon.retention_days
BUSY_SLICE = 0.5  # seconds of sending before the loop looks at the inboxes again


class Daemon:
    """remessa's main loop; `run(once=True)` processes the inboxes and returns when all is settled."""

    def __init__(self, settings: Settings, clock: Clock = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.stopping = threading.Event()
        self.store = Store(settings.daemon.database_url)
        self.spool = Spool(settings.daemon.spool, list(settings.profiles), settings.daemon.settle_seconds)
        self.settlement = Settlement(settings, self.store, self.spool)
        self.intake = Intake(settings, self.store, self.spool, self.settlement)
        self.providers: dict[str, Provider] = {}
        self.watcher = Watcher(self.spool)
        self.planner = Planner(self.store, wake=self.watcher.wake)
        self.dispatcher = Dispatcher(settings, self.store, self.providers, self.planner, clock)
        self.sink = Sink(settings, self.store, clock)
        self._prune_at = 0.0  # monotonic instant of the next look for batches past retention_days
        self._taken: set[int] = set()  # batches this run took from an inbox or whose load it resumed
        self.listener: Listener | None = None  # the webhook endpoint, when some provider needs it

    def start(self) -> None:
        """Prepare the store and spool, open the channels, recover what a crash left behind."""
        self.store.hold()  # before anything is recovered: a second daemon must not touch the first's messages
        self.store.migrate()
        self.store.provider_ok()  # a provider paused in an earlier run is judged afresh
        self.spool.ensure()
        self.listener = open_endpoint(self.settings, self.sink)  # before the channels: early webhooks are kept
        now = self.clock()
        self._prune(now)
        for batch_id, (policy, count) in self.store.recover_in_flight(now).items():
            log.warning("batch %d: %d messages were in flight at the last stop; policy %s", batch_id, count, policy)
        used = {p.provider for p in self.settings.profiles.values()}
        for name in sorted(used):
            provider = self.settings.providers[name]
            if not provider.active:
                log.warning("provider %s is not active; its profiles' batches wait", name)
                continue
            make = functools.partial(CHANNEL_TYPES[provider.type].channel_class(), provider.settings,
                                     spool=self.settings.daemon.spool, clock=self._utcnow)
            # the provider's own reconnect pauses, where it declares them, space the retries of the whole provider
            backoff = Backoff(getattr(provider.settings, "reconnect_min", RETRY_FIRST),
                              getattr(provider.settings, "reconnect_max", RETRY_MAX))
            link = Provider(name, make, self.sink.provider(name), backoff)
            link.open()  # a provider down now is tried again by the dispatcher; the daemon runs on
            self.providers[name] = link
        self.settlement.recover(now)  # before processing/ is looked at: a refused file there is on its way out
        for profile in self.settings.profiles:
            for path in self.spool.processing(profile):
                resumed = self.intake.resume(profile, path, self.clock())
                if resumed is not None:  # a load the last run did not finish: this run's work
                    self._taken.add(resumed)
        # what the last run left mid-way and may go on now (sending, or awaiting receipts) is this run's work
        # too; a batch waiting for a window that is closed now is not (`run --once` does not wait a week)
        moment = datetime.fromtimestamp(now, UTC)  # the start-up instant: no extra reading of the clock
        for batch in self.store.batches([BatchState.QUEUED, BatchState.FINISHED]):
            if batch.state == BatchState.FINISHED or self.planner.plan(batch).allowed(moment):
                self._taken.add(batch.id)
        self.watcher.start()
        self.planner.start()
        _notify("READY=1")
        log.info("remessa started: spool %s, profiles %s", self.settings.daemon.spool,
                 ", ".join(self.settings.profiles))

    def run(self, once: bool = False) -> None:
        self.start()
        try:
            while not self.stopping.is_set():
                try:
                    busy = self.step()
                except Exception:  # loop boundary: logged with its traceback; the next turn tries again
                    log.exception("unexpected error in the daemon's loop; it goes on")
                    busy = False
                _notify("WATCHDOG=1")
                if once and not busy and self.idle():
                    break
                if not busy:
                    self.watcher.wait(self._wait())
        finally:
            self.shutdown()

    def _stray_sidecars(self, profile: str) -> None:
        """Sidecars that will never apply go to error/ with a summary saying why (and a warning)."""
        wait = self.settings.daemon.orphan_sidecar_seconds
        for sidecar, moved, orphan in self.spool.stray_sidecars(profile, wait, self.clock()):
            batch = sidecar.name.removesuffix(".json")
            if orphan:
                code, why = "orphan_sidecar", f"its batch file {batch} did not come within {wait:g} s"
            else:
                code, why = "late_sidecar", f"came after its file {batch} was taken, so its options were not applied"
            log.warning("%s: %s; moved to %s", sidecar, why, moved)
            report.note(moved, code, f"{moved.name}: {why}")

    def step(self) -> bool:
        """One turn of the loop; returns whether anything was done."""
        busy = False
        for profile in self.settings.profiles:
            self._stray_sidecars(profile)
            for path in self.spool.ready(profile):
                if self.stopping.is_set():
                    return busy
                batch_id = self.intake.take(profile, path, self.clock())
                if batch_id is not None:
                    self._taken.add(batch_id)
                self.planner.touch()
                busy = True
        deadline = time.monotonic() + BUSY_SLICE
        while not self.stopping.is_set() and self.dispatcher.step(self.clock()):
            busy = True
            if time.monotonic() >= deadline:
                break
        self.settlement.tick(self.clock())
        if self.settings.daemon.retention_days and time.monotonic() >= self._prune_at:
            self._prune(self.clock())
        return busy

    def _prune(self, now: float) -> None:
        """At start-up and then hourly, delete what retention_days no longer keeps (the reports on disk
        stay)."""
        self._prune_at = time.monotonic() + PRUNE_EVERY
        days = self.settings.daemon.retention_days
        if not days:
            return
        for batch_id, count in self.store.prune(now - days * 86400, now).items():
            log.info("batch %d: settled over %g days ago; its %d messages and their receipts deleted"
                     " (its reports stay)", batch_id, days, count)

    def _wait(self) -> float:
        """How long the loop may sleep: briefly while receipts or settling files are expected, long
        when all is waiting for a window (APScheduler, the observer and the CLI wake it earlier)."""
        settling = any(self.spool.pending(profile) for profile in self.settings.profiles)
        if settling or self.settlement.awaiting_receipts:
            return self.settings.daemon.poll_seconds
        return self.settings.daemon.idle_seconds

    def idle(self) -> bool:
        """Nothing waiting in an inbox, and every batch this run took (or found able to go on at start-up)
        settled or failed; a batch an earlier run left waiting for a closed window does not keep
        `run --once` going."""
        if any(self.spool.pending(profile) for profile in self.settings.profiles):
            return False
        open_ = self.store.batches([BatchState.RECEIVING, BatchState.QUEUED, BatchState.FINISHED])
        return not any(batch.id in self._taken for batch in open_)

    def stop(self) -> None:
        """Ask the loop to stop (safe from a signal handler)."""
        self.stopping.set()

    def shutdown(self) -> None:
        _notify("STOPPING=1")
        self.planner.stop()
        self.watcher.stop()
        for name, channel in self.providers.items():
            try:
                channel.close()
            except Exception:  # loop boundary: one channel's failure must not keep others open
                log.exception("provider %s: error while closing", name)
        if self.listener is not None:
            self.listener.stop()
        self.store.close()
        log.info("remessa stopped")

    def _utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)


def _notify(state: str) -> None:
    """Tell systemd (Type=notify) how we are; a no-op when not started by systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto(state.encode(), address)
        except OSError:
            log.debug("could not notify systemd at %s", address)
