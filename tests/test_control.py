"""pause, resume, cancel and status against a daemon running its real loop in a thread."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from conftest import read_report, wait_for
from remessa import config
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
    os.rename(inbox / f".{name}", inbox / name)


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


def test_pause_then_resume_a_running_batch(running: Daemon, settings: config.Settings, capsys) -> None:
    drop(settings, "lote.txt", 600)
    wait_for(lambda: sent(running, "lote.txt") >= 50)
    assert cli(settings, "pause", "lote.txt") == 0
    # Once the chunk in flight is answered, nothing more goes out.
    previous = -1
    while (current := sent(running, "lote.txt")) != previous:
        previous = current
        time.sleep(1.0)
    assert current < 600
    assert status_of(settings, capsys, "lote.txt")["state"] == "PAUSED"

    assert cli(settings, "resume", "lote.txt") == 0
    summary = settings.daemon.spool / "default" / "success" / "lote.txt.summary.json"
    wait_for(lambda: summary.exists() and json.loads(summary.read_text())["state"] == "SETTLED")
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
