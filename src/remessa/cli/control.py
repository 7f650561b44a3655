"""``remessa pause|resume|cancel NAME``: written to the store, then the daemon is woken to act on it at once."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from remessa.config import Settings
from remessa.model import BatchState
from remessa.schedule.window import load_zone, local_iso
from remessa.spool import Spool
from remessa.store import Store

ACTIONS = {
    "pause": "stop sending a batch until resumed",
    "resume": "resume a paused batch",
    "cancel": "cancel a batch: its unsent rows become EXPIRED (cancelled)",
}


def add(sub: Any) -> None:
    for name, text in ACTIONS.items():
        control = sub.add_parser(name, help=text)
        control.add_argument("name", help="the batch file's name")
        control.add_argument("--profile")
        control.set_defaults(handler=handle, action=name)


def handle(settings: Settings, args: argparse.Namespace) -> int:
    store = Store(settings.daemon.database_url)
    try:
        store.migrate(if_needed=True)
        batch = store.find_batch(args.name, args.profile)
        if batch.state not in (BatchState.RECEIVING, BatchState.QUEUED):
            print(f"remessa: batch {batch.id} ({batch.name}) is {batch.state}: nothing left to {args.action}",
                  file=sys.stderr)
            return 1
        now = time.time()
        if args.action == "cancel":
            stamp = local_iso(now, load_zone(batch.timing.zone))
            count = store.expire(batch.id, f"cancelled: by an operator at {stamp}", now)
            print(f"batch {batch.id} ({batch.name}): cancelled, {count} unsent messages EXPIRED")
        else:
            store.update_batch(batch.id, paused=int(args.action == "pause"), changed_at=now)
            print(f"batch {batch.id} ({batch.name}): {'paused' if args.action == 'pause' else 'resumed'}")
    finally:
        store.close()
    Spool(settings.daemon.spool, list(settings.profiles)).poke()
    return 0
