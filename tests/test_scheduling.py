"""Scheduling end to end with an injected clock: windows, expiry, restarts, admission and priority.

The daemon's loop is driven step by step; the clock advances a fixed amount at every reading, so each
chunk goes out at a later instant, and receipts are pumped explicitly (no sleeping, no threads racing).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conftest import read_report
from remessa import config
from remessa import daemon as daemon_module
from remessa.channels.embedded import submission_counts
from remessa.daemon import Daemon
from remessa.store import Store

SP = ZoneInfo("America/Sao_Paulo")


class Clock:
    """UTC epoch seconds that advance by `tick` at every reading."""

    def __init__(self, start: datetime, tick: float = 0.0) -> None:
        self.now = start.timestamp()
        self.tick = tick

    def __call__(self) -> float:
        value = self.now
        self.now += self.tick
        return value

    def set(self, moment: datetime, tick: float | None = None) -> None:
        self.now = moment.timestamp()
        if tick is not None:
            self.tick = tick


def sp(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=SP)


@pytest.fixture(autouse=True)
def one_chunk_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daemon_module, "BUSY_SLICE", 0.0)


@pytest.fixture
def make(make_config) -> Callable[..., config.Settings]:
    """make(profiles=..., sandbox=...) -> Settings for a daemon driven by hand (no receipt thread)."""

    def build(profiles=None, sandbox=None) -> config.Settings:
        profiles = profiles or {"default": {"chunk_size": 10}}
        return config.load(make_config(
            profiles={name: {"receipt_timeout": 7200.0, **values} for name, values in profiles.items()},
            sandbox={"pump_interval": 0, "rate": 100000.0, "refuse": {}, "fail": {}, **(sandbox or {})},
        ))

    return build


class Daemons:
    """The daemons a test starts and drives by hand; `stop` one to restart on the same spool."""

    def __init__(self) -> None:
        self.running: list[Daemon] = []

    def start(self, settings: config.Settings, clock: Clock) -> Daemon:
        daemon = Daemon(settings, clock=clock)
        daemon.start()
        self.running.append(daemon)
        return daemon

    def stop(self, daemon: Daemon) -> None:
        self.running.remove(daemon)
        daemon.shutdown()


@pytest.fixture
def daemons() -> Iterator[Daemons]:
    """Start daemons; each one the test did not stop is shut down at its end, also when it failed."""
    started = Daemons()
    yield started
    while started.running:
        started.stop(started.running[-1])


def drop(settings: config.Settings, name: str, rows: int, sidecar: dict | None = None,
         profile: str = "default", first: int = 0) -> None:
    inbox = settings.daemon.spool / profile / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    if sidecar is not None:
        (inbox / f"{name}.json").write_text(json.dumps(sidecar))
    body = "".join(f"55119{first + n:08d};mensagem {n};c{n};\n" for n in range(rows)) + "EOF\n"
    (inbox / f".{name}").write_text(body)
    os.utime(inbox / f".{name}", (time.time() - 60, time.time() - 60))
    os.rename(inbox / f".{name}", inbox / name)


def steps(daemon: Daemon, count: int) -> None:
    for _ in range(count):
        daemon.step()


def settle(daemon: Daemon, clock: Clock) -> None:
    """Deliver every receipt due (an hour later) and let the batches settle."""
    clock.set(datetime.fromtimestamp(clock.now, SP) + timedelta(hours=1), tick=0.0)
    daemon.providers["sandbox"].channel.pump(datetime.fromtimestamp(clock.now, SP))
    steps(daemon, 2)


def report(settings: config.Settings, name: str, profile: str = "default") -> tuple[str, list[dict[str, str]]]:
    for outcome in ("success", "error"):
        path = settings.daemon.spool / profile / outcome / f"{name}.report.csv"
        if path.exists():
            return outcome, read_report(path)
    raise AssertionError(f"no report for {name}")


def submitted(daemon: Daemon, name: str) -> list[float]:
    batch = daemon.store.find_batch(name)
    return sorted(m.submitted_at for m in daemon.store.messages(batch.id) if m.submitted_at)


def test_a_window_closing_mid_batch_pauses_it_until_the_next_opening(make, daemons: Daemons) -> None:
    settings = make()
    drop(settings, "lote.txt", 100, {"timeWindow": [10], "timeZone": "America/Sao_Paulo"})
    clock = Clock(sp(24, 10, 59, 0), tick=10.0)
    daemon = daemons.start(settings, clock)
    while clock.now < sp(24, 11, 5).timestamp():
        daemon.step()
    counts = daemon.store.counts(daemon.store.find_batch("lote.txt").id)
    assert 0 < counts.get("QUEUED", 0) < 100, counts  # stopped mid-way, nothing lost
    assert "SUBMITTING" not in counts

    clock.set(sp(25, 9, 59, 50), tick=0.0)
    steps(daemon, 3)
    assert daemon.store.counts(daemon.store.find_batch("lote.txt").id) == counts  # still closed
    clock.set(sp(25, 10, 0, 0), tick=1.0)
    steps(daemon, 20)
    settle(daemon, clock)
    daemons.stop(daemon)

    outcome, rows = report(settings, "lote.txt")
    assert outcome == "success" and len(rows) == 100
    assert {r["status"] for r in rows} == {"DELIVERED"}
    hours = {datetime.fromisoformat(r["submittedAt"]).astimezone(SP).strftime("%d %H") for r in rows}
    assert hours == {"24 10", "25 10"}  # only inside the window, on both days


def test_rows_not_submitted_by_expiry_are_expired_and_never_sent(make, daemons: Daemons) -> None:
    settings = make()
    drop(settings, "lote.txt", 100, {"expiresInMinutes": 1, "timeZone": "America/Sao_Paulo"})
    clock = Clock(sp(24, 14, 0, 0), tick=10.0)
    daemon = daemons.start(settings, clock)
    while clock.now < sp(24, 14, 3).timestamp():
        daemon.step()
    settle(daemon, clock)
    daemons.stop(daemon)
    outcome, rows = report(settings, "lote.txt")
    expired = [r for r in rows if r["status"] == "EXPIRED"]
    delivered = [r for r in rows if r["status"] == "DELIVERED"]
    assert outcome == "success" and expired and delivered and len(expired) + len(delivered) == 100
    assert all(r["reason"].startswith("expired: not submitted by 2026-11-24T14:01:") for r in expired)
    assert all(r["reason"].endswith("-03:00") for r in expired)
    assert all(r["messageId"] == "" and r["submittedAt"] == "" for r in expired)
    # the expiry counts from when the file was taken (a few clock readings after 14:00), as the reason says
    deadline = datetime.fromisoformat(expired[0]["reason"].removeprefix("expired: not submitted by ")).timestamp()
    assert sp(24, 14, 1).timestamp() <= deadline < sp(24, 14, 2).timestamp()
    assert all(datetime.fromisoformat(r["submittedAt"]).timestamp() < deadline for r in delivered)
    counts = submission_counts(settings.daemon.spool / "sandbox.sqlite")
    assert len(counts) == len(delivered)  # the expired ones never reached the provider
    retry = (settings.daemon.spool / "default" / "success" / "lote.txt.retry.txt").read_text()
    assert retry.count("\n") == len(expired) + 1  # the expired rows, then EOF


def test_a_batch_whose_window_cannot_open_before_expiry_expires_whole(make, daemons: Daemons) -> None:
    settings = make()
    drop(settings, "lote.txt", 20, {"timeWindow": [10], "timeZone": "America/Sao_Paulo", "expiresInMinutes": 30})
    clock = Clock(sp(24, 11, 30), tick=1.0)
    daemon = daemons.start(settings, clock)
    steps(daemon, 3)
    daemons.stop(daemon)
    outcome, rows = report(settings, "lote.txt")
    assert outcome == "error" and {r["status"] for r in rows} == {"EXPIRED"}
    assert all(r["reason"].startswith("expired:") for r in rows)


def test_a_daemon_restarted_while_a_batch_waits_sends_it_at_the_right_instant(make, daemons: Daemons) -> None:
    settings = make()
    drop(settings, "lote.txt", 30, {"timeWindow": [10], "timeZone": "America/Sao_Paulo"})
    clock = Clock(sp(24, 11, 30), tick=1.0)
    first = daemons.start(settings, clock)
    steps(first, 3)
    daemons.stop(first)
    store = Store(settings.daemon.database_url)
    try:
        assert store.find_batch("lote.txt").state == "QUEUED"
    finally:
        store.close()

    clock.set(sp(25, 9, 59, 58), tick=0.0)
    second = daemons.start(settings, clock)
    steps(second, 3)
    assert not submitted(second, "lote.txt")
    clock.set(sp(25, 10, 0, 0), tick=0.5)
    steps(second, 5)
    settle(second, clock)
    daemons.stop(second)
    _, rows = report(settings, "lote.txt")
    assert {r["status"] for r in rows} == {"DELIVERED"}
    assert min(datetime.fromisoformat(r["submittedAt"]) for r in rows) == sp(25, 10, 0, 0)


def test_a_pause_survives_a_restart(make, daemons: Daemons) -> None:
    settings = make()
    drop(settings, "lote.txt", 30)
    clock = Clock(sp(24, 14, 0), tick=1.0)
    first = daemons.start(settings, clock)
    first.intake.take("default", settings.daemon.spool / "default" / "inbox" / "lote.txt", clock())
    first.store.update_batch(first.store.find_batch("lote.txt").id, paused=1, changed_at=clock())
    steps(first, 3)
    daemons.stop(first)
    second = daemons.start(settings, clock)
    steps(second, 3)
    assert not submitted(second, "lote.txt")
    second.store.update_batch(second.store.find_batch("lote.txt").id, paused=0, changed_at=clock())
    steps(second, 5)
    assert len(submitted(second, "lote.txt")) == 30
    daemons.stop(second)


def test_refuse_admission_sends_nothing(make, daemons: Daemons) -> None:
    settings = make(profiles={"default": {"chunk_size": 10, "admission": "refuse"}}, sandbox={"rate": 1.0})
    drop(settings, "lote.txt", 100, {"expiresInMinutes": 1})
    clock = Clock(sp(24, 14, 0), tick=1.0)
    daemon = daemons.start(settings, clock)
    steps(daemon, 3)
    daemons.stop(daemon)
    outcome, rows = report(settings, "lote.txt")
    assert outcome == "error" and len(rows) == 100 and {r["status"] for r in rows} == {"EXPIRED"}
    assert rows[0]["reason"].startswith("would_expire: 40 of 100 messages would expire")
    summary = json.loads((settings.daemon.spool / "default" / "error" / "lote.txt.summary.json").read_text())
    assert summary["errors"][0]["code"] == "would_expire" and "ETA" in summary["errors"][0]["message"]
    assert submission_counts(settings.daemon.spool / "sandbox.sqlite") == {}


def test_warn_admission_sends_and_records_the_expected_expired(make, daemons: Daemons) -> None:
    settings = make(sandbox={"rate": 1.0})
    drop(settings, "lote.txt", 100, {"expiresInMinutes": 1})
    clock = Clock(sp(24, 14, 0), tick=0.0)
    daemon = daemons.start(settings, clock)
    steps(daemon, 1)
    batch = daemon.store.find_batch("lote.txt")
    assert batch.expected_expired == 40 and batch.state == "QUEUED"
    daemons.stop(daemon)


def test_a_high_priority_batch_overtakes_a_running_one(make, daemons: Daemons) -> None:
    settings = make(profiles={"marketing": {"chunk_size": 10}, "otp": {"chunk_size": 10, "priority": 10}})
    drop(settings, "promo.txt", 300, profile="marketing")
    clock = Clock(sp(24, 14, 0), tick=1.0)
    daemon = daemons.start(settings, clock)
    steps(daemon, 5)
    drop(settings, "codigos.txt", 25, profile="otp", first=5000)
    steps(daemon, 40)
    otp = submitted(daemon, "codigos.txt")
    promo = submitted(daemon, "promo.txt")
    assert len(otp) == 25 and len(promo) == 300
    assert not [t for t in promo if otp[0] <= t <= otp[-1]]  # nothing of the promo while OTP was sending
    assert otp[-1] < promo[-1]
    assert len([t for t in promo if t < otp[0]]) < 300  # the promo was running when OTP arrived


def test_equal_priorities_take_turns(make, daemons: Daemons) -> None:
    settings = make()
    drop(settings, "a.txt", 50)
    drop(settings, "b.txt", 50, first=1000)
    clock = Clock(sp(24, 14, 0), tick=1.0)
    daemon = daemons.start(settings, clock)
    steps(daemon, 12)
    a, b = submitted(daemon, "a.txt"), submitted(daemon, "b.txt")
    chunks = sorted({(t, "a") for t in a} | {(t, "b") for t in b})
    order = [name for _, name in chunks]
    assert order[:8] == ["a", "b"] * 4


def test_the_forecast_of_a_window_that_closes_for_good_works_on_29_february() -> None:
    from remessa.model import Timing
    from remessa.schedule.planner import forecast

    zone = ZoneInfo("America/Sao_Paulo")
    window = {"date": "2028-02-29", "start": "09:00", "end": "10:00"}  # one hour, that day only
    now = datetime(2028, 2, 29, 12, 0, tzinfo=zone).timestamp()  # after it: nothing will go

    result = forecast(Timing("America/Sao_Paulo", window), own=500, ahead=0, rate=10.0, now=now)
    eta, expired = result.finish, result.expiring

    assert (eta, expired) == (None, 500)
