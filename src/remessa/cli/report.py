"""``remessa report NAME``: (re)write a batch's report, summary and retry file with the daemon's writer."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from remessa.config import Settings
from remessa.errors import NotFound
from remessa.results.settlement import Settlement
from remessa.spool import Spool
from remessa.store import Store


def add(sub: Any) -> None:
    rep = sub.add_parser("report", help="(re)write a batch's report")
    rep.add_argument("name", help="the batch file's name")
    rep.add_argument("--profile")
    rep.set_defaults(handler=handle)


def handle(settings: Settings, args: argparse.Namespace) -> int:
    store = Store(settings.daemon.database_url)
    try:
        store.migrate(if_needed=True)
        batch = store.find_batch(args.name, args.profile)
        spool = Spool(settings.daemon.spool, list(settings.profiles))
        if batch.pruned_at is not None:  # rewriting it now would leave a report with no lines
            raise NotFound(f"batch {batch.name}: its messages were deleted after daemon.retention_days"
                           f" ({datetime.fromtimestamp(batch.pruned_at, UTC):%Y-%m-%d %H:%M} UTC); the report"
                           f" written before is in {spool.folder(batch.profile, batch.outcome or 'success')}")
        path = Settlement(settings, store, spool).write(batch, batch.changed_at or 0.0)
    finally:
        store.close()
    print(path)
    return 0
