"""``remessa status``: every batch and its progress (state, rows done, next window opening, ETA)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from remessa.config import Settings
from remessa.results.progress import progress
from remessa.store import Store


def add(sub: Any) -> None:
    status = sub.add_parser("status", help="batches and their progress")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=handle)


def handle(settings: Settings, args: argparse.Namespace) -> int:
    store = Store(settings.daemon.database_url)
    try:
        store.migrate(if_needed=True)
        rows = progress(settings, store, time.time())
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    print(f"{'ID':>5} {'PROFILE':<10} {'STATE':<9} {'DONE':>15}  {'NEXT OPENING':<25} {'ETA':<25} NAME")
    for row in rows:
        done = f"{row['done']}/{row['rows']}"
        print(f"{row['id']:>5} {row['profile']:<10} {row['state']:<9} {done:>15}  "
              f"{row['nextOpening'] or '-':<25} {row['eta'] or '-':<25} {row['name']}")
        if row["providerError"]:
            print(f"{'':>5} waiting for {row['providerError']}")
    return 0
