"""The ``remessa`` command: run the daemon, validate a file, show status, pause/resume/cancel a batch,
rewrite a report, run the SMSC simulator (``sandbox``). One module per command; none holds business logic.

Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from remessa import config
from remessa.cli import control, report, run, sandbox, status, validate
from remessa.errors import ConfigError, NotFound

log = logging.getLogger(__name__)

COMMANDS = (run, validate, status, control, report, sandbox)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    try:
        settings = config.load(args.config) if getattr(args, "needs_config", True) else None
        return int(args.handler(settings, args))
    except ConfigError as exc:
        print(f"remessa: {exc}", file=sys.stderr)
        return 2
    except NotFound as exc:
        print(f"remessa: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="remessa", description=__doc__)
    parser.add_argument("--config", help="configuration file (default: $REMESSA_CONFIG, /etc/remessa/remessa.toml)")
    parser.add_argument("--log-level", default=os.environ.get("REMESSA_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add(sub)
    return parser


def _configure_logging(level: str) -> None:
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    fmt = "%(levelname)s %(name)s: %(message)s" if under_systemd else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level.upper(), format=fmt, stream=sys.stderr)
    for chatty in ("alembic", "apscheduler"):  # their start/stop chatter is not news
        logging.getLogger(chatty).setLevel(logging.WARNING)
