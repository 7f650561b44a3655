"""The ``remessa`` command: run the daemon, validate a file, show status, rewrite a report.

Exit codes: 0 ok, 1 failure, 2 usage or configuration error.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from remessa import config, report
from remessa.errors import BatchFileError, ConfigError, NotFound
from remessa.formats import open_batch
from remessa.segments import measure
from remessa.status import Status

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    try:
        settings = config.load(args.config)
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

    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--once", action="store_true", help="process the inboxes, wait until settled, exit")
    run.set_defaults(handler=_run)

    validate = sub.add_parser("validate", help="parse and validate a file without sending")
    validate.add_argument("file", type=Path)
    validate.add_argument("--profile", default="default")
    validate.add_argument("--report", type=Path, help="also write a report CSV to this path")
    validate.add_argument("--quiet", action="store_true", help="print only the counts, not every row")
    validate.set_defaults(handler=_validate)

    status = sub.add_parser("status", help="batches and their progress")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_status)

    rep = sub.add_parser("report", help="(re)write a batch's report")
    rep.add_argument("name", help="the batch file's name")
    rep.add_argument("--profile")
    rep.set_defaults(handler=_report)
    return parser


def _configure_logging(level: str) -> None:
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    fmt = "%(levelname)s %(name)s: %(message)s" if under_systemd else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level.upper(), format=fmt, stream=sys.stderr)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migration chatter is not news


def _run(settings: config.Settings, args: argparse.Namespace) -> int:
    from remessa.daemon import Daemon

    daemon = Daemon(settings)

    def _stop(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping (nothing new is sent)", signal.Signals(signum).name)
        daemon.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    daemon.run(once=args.once)
    return 0


def _validate(settings: config.Settings, args: argparse.Namespace) -> int:
    from remessa.validate import Validator

    profile = settings.profile(args.profile)
    try:
        parsed = open_batch(args.file, format=profile.format, message_text=profile.message_text)
        validator = Validator(profile, kind=parsed.info.kind)
        statuses: Counter[str] = Counter()
        reasons: Counter[str] = Counter()
        out = _ReportFile(args.report) if args.report else None
        if not args.quiet:
            print("line;destination;status;parts;encoding;reason")
        for row in parsed.rows:
            verdict = validator.check(row)
            statuses[verdict.status] += 1
            if verdict.reason:
                reasons[verdict.reason.split(":", 1)[0]] += 1
            shape = measure(row.text) if verdict.status == Status.QUEUED and row.text else None
            parts, encoding = (str(shape.parts), shape.encoding) if shape else ("", "")
            if not args.quiet:
                print(f"{row.line};{verdict.destination};{verdict.status};{parts};{encoding};{verdict.reason}")
            if out:
                out.add(row, verdict, parts)
        if out:
            out.close()
    except BatchFileError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    print(f"# {args.file}: format {parsed.info.format}, encoding {parsed.info.encoding}")
    for note in parsed.info.notes:
        print(f"# note: {note}")
    for status, n in sorted(statuses.items()):
        print(f"# {status}: {n}")
    for reason, n in sorted(reasons.items()):
        print(f"#   {reason}: {n}")
    return 0


class _ReportFile:
    """The report CSV of a file that is only validated (nothing submitted)."""

    def __init__(self, path: Path) -> None:
        self.file = open(path, "w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.file, delimiter=";", lineterminator="\n")
        self.writer.writerow(report.HEADER)

    def add(self, row: Any, verdict: Any, parts: str) -> None:
        blank = [""] * (len(report.HEADER) - 7)
        self.writer.writerow([row.line, verdict.destination, row.correlation_id, verdict.status, "", parts,
                              *blank, verdict.reason])

    def close(self) -> None:
        self.file.close()


def _status(settings: config.Settings, args: argparse.Namespace) -> int:
    from remessa.store import Store

    store = Store(settings.daemon.database_url)
    try:
        store.migrate()
        rows = []
        for batch in store.batches():
            counts = store.counts(batch.id)
            rows.append({
                "id": batch.id, "profile": batch.profile, "name": batch.name, "state": batch.state,
                "rows": sum(counts.values()), "counts": counts, "error": batch.error,
            })
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'ID':>5} {'PROFILE':<12} {'STATE':<10} {'ROWS':>8} {'DONE':>8}  NAME")
    for row in rows:
        done = sum(n for s, n in row["counts"].items() if s not in ("QUEUED", "SUBMITTING"))
        print(f"{row['id']:>5} {row['profile']:<12} {row['state']:<10} {row['rows']:>8} {done:>8}  {row['name']}")
    return 0


def _report(settings: config.Settings, args: argparse.Namespace) -> int:
    from remessa.settlement import Settlement
    from remessa.spool import Spool
    from remessa.store import Store

    store = Store(settings.daemon.database_url)
    try:
        store.migrate()
        batch = store.find_batch(args.name, args.profile)
        spool = Spool(settings.daemon.spool, list(settings.profiles))
        path = Settlement(settings, store, spool).write(batch, batch.changed_at or 0.0)
    finally:
        store.close()
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
