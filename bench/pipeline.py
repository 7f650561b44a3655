"""Pipeline benchmark: `remessa run` end to end against the SMPP channel alone, in the same run, on the same
simulator process (remessa.simulators.smsc in a child process, no throttling, receipts on).

Run: .venv/bin/python bench/pipeline.py [--rows 100000] [--only e|f|g] [--rss-messages 2000000]
- (e) end to end: a --rows file renamed into the inbox of `remessa run` (a real process: SQLite store, 4 binds x
  window 10, no rate cap, receipts on); drop -> last acceptance on the simulator's clock, messages/s. Baseline:
  SmppChannel alone sends as many messages in chunks of 500 (receipts on, handed to a sink that only counts).
  Target >= 5,000/s and >= 0.5 of the channel.
- (f) drop -> first submit of a renamed-in one-row file, the daemon idle and its channel open: median of 5.
  Target <= 0.3 s.
- (g) memory: RSS of `remessa run` sampled while it sends --rss-messages messages (files of --rows rows one
  after another); the growth after the first 100,000 messages. Target within 10 %.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from remessa.channels.base import Callbacks
from remessa.channels.smpp.channel import SmppChannel
from remessa.channels.smpp.settings import SmppSettings
from smpp import BINDS, PASSWORD, SYSTEM_ID, TEXT, WINDOW, Simulator, outgoing  # bench/smpp.py

CONFIG = """
[daemon]
spool = "{spool}"
settle_seconds = 0.5
poll_seconds = 0.05

[providers.smsc]
type = "smpp"
host = "127.0.0.1"
port = {port}
system_id = "{system_id}"
password = "{password}"
source_addr = "Loja"
binds = {binds}
window = {window}
rate = 100000.0
registered_delivery = true

[profiles.default]
provider = "smsc"
receipt_timeout = 5.0
"""


class Daemon:
    """`remessa run` in its own process, on a fresh spool, talking to `port`."""

    def __init__(self, tmp: Path, port: int) -> None:
        self.spool = tmp / "spool"
        self.config = tmp / "remessa.toml"
        self.config.write_text(CONFIG.format(spool=self.spool, port=port, system_id=SYSTEM_ID, password=PASSWORD,
                                             binds=BINDS, window=WINDOW), encoding="utf-8")
        self.inbox = self.spool / "default" / "inbox"
        self._tmp = tmp
        self.process = subprocess.Popen([sys.executable, "-m", "remessa.cli", "--config", str(self.config),
                                         "--log-level", "WARNING", "run"])
        while not self.inbox.is_dir():
            time.sleep(0.02)

    def drop(self, name: str, first: int, rows: int) -> float:
        """Write a file of `rows` SMS beside the inbox and rename it in; returns the instant of the rename."""
        body = "".join(f"5511{900000000 + n};{TEXT};c{n};\n" for n in range(first, first + rows)) + "EOF\n"
        staged = self._tmp / name
        staged.write_text(body, encoding="utf-8")
        at = time.time()
        os.rename(staged, self.inbox / name)
        return at

    def finished(self, name: str) -> bool:
        return any((self.spool / "default" / folder / name).exists() for folder in ("success", "error"))

    def rss(self) -> int:
        """Resident set size in KiB (/proc)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def wait_accepted(sim: Simulator, count: int, timeout: float, every: float = 0.2) -> dict[str, Any]:
    """Poll the simulator (each poll costs it a pass over every message it holds) until `count` accepted."""
    deadline = time.monotonic() + timeout
    while True:
        stats = sim.stats()
        if stats["accepted"] >= count:
            return stats
        if time.monotonic() > deadline:
            raise SystemExit(f"only {stats['accepted']} of {count} accepted in {timeout:.0f} s")
        time.sleep(every)


def channel_alone(port: int, rows: int) -> float:
    """SmppChannel.send() in chunks of 500, receipts on (counted, not stored): messages accepted per second."""
    settings = SmppSettings(port=port, system_id=SYSTEM_ID, password=PASSWORD, binds=BINDS, window=WINDOW,
                            rate=100_000.0, registered_delivery=True)
    channel = SmppChannel(settings)
    channel.open(Callbacks(lambda receipts: None))
    try:
        started, sent = time.perf_counter(), 0
        while sent < rows:
            count = min(500, rows - sent)
            channel.send(outgoing(sent, count))
            sent += count
        return rows / (time.perf_counter() - started)
    finally:
        channel.close()


def end_to_end(rows: int) -> None:
    with Simulator(max_submits_per_second=None) as sim:
        channel_rate = channel_alone(sim.port, rows)
    with tempfile.TemporaryDirectory(prefix="remessa-bench-") as tmp, Simulator(max_submits_per_second=None) as sim:
        daemon = Daemon(Path(tmp), sim.port)
        try:
            dropped = daemon.drop("bench.txt", 0, rows)
            stats = wait_accepted(sim, rows, timeout=rows / 200 + 60)
        finally:
            daemon.stop()
    first, last = stats["accepted_span"]
    rate = rows / (last - dropped)
    print(f"(e) end to end, {rows:,} rows, {BINDS} binds x window {WINDOW}, receipts on: drop -> last acceptance "
          f"{last - dropped:.1f} s = {rate:,.0f} messages/s (drop -> first acceptance {first - dropped:.1f} s); "
          f"the channel alone {channel_rate:,.0f}/s; ratio {rate / channel_rate:.2f}")


def first_submit() -> None:
    with tempfile.TemporaryDirectory(prefix="remessa-bench-") as tmp, Simulator(max_submits_per_second=None) as sim:
        daemon = Daemon(Path(tmp), sim.port)
        try:
            while sim.stats()["bound"] < BINDS:
                time.sleep(0.05)
            delays = []
            for n in range(5):
                time.sleep(1.0)  # idle: the loop is asleep when the file comes
                dropped = daemon.drop(f"one-{n}.txt", n, 1)
                stats = wait_accepted(sim, n + 1, timeout=30)
                delays.append(stats["accepted_span"][1] - dropped)
        finally:
            daemon.stop()
    print(f"(f) drop -> first submit of a renamed-in one-row file: median {statistics.median(delays):.3f} s "
          f"(all {', '.join(f'{d:.3f}' for d in delays)}); target 0.3 s")


def memory(total: int, rows: int) -> None:
    with tempfile.TemporaryDirectory(prefix="remessa-bench-") as tmp, Simulator(max_submits_per_second=None) as sim:
        daemon = Daemon(Path(tmp), sim.port)
        samples: list[tuple[int, int]] = []
        try:
            for n in range(0, total, rows):
                daemon.drop(f"m{n}.txt", n, rows)
                wait_accepted(sim, n + rows, timeout=rows / 50 + 60, every=2.0)
                samples.append((n + rows, daemon.rss()))
        finally:
            daemon.stop()
    base = next(kib for sent, kib in samples if sent >= 100_000)
    peak = max(kib for sent, kib in samples if sent >= 100_000)
    print(f"(g) RSS of remessa run over {total:,} messages: {base / 1024:.0f} MiB after 100,000, peak "
          f"{peak / 1024:.0f} MiB after that (+{100 * (peak - base) / base:.1f} %); target within 10 %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rss-messages", type=int, default=2_000_000)
    parser.add_argument("--only", choices=("e", "f", "g"))
    args = parser.parse_args()
    if args.only in (None, "e"):
        end_to_end(args.rows)
    if args.only in (None, "f"):
        first_submit()
    if args.only in (None, "g"):
        memory(args.rss_messages, args.rows)


if __name__ == "__main__":
    main()
