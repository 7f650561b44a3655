"""``remessa run``: the daemon in the foreground; SIGTERM or SIGINT stop it gracefully."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from remessa.config import Settings
from remessa.errors import AlreadyRunning, StartupError

log = logging.getLogger(__name__)


def add(sub: Any) -> None:
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--once", action="store_true", help="process the inboxes, wait until settled, exit")
    run.set_defaults(handler=handle)


def handle(settings: Settings, args: argparse.Namespace) -> int:
    from remessa.daemon import Daemon

    daemon = Daemon(settings)

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping (nothing new is sent)", signal.Signals(signum).name)
        daemon.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        daemon.run(once=args.once)
    except (AlreadyRunning, StartupError) as exc:
        print(f"remessa: {exc}", file=sys.stderr)
        return 2
    return 0
