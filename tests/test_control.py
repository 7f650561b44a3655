"""pause, resume, cancel and status against a daemon running its real loop in a thread, or turned by hand."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from conftest import read_report, wait_for
from remessa import config
from remessa import daemon as daemon_module
from remessa.channels.embedded import submission_counts
from remessa.cli import main
from remessa.daemon import Daemon


@pytest.fixture
def settings(make_config) -> config.Settings:
    # The sandbox takes 100 messages/s of real time, so a 600-row batch takes six seconds.
    return config.load(make_config(
        profiles={"default": {"chunk_size": 10}},
        sandbox={"rate": 100.0, "refuse": {}, "fail": {}},
    ))


def drop(settings: config.Settings, name: str, rows: int, sidecar: dict | None = None) -> None:
    inbox = settings.daemon.spool / "default" / "inbox"
    if sidecar:
        (inbox / f"{name}.json").write_text(json.dumps(sidecar))
    (inbox / f".{name}").write_text("".join(f"55119{n:08d};oi {n};;\n" for n in range(rows)) + "EOF\n")
    os.utime(inbox / f".{name}", (time.time() - 60, time.time() - 60))  # long settled: taken at once
    os.rename(inbox / f".{name}", inbox / name)


class Driven:
    """A daemon whose loop the test turns by hand: one chunk a turn, the clock still unless moved,
    receipts only when pumped."""

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
        self.now = time.time()
        self.daemon = Daemon(settings, clock=lambda: self.now)

    def settle(self) -> None:
        """A minute later: every receipt is due; hand them over and let the batches settle."""
        self.now += 60.0
        self.daemon.providers["sandbox"].channel.pump()
        turns(self.daemon, 2)


@pytest.fixture
def driven(make_config, monkeypatch: pytest.MonkeyPatch) -> Iterator[Driven]:
    monkeypatch.setattr(daemon_module, "BUSY_SLICE", 0.0)
    settings = config.load(make_config(
        profiles={"default": {"chunk_size": 10}},
        sandbox={"rate": 100000.0, "pump_interval": 0, "refuse": {}, "fail": {}},
    ))
    driven = Driven(settings)
    driven.daemon.start()
    yield driven
    driven.daemon.shutdown()


def turns(daemon: Daemon, count: int) -> None:
    for _ in range(count):
        daemon.step()


def cli(settings: config.Settings, *args: str) -> int:
    return main(["--config", str(settings.source), *args])


def sent(daemon: Daemon, name: str) -> int:
    try:
        batch = daemon.store.find_batch(name)
    except LookupError:
        return 0
    counts = daemon.store.counts(batch.id)
    return sum(n for status, n in counts.items() if status not in ("QUEUED", "SUBMITTING"))


def status_of(settings: config.Settings, capsys: pytest.CaptureFixture[str], name: str) -> dict:
    capsys.readouterr()
    assert cli(settings, "status", "--json") == 0
    return next(row for row in json.loads(capsys.readouterr().out) if row["name"] == name)


def test_pause_then_resume_a_running_batch(driven: Driven, capsys) -> None:
    settings, daemon = driven.settings, driven.daemon
    drop(settings, "lote.txt", 600)
    turns(daemon, 3)
    running = sent(daemon, "lote.txt")
    turns(daemon, 2)
    before = sent(daemon, "lote.txt")
    assert 0 < running < before < 600  # it is sending, a chunk a turn

    assert cli(settings, "pause", "lote.txt") == 0
    assert status_of(settings, capsys, "lote.txt")["state"] == "PAUSED"
    turns(daemon, 10)
    # Nothing more goes out, and the provider saw no more than had been sent.
    assert sent(daemon, "lote.txt") == before
    assert len(submission_counts(settings.daemon.spool / "sandbox.sqlite")) == before
    assert status_of(settings, capsys, "lote.txt")["state"] == "PAUSED"

    assert cli(settings, "resume", "lote.txt") == 0
    assert status_of(settings, capsys, "lote.txt")["state"] == "SENDING"
    for _ in range(100):
        if sent(daemon, "lote.txt") == 600:
            break
        daemon.step()
    counts = submission_counts(settings.daemon.spool / "sandbox.sqlite")
    assert len(counts) == 600 and set(counts.values()) == {1}  # the rest went, each row once
    driven.settle()
    summary = settings.daemon.spool / "default" / "success" / "lote.txt.summary.json"
    assert json.loads(summary.read_text())["state"] == "SETTLED"
    assert json.loads(summary.read_text())["counts"]["DELIVERED"] == 600


def test_cancel_expires_the_unsent_rows_and_writes_the_report(running: Daemon, settings: config.Settings) -> None:
    drop(settings, "lote.txt", 600)
    wait_for(lambda: sent(running, "lote.txt") >= 50)
    assert cli(settings, "cancel", "lote.txt") == 0
    folder = settings.daemon.spool / "default" / "success"
    summary = folder / "lote.txt.summary.json"
    wait_for(lambda: summary.exists() and json.loads(summary.read_text())["state"] == "SETTLED")
    rows = read_report(folder / "lote.txt.report.csv")
    cancelled = [r for r in rows if r["status"] == "EXPIRED"]
    assert cancelled and all(r["reason"].startswith("cancelled: by an operator at ") for r in cancelled)
    assert len(cancelled) + len([r for r in rows if r["status"] == "DELIVERED"]) == 600
    retry = (folder / "lote.txt.retry.txt").read_text().splitlines()
    assert len(retry) == len(cancelled) + 1 and retry[-1] == "EOF"
    assert cli(settings, "cancel", "lote.txt") == 1  # nothing left to cancel


def test_status_shows_a_waiting_batch_with_its_next_opening_and_eta(
    running: Daemon, settings: config.Settings, capsys
) -> None:
    later = (datetime.now(UTC) + timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    drop(settings, "noite.txt", 20, {"timeWindow": [later.hour], "timeZone": "UTC"})
    wait_for(lambda: running.store.batches() and running.store.batches()[0].state == "QUEUED")
    row = status_of(settings, capsys, "noite.txt")
    assert row["state"] == "WAITING" and row["done"] == 0 and row["rows"] == 20
    assert datetime.fromisoformat(row["nextOpening"]) == later
    assert later <= datetime.fromisoformat(row["eta"]) < later + timedelta(minutes=1)
    assert cli(settings, "status") == 0
    table = capsys.readouterr().out
    assert "WAITING" in table and later.isoformat() in table


def test_control_of_an_unknown_batch_fails(settings: config.Settings, capsys) -> None:
    assert cli(settings, "pause", "nada.txt") == 1
    assert "no batch named 'nada.txt'" in capsys.readouterr().err
