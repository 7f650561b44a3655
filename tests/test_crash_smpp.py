"""The core promise under SIGKILL, counted at an SMSC we did not write (tests/peers/smsc.js on the npm `smpp`
package, which logs every submit_sm it acknowledges before answering it).

A 10,000-row file goes to the SMSC over 2 binds x window 10 with receipts on; `remessa run` is killed with
SIGKILL at random instants (during intake, sending, receipts, the final move) and started again, 20 times;
a last `remessa run --once` finishes the batch (on SQLite, and on PostgreSQL, whose advisory lock a killed
daemon must not keep). Then: every input row is in the report exactly once, in a final
status; after each kill at most binds x window acknowledgements were not yet committed (each answer is
committed as it arrives, and holds its window slot until then); with in_flight = "unknown" no destination
was acknowledged twice; with "retry" every destination acknowledged twice says in_flight_retried.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy

from conftest import read_report, write_config
from node_smsc import NodeSmsc
from test_store import postgres_url  # noqa: F401 - the throwaway PostgreSQL cluster

ROWS = 10_000
KILLS = 20
BINDS, WINDOW = 2, 10


def _acknowledged(log: Path) -> list[dict[str, str]]:
    if not log.exists():
        return []
    lines = log.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]


def _committed_ids(url: str) -> set[str]:
    """The provider ids the store has committed (read as another process would)."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT provider_id FROM messages WHERE provider_id IS NOT NULL")
            return {row[0] for row in rows}
    except sqlalchemy.exc.DatabaseError:  # killed before the schema existed
        return set()
    finally:
        engine.dispose()


@pytest.mark.parametrize(("policy", "database"), [("retry", "sqlite"), ("unknown", "sqlite"),
                                                  ("retry", "postgresql")])
def test_sigkill_at_random_instants_against_the_npm_smsc(tmp_path: Path, policy: str, database: str,
                                                         request: pytest.FixtureRequest) -> None:
    seed = int(os.environ.get("CRASH_SEED", time.time_ns() % 1_000_000))
    chance = random.Random(seed)
    log = tmp_path / "acknowledged.jsonl"
    smsc = NodeSmsc(tmp_path, SMSC_SYSTEM_ID="remessa", SMSC_PASSWORD="secret", SMSC_SENT_DELAY_MS="20",
                    SMSC_DELIVERED_DELAY_MS="50", SMSC_REDELIVER_MS="200", SMSC_LOG=str(log))
    try:
        spool = tmp_path / "spool"
        url = (str(request.getfixturevalue("postgres_url")) if database == "postgresql"
               else f"sqlite:///{spool / 'remessa.sqlite'}")
        path = write_config(tmp_path / "remessa.toml", {
            "daemon": {"spool": str(spool), "settle_seconds": 0.2, "poll_seconds": 0.05, "idle_seconds": 0.5,
                       "database": url},
            "providers.smsc": {"type": "smpp", "host": "127.0.0.1", "port": smsc.port, "system_id": "remessa",
                               "password": "secret", "source_addr": "Loja", "binds": BINDS, "window": WINDOW,
                               "rate": 250.0, "enquire_link": 5.0, "response_timeout": 2.0,
                               "reconnect_min": 0.05, "reconnect_max": 0.5, "allow_short_timers": True},
            "profiles.default": {"provider": "smsc", "in_flight": policy, "chunk_size": 100,
                                 "receipt_timeout": 30.0},
        })
        inbox = spool / "default" / "inbox"
        inbox.mkdir(parents=True)
        body = "".join(f"55119{n:08d};mensagem {n};c{n};\n" for n in range(ROWS)) + "EOF\n"
        (inbox / ".lote.txt.tmp").write_text(body, encoding="utf-8")
        os.rename(inbox / ".lote.txt.tmp", inbox / "lote.txt")

        command = [sys.executable, "-m", "remessa.cli", "--config", str(path), "--log-level", "WARNING", "run"]
        uncommitted_before: set[str] = set()
        mid_sending = 0  # kills that came after the first acknowledgement and before the last
        for kill in range(KILLS):
            daemon = subprocess.Popen(command)
            time.sleep(chance.uniform(0.3, 2.5))  # a random instant: the point of the test, not a wait
            daemon.send_signal(signal.SIGKILL)
            assert daemon.wait(timeout=10) == -signal.SIGKILL, f"seed {seed}: run {kill} ended by itself"
            acked = {entry["id"] for entry in _acknowledged(log)}
            mid_sending += 0 < len({entry["destination"] for entry in _acknowledged(log)}) < ROWS
            uncommitted = acked - _committed_ids(url)
            new = uncommitted - uncommitted_before
            assert len(new) <= BINDS * WINDOW, f"seed {seed}, kill {kill}: {len(new)} acknowledgements lost"
            uncommitted_before = uncommitted
        assert mid_sending >= 5, f"seed {seed}: only {mid_sending} kills came while sending"

        subprocess.run([*command, "--once"], check=True, timeout=300)
    finally:
        smsc.close()

    reports = list((spool / "default").glob("*/lote.txt.report.csv"))
    assert len(reports) == 1, reports
    rows = read_report(reports[0])
    assert sorted(int(r["line"]) for r in rows) == list(range(1, ROWS + 1)), f"seed {seed}"  # each row once
    # the SMSC redelivers a receipt a killed daemon never answered, so every message ends with its receipt
    assert {r["status"] for r in rows} <= {"DELIVERED", "UNKNOWN"}, f"seed {seed}"
    times = Counter(entry["destination"] for entry in _acknowledged(log))
    twice = {destination for destination, n in times.items() if n > 1}
    by_destination = {r["destination"]: r for r in rows}
    if policy == "unknown":
        assert not twice, f"seed {seed}: acknowledged twice: {sorted(twice)[:5]}"
        unknown = [r for r in rows if r["status"] == "UNKNOWN"]
        assert all(r["reason"].startswith("in_flight_unknown:") for r in unknown), f"seed {seed}"
    else:
        assert all(by_destination[d]["reason"].startswith("in_flight_retried:") for d in twice), f"seed {seed}"
        assert len(twice) <= KILLS * BINDS * WINDOW, f"seed {seed}"
    # what the SMSC acknowledged last for each destination is the id the report shows
    last = {entry["destination"]: entry["id"] for entry in _acknowledged(log)}
    shown = {d: r["messageId"] for d, r in by_destination.items() if r["status"] == "DELIVERED"}
    assert all(last[d] == pid for d, pid in shown.items()), f"seed {seed}"
