"""Scheduling benchmark: re-planning 1,000 waiting batches (5,000,000 queued messages) at start-up, and
the daemon's idle CPU while they wait for their windows.

Run: .venv/bin/python bench/schedule.py [--batches N] [--messages M] [--idle SECONDS]
- re-plan: Daemon.start() plus its first turn of the loop (recover in-flight rows, plan every batch,
  set the wake-up), against a baseline measured in the same run: one raw sqlite3 query counting the
  queued messages of every batch (the least any planner must read). Target <= 2 s.
- idle CPU: a real `remessa run` process over 60 s while every batch waits (utime+stime from /proc),
  as a percentage of one core, against a bare Python process sleeping for the same time. Target <= 1 %.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from remessa import config
from remessa.daemon import Daemon

TICKS = os.sysconf("SC_CLK_TCK")


def build(spool: Path, batches: int, messages: int) -> Path:
    """A store holding `batches` queued batches whose window is closed now, `messages` rows in all."""
    settings = config.parse({"daemon": {"spool": str(spool)}}, None)
    daemon = Daemon(settings)
    daemon.store.migrate()
    daemon.store.close()
    db = sqlite3.connect(spool / "remessa.sqlite", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    hour = datetime.now(UTC).hour
    closed = [h for h in range(24) if abs(h - hour) % 24 > 2 and abs(h - hour) % 24 < 22]
    now = time.time()
    db.execute("BEGIN")
    for n in range(1, batches + 1):
        window = json.dumps({"hours": [closed[n % len(closed)]]})
        db.execute(
            "INSERT INTO batches (id, profile, name, provider, state, zone, window, received_at, changed_at)"
            " VALUES (?, 'default', ?, 'sandbox', 'QUEUED', 'UTC', ?, ?, ?)",
            (n, f"lote{n}.txt", window, now, now),
        )
    db.execute("COMMIT")
    db.execute("DROP INDEX ix_messages_batch_status")  # bulk load first, index after
    per_batch = messages // batches
    rows = (
        (b, line, "QUEUED", f"55119{line:08d}", "Mensagem de teste", "", "", "", "", "", 0)
        for b in range(1, batches + 1) for line in range(1, per_batch + 1)
    )
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO messages (batch_id, line, status, destination, text, correlation_id, extra_info,"
        " params, raw, reason, attempts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    db.execute("COMMIT")
    db.execute("CREATE INDEX ix_messages_batch_status ON messages (batch_id, status)")
    db.execute("UPDATE batches SET rows = ?, last_line = ?", (per_batch, per_batch))
    db.close()
    return spool


def replan(spool: Path) -> float:
    settings = config.parse({"daemon": {"spool": str(spool)}}, None)
    daemon = Daemon(settings)
    started = time.perf_counter()
    daemon.start()
    daemon.step()
    elapsed = time.perf_counter() - started
    assert not daemon.store.dispatchable() or daemon.planner._wake_at > time.time(), "batches should wait"
    daemon.shutdown()
    return elapsed


def baseline_count(spool: Path) -> float:
    db = sqlite3.connect(spool / "remessa.sqlite")
    started = time.perf_counter()
    db.execute("SELECT batch_id, count(*) FROM messages WHERE status = 'QUEUED' GROUP BY batch_id").fetchall()
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def idle_cpu(command: list[str], seconds: float, warmup: float) -> float:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(warmup)
        assert process.poll() is None, "process ended early"
        before, started = cpu_seconds(process.pid), time.monotonic()
        time.sleep(seconds)
        used, wall = cpu_seconds(process.pid) - before, time.monotonic() - started
    finally:
        process.terminate()
        process.wait(timeout=60)
    return 100.0 * used / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="remessa-bench-") as tmp:
        spool = Path(tmp) / "spool"
        started = time.perf_counter()
        build(spool, args.batches, args.messages)
        print(f"built {args.batches:,} waiting batches, {args.messages:,} queued messages "
              f"in {time.perf_counter() - started:.0f}s")
        planned = replan(spool)
        raw = baseline_count(spool)
        print(f"re-plan at start-up: {planned:.2f}s (target <= 2 s); raw count of queued per batch: {raw:.2f}s; "
              f"ratio {planned / raw:.2f}")
        config_file = Path(tmp) / "remessa.toml"
        config_file.write_text(f'[daemon]\nspool = "{spool}"\n')
        daemon_cmd = [sys.executable, "-m", "remessa.cli", "--config", str(config_file),
                      "--log-level", "WARNING", "run"]
        ours = idle_cpu(daemon_cmd, args.idle, warmup=15.0)
        bare = idle_cpu([sys.executable, "-c", "import time; time.sleep(1e6)"], args.idle, warmup=1.0)
        print(f"idle CPU over {args.idle:.0f}s: remessa run {ours:.2f}% of a core (target <= 1 %); "
              f"bare sleeping interpreter {bare:.2f}%")


if __name__ == "__main__":
    main()
