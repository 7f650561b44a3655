"""The spool's observer: it starts and stops cleanly, as often as the daemon does (tests, restarts)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from remessa.spool import Spool, Watcher


def test_stopping_the_observer_logs_no_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """watchdog's emitter may read once more from the inotify it just closed as it stops, and logs that at
    ERROR; the daemon's shutdown must not show an error that is none (issue 11)."""
    spool = Spool(tmp_path, ["a", "b", "c"])
    spool.ensure()
    caplog.set_level(logging.DEBUG)
    for _ in range(40):
        watcher = Watcher(spool)
        watcher.start()
        (spool.folder("a", "inbox") / "x.txt").write_text("x")
        watcher.stop()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
