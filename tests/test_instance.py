"""One daemon per store: a second `remessa run` on the same store refuses to start, names the first, and
touches nothing; once the first is gone (even killed), the next one starts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import wait_for
from remessa import config
from remessa.daemon import Daemon
from remessa.errors import AlreadyRunning
from remessa.store import Store
from test_store import postgres_url  # noqa: F401 - the throwaway PostgreSQL cluster


def run_once(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "remessa.cli", "--config", str(path), "run", "--once"],
                          capture_output=True, text=True, timeout=60)


def test_a_second_daemon_on_the_same_store_refuses_to_start(make_config) -> None:
    path = make_config()
    first = Daemon(config.load(path))
    first.start()
    try:
        second = run_once(path)
        assert second.returncode == 2
        assert "another remessa daemon uses the store" in second.stderr
        assert f"pid {os.getpid()} on " in second.stderr  # the message names the first daemon
        with pytest.raises(AlreadyRunning):
            Daemon(config.load(path)).start()
    finally:
        first.shutdown()
    assert run_once(path).returncode == 0  # the lock went with the first daemon


def test_a_killed_daemon_does_not_block_the_next(make_config) -> None:
    path = make_config()
    settings = config.load(path)
    process = subprocess.Popen([sys.executable, "-m", "remessa.cli", "--config", str(path), "run"],
                               stderr=subprocess.DEVNULL)
    try:
        lock = Path(f"{settings.daemon.database_url.removeprefix('sqlite:///')}.lock")
        wait_for(lambda: lock.exists() and f"pid {process.pid} " in lock.read_text())
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=20)
    assert run_once(path).returncode == 0


def test_a_second_daemon_on_a_postgresql_store_refuses_to_start(postgres_url: str) -> None:
    first, second = Store(postgres_url), Store(postgres_url)
    first.hold()
    try:
        with pytest.raises(AlreadyRunning, match="another remessa daemon uses the store .*PostgreSQL backend pid"):
            second.hold()
    finally:
        first.close()
    second.hold()  # released with the first store's connection
    second.close()
