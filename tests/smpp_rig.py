"""A daemon sending over SMPP to the simulator, for the daemon-level SMPP tests: config, running, files, checks."""

from __future__ import annotations

import json
import os
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import read_report, wait_for, write_config
from remessa import config
from remessa.daemon import Daemon
from remessa.model import FINAL
from remessa.simulators.smsc.server import Smsc, SmscConfig

SMSC = SmscConfig(system_type="MovileSMSC", sent_receipt_delay=0.02, delivery_receipt_delay=0.05,
                  redeliver_after=0.3, max_submits_per_second=None)
NAME = "3486.20261123.01.txt"


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    with Smsc(SMSC) as server:
        yield server


def smpp_settings(tmp_path: Path, port: int, profile: dict[str, Any] | None = None,
                  **provider: Any) -> config.Settings:
    """A daemon on a spool under tmp_path whose one profile sends over SMPP to 127.0.0.1:`port`."""
    tables = {
        "daemon": {"spool": str(tmp_path / "spool"), "settle_seconds": 0.2, "poll_seconds": 0.05,
                   "idle_seconds": 0.5},
        "providers.smsc": {"type": "smpp", "host": "127.0.0.1", "port": port, "system_id": "remessa",
                           "password": "secret", "source_addr": "Loja", "binds": 2, "window": 10,
                           "rate": 100.0, "enquire_link": 5.0, "response_timeout": 1.0,
                           "reconnect_min": 0.05, "reconnect_max": 0.2, "allow_short_timers": True, **provider},
        "profiles.default": {"provider": "smsc", "receipt_timeout": 10.0, "chunk_size": 20,
                             "in_flight": "retry", **(profile or {})},
    }
    return config.load(write_config(tmp_path / "remessa.toml", tables))


def tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context (the simulator's); `load_cert_chain` on it again swaps the certificate."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


class Running:
    """A daemon running its real loop in a thread; `error` holds what ended it, if anything did."""

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
        self.daemon = Daemon(settings)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="daemon", daemon=True)

    def _run(self) -> None:
        try:
            self.daemon.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            self.error = exc

    def stop(self) -> None:
        self.daemon.stop()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive(), "the daemon did not stop"


@pytest.fixture
def run_daemon() -> Iterator[Callable[..., Running]]:
    """Start daemons (each stopped at the end of the test); by default wait until its channel is open."""
    started: list[Running] = []

    def start(settings: config.Settings, wait_open: bool = True) -> Running:
        settings.daemon.spool.mkdir(parents=True, exist_ok=True)
        running = Running(settings)
        started.append(running)
        running.thread.start()
        if wait_open:
            wait_for(lambda: running.error is not None or "smsc" in running.daemon.providers, timeout=20)
            assert running.error is None, f"the daemon did not start: {running.error!r}"
        return running

    yield start
    for running in started:
        running.stop()


def batch(count: int, start: int = 0) -> tuple[str, dict[str, int]]:
    """An SMS TXT file of `count` rows, and the input line of each destination."""
    rows = {f"55119{n:08d}": line for line, n in enumerate(range(start, start + count), start=2)}
    body = "numero;texto;correlationId(opcional);\n"
    body += "".join(f"{dest};mensagem {line};c{line};\n" for dest, line in rows.items()) + "EOF\n"
    return body, rows


def drop(settings: config.Settings, content: str, name: str = NAME) -> None:
    inbox = settings.daemon.spool / "default" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    tmp = inbox / f".{name}.tmp"
    tmp.write_text(content, encoding="utf-8")
    os.utime(tmp, (time.time() - 60, time.time() - 60))  # long settled: taken at once
    os.rename(tmp, inbox / name)


def settled(running: Running, name: str = NAME, timeout: float = 30.0) -> tuple[str, dict[str, Any]]:
    """Wait until the batch file is in success/ or error/ and settled; its folder and summary."""
    spool = running.settings.daemon.spool / "default"
    found: list[tuple[str, dict[str, Any]]] = []

    def done() -> bool:
        if running.error is not None:
            raise AssertionError(f"the daemon stopped: {running.error!r}") from running.error
        for folder in ("success", "error"):
            path = spool / folder / f"{name}.summary.json"
            if path.exists():
                summary = json.loads(path.read_text(encoding="utf-8"))
                if summary["state"] in ("SETTLED", "FAILED"):
                    found.append((folder, summary))
                    return True
        return False

    wait_for(done, timeout=timeout)
    folder, summary = found[0]
    assert (spool / folder / name).exists() and not (spool / "processing" / name).exists()
    return folder, summary


def report(settings: config.Settings, folder: str, name: str = NAME) -> list[dict[str, str]]:
    return read_report(settings.daemon.spool / "default" / folder / f"{name}.report.csv")


def check_batch(rows: list[dict[str, str]], lines: dict[str, int], smscs: list[Smsc],
                policy: str = "retry", throttled: bool = False) -> dict[str, int]:
    """The issue's invariants; returns how many times each destination's submit_sm reached an SMSC (was
    accepted by it, when `throttled`: a throttled submit_sm is refused, and sent again by design)."""
    assert sorted(int(r["line"]) for r in rows) == sorted(lines.values()), "every input line exactly once"
    for r in rows:
        assert r["status"] in FINAL, f"line {r['line']} is {r['status']}, not final"
        if r["status"] != "DELIVERED":
            assert r["reason"], f"line {r['line']} is {r['status']} with no reason"
    accepted: dict[str, Any] = {}
    by_content: Counter[tuple[str, bytes]] = Counter()
    for server in smscs:
        accepted.update(server.messages())
        if not throttled:
            by_content.update(server.stats().submits_by_content)
    if throttled:
        by_content.update((m.destination, m.short_message) for m in accepted.values())
    submitted: dict[str, int] = {}  # destination -> times its most repeated part went
    for (destination, _), n in by_content.items():
        submitted[destination] = max(n, submitted.get(destination, 0))
    by_line = {int(r["line"]): r for r in rows}
    for destination, n in submitted.items():
        if n > 1:
            r = by_line[lines[destination]]
            assert policy == "retry", f"{destination} submitted {n} times under in_flight={policy}"
            assert r["reason"].startswith("in_flight_retried:"), f"{destination} submitted {n} times: {r}"
    took = {m.destination for m in accepted.values()}
    for r in rows:
        if r["messageId"]:
            assert accepted[r["messageId"]].destination == r["destination"]
        if r["status"] == "REJECTED":
            assert r["destination"] not in took, f"line {r['line']} reported REJECTED but the SMSC accepted it: {r}"
        if r["status"] == "DELIVERED":
            assert submitted.get(r["destination"], 0) >= 1
    return submitted
