"""kill -9 in the middle of a batch, restart: every row appears once in the report and nothing the provider
acknowledged was submitted twice (counted on the sandbox provider's own side)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import read_report
from remessa import config
from remessa.channels.embedded import submission_counts

ROWS = 6000


def _sandbox_total(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT count(*) FROM submission").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


@pytest.mark.parametrize("policy", ["retry", "unknown"])
def test_sigkill_mid_batch_then_restart(make_config, policy: str) -> None:
    path = make_config(
        profiles={"default": {"chunk_size": 20, "in_flight": policy}},
        sandbox={"sent_delay": 0.05, "delivered_delay": 0.1, "refuse": {}, "fail": {}},
    )
    settings = config.load(path)
    inbox = settings.daemon.spool / "default" / "inbox"
    inbox.mkdir(parents=True)
    body = "".join(f"55119{n:08d};mensagem {n};c{n};\n" for n in range(ROWS)) + "EOF\n"
    (inbox / ".lote.txt.tmp").write_text(body, encoding="utf-8")
    os.rename(inbox / ".lote.txt.tmp", inbox / "lote.txt")

    command = [sys.executable, "-m", "remessa.cli", "--config", str(path), "--log-level", "WARNING", "run"]
    daemon = subprocess.Popen(command)
    state = settings.daemon.spool / "sandbox.sqlite"
    deadline = time.monotonic() + 60
    while _sandbox_total(state) < ROWS // 3:
        assert daemon.poll() is None and time.monotonic() < deadline, "daemon did not get going"
        time.sleep(0.01)
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(timeout=10)
    sent_before = _sandbox_total(state)
    assert sent_before < ROWS, "the kill came too late to test anything"

    subprocess.run([*command, "--once"], check=True, timeout=120)

    success = settings.daemon.spool / "default" / "success"
    rows = read_report(success / "lote.txt.report.csv")
    assert sorted(int(r["line"]) for r in rows) == list(range(1, ROWS + 1))  # every row exactly once

    counts = submission_counts(state)
    by_id = {}
    with sqlite3.connect(settings.daemon.spool / "remessa.sqlite") as db:
        for mid, line in db.execute("SELECT id, line FROM messages"):
            by_id[mid] = line
    twice = {by_id[mid] for mid, n in counts.items() if n > 1}
    reasons = {int(r["line"]): r["reason"] for r in rows}
    statuses = {int(r["line"]): r["status"] for r in rows}
    if policy == "unknown":
        assert not twice
        unknown = [line for line, s in statuses.items() if s == "UNKNOWN"]
        assert all(reasons[line].startswith("in_flight_unknown:") for line in unknown)
        assert all(s in ("DELIVERED", "UNKNOWN") for s in statuses.values())
    else:
        # Only messages that were in flight without an answer may go twice, and the report says so.
        assert all(reasons[line].startswith("in_flight_retried:") for line in twice)
        assert len(twice) <= 20
        assert set(statuses.values()) == {"DELIVERED"}
    assert max(counts.values()) <= 2
    summary = json.loads((success / "lote.txt.summary.json").read_text())
    assert summary["rows"] == ROWS and summary["state"] == "SETTLED"
