"""Ingest benchmark: parse + validate + persist a 1,000,000-row SMS TXT file, against a raw baseline.

Run: .venv/bin/python bench/ingest.py [--rows N]
The measured run goes through the daemon's own intake (Intake.take: claim, parse, validate, store) in a
child process so that its peak RSS is its own. The baseline, in the same run, is a raw
``sqlite3.executemany`` of the very rows remessa stored into an identical table (same columns, same
indexes, same pragmas), in one transaction. Prints both times, their ratio and the peak RSS.
Targets (issue 2): ratio <= 2.0, peak RSS <= 250 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEXTS = [
    "Sua fatura de novembro vence amanha. Pague pelo app e evite juros.",
    "Promocao: 20% de desconto em todo o site ate domingo!",
    "Seu codigo de verificacao e 482913. Nao compartilhe.",
    "Ola! Seu pedido saiu para entrega e chega hoje.",
]
AREAS = ["11", "19", "21", "31", "41", "51", "61", "71", "81", "85"]


def generate(path: Path, rows: int) -> None:
    """An SMS TXT file in the provider's format, with a few invalid rows sprinkled in."""
    rnd = random.Random(42)
    with open(path, "w", encoding="utf-8") as out:
        out.write("numero;texto;correlationId(opcional);\n")
        for n in range(rows):
            number = f"55{rnd.choice(AREAS)}9{rnd.randrange(60000000, 99999999)}"
            if n % 1000 == 999:
                number = str(rnd.randrange(1000000, 9999999))  # not a mobile number
            out.write(f"{number};{rnd.choice(TEXTS)} #{n};c{n};\n")
        out.write("EOF\n")


CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from remessa import config
from remessa.daemon import Daemon
spool = Path(sys.argv[1])
settings = config.parse({"daemon": {"spool": str(spool)}}, None)
daemon = Daemon(settings)
daemon.store.migrate()
daemon.spool.ensure()
path = spool / "default" / "inbox" / "bench.txt"
started = time.perf_counter()
daemon.intake.take("default", path, time.time())
elapsed = time.perf_counter() - started
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": elapsed, "rss_mb": rss, "counts": daemon.store.counts(1)}))
"""


def measure_remessa(workdir: Path, source: Path) -> dict:
    spool = workdir / "spool"
    inbox = spool / "default" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "bench.txt").write_bytes(source.read_bytes())
    done = subprocess.run([sys.executable, "-c", CHILD, str(spool)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_baseline(workdir: Path, stored_db: Path) -> float:
    """Raw executemany of the same rows into an identical, empty table."""
    from sqlalchemy import create_engine

    from remessa.store.schema import MESSAGE_INSERT_COLUMNS, metadata

    target = workdir / "baseline.sqlite"
    engine = create_engine(f"sqlite:///{target}")
    metadata.create_all(engine)
    engine.dispose()
    with sqlite3.connect(stored_db) as src:
        rows = src.execute(f"SELECT {', '.join(MESSAGE_INSERT_COLUMNS)} FROM messages ORDER BY id").fetchall()
    db = sqlite3.connect(target, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("INSERT INTO batches (id, profile, name, provider, state, received_at) VALUES (1,'b','b','b','Q',0)")
    marks = ", ".join("?" * len(MESSAGE_INSERT_COLUMNS))
    sql = f"INSERT INTO messages ({', '.join(MESSAGE_INSERT_COLUMNS)}) VALUES ({marks})"
    started = time.perf_counter()
    db.execute("BEGIN")
    db.executemany(sql, rows)
    db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="remessa-bench-") as tmp:
        workdir = Path(tmp)
        source = workdir / "bench.txt"
        started = time.perf_counter()
        generate(source, args.rows)
        took = time.perf_counter() - started
        print(f"generated {args.rows:,} rows ({source.stat().st_size / 1e6:.1f} MB) in {took:.1f}s")
        ours = measure_remessa(workdir, source)
        baseline = measure_baseline(workdir, workdir / "spool" / "remessa.sqlite")
    ratio = ours["seconds"] / baseline
    print(f"remessa parse+validate+persist: {ours['seconds']:.2f}s ({args.rows / ours['seconds']:,.0f} rows/s), "
          f"peak RSS {ours['rss_mb']:.0f} MB, statuses {ours['counts']}")
    print(f"baseline sqlite3.executemany:    {baseline:.2f}s ({args.rows / baseline:,.0f} rows/s)")
    print(f"ratio {ratio:.2f} (target <= 2.0); peak RSS {ours['rss_mb']:.0f} MB (target <= 250 MB)")


if __name__ == "__main__":
    main()
