"""The ``remessa`` command: run the daemon, validate a file, show status, pause/resume/cancel a batch,
rewrite a report, run the SMSC simulator (``sandbox``).

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
from zoneinfo import ZoneInfo

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

    for name, text in (("pause", "stop sending a batch until resumed"), ("resume", "resume a paused batch"),
                       ("cancel", "cancel a batch: its unsent rows become EXPIRED (cancelled)")):
        control = sub.add_parser(name, help=text)
        control.add_argument("name", help="the batch file's name")
        control.add_argument("--profile")
        control.set_defaults(handler=_control, action=name)

    rep = sub.add_parser("report", help="(re)write a batch's report")
    rep.add_argument("name", help="the batch file's name")
    rep.add_argument("--profile")
    rep.set_defaults(handler=_report)
    _add_sandbox(sub)
    return parser


def _configure_logging(level: str) -> None:
    under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
    fmt = "%(levelname)s %(name)s: %(message)s" if under_systemd else "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=level.upper(), format=fmt, stream=sys.stderr)
    for chatty in ("alembic", "apscheduler"):  # their start/stop chatter is not news
        logging.getLogger(chatty).setLevel(logging.WARNING)


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
    print(_validate_eta(settings, profile, args.file, parsed, statuses[Status.QUEUED]))
    for reason, n in sorted(reasons.items()):
        print(f"#   {reason}: {n}")
    return 0


def _validate_eta(settings: config.Settings, profile: Any, path: Path, parsed: Any, own: int) -> str:
    """The ETA line of `validate`: the file's own rows, as if it were dropped now with nothing ahead."""
    import time

    from remessa.channels import capacity
    from remessa.formats.sidecar import BatchOptions, read_sidecar
    from remessa.planner import forecast, plan_from, timing

    sidecar = path.with_name(path.name + ".json")
    options = read_sidecar(sidecar) if sidecar.exists() else BatchOptions()
    now = time.time()
    when_and_where = timing(options, parsed.info.template, profile, settings.daemon.timezone, now)
    rate = capacity(settings.providers[profile.provider].settings)
    eta, doomed = forecast(plan_from(**when_and_where), own, 0, rate, now)
    when = report.iso(eta.timestamp(), ZoneInfo(when_and_where["zone"])) if eta else "never"
    line = f"# ETA: {when} ({own} messages at {rate:g}/s, if dropped now with nothing ahead)"
    return line + (f"; {doomed} would expire first" if doomed else "")


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
        queued = store.queued()
        waiting = store.batches(["QUEUED"])
        rows = [_batch_status(settings, store, batch, queued, waiting) for batch in store.batches()]
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    print(f"{'ID':>5} {'PROFILE':<10} {'STATE':<9} {'DONE':>15}  {'NEXT OPENING':<25} {'ETA':<25} NAME")
    for row in rows:
        progress = f"{row['done']}/{row['rows']}"
        print(f"{row['id']:>5} {row['profile']:<10} {row['state']:<9} {progress:>15}  "
              f"{row['nextOpening'] or '-':<25} {row['eta'] or '-':<25} {row['name']}")
    return 0


def _batch_status(
    settings: config.Settings, store: Any, batch: Any, queued: dict[int, int], waiting: list[Any]
) -> dict[str, Any]:
    """One batch as `status` shows it: state (SENDING, WAITING or PAUSED while queued), progress,
    next window opening and ETA, in the batch's time zone."""
    import time
    from datetime import UTC, datetime

    from remessa.channels import capacity
    from remessa.planner import estimate, plan_of
    from remessa.status import PENDING

    counts = store.counts(batch.id)
    zone = ZoneInfo(batch.zone or "UTC")
    state, opening, eta = batch.state, None, None
    if batch.state == "QUEUED" and counts.get("QUEUED"):
        now = time.time()
        moment = datetime.fromtimestamp(now, UTC)
        plan = plan_of(batch)
        upcoming = plan.next_allowed(moment)
        state = "PAUSED" if batch.paused else ("SENDING" if plan.allowed(moment) else "WAITING")
        opening = upcoming.astimezone(zone).isoformat(timespec="seconds") if upcoming else None
        provider = settings.providers.get(batch.provider)
        rate = capacity(provider.settings) if provider else 100.0
        finish, _ = estimate(batch, queued, waiting, rate, now)
        eta = finish.astimezone(zone).isoformat(timespec="seconds") if finish else None
    return {
        "id": batch.id, "profile": batch.profile, "name": batch.name, "state": state,
        "rows": sum(counts.values()), "done": sum(n for s, n in counts.items() if s not in PENDING),
        "counts": counts, "nextOpening": opening, "eta": eta, "expectedExpired": batch.expected_expired,
        "error": batch.error,
    }


def _control(settings: config.Settings, args: argparse.Namespace) -> int:
    """pause / resume / cancel: written to the store, then the daemon is woken to act on it at once."""
    import time

    from remessa.spool import Spool
    from remessa.store import Store

    store = Store(settings.daemon.database_url)
    try:
        store.migrate()
        batch = store.find_batch(args.name, args.profile)
        if batch.state not in ("RECEIVING", "QUEUED"):
            print(f"remessa: batch {batch.id} ({batch.name}) is {batch.state}: nothing left to {args.action}",
                  file=sys.stderr)
            return 1
        now = time.time()
        if args.action == "cancel":
            stamp = report.iso(now, ZoneInfo(batch.zone or "UTC"))
            count = store.expire(batch.id, f"cancelled: by an operator at {stamp}", now)
            print(f"batch {batch.id} ({batch.name}): cancelled, {count} unsent messages EXPIRED")
        else:
            store.update_batch(batch.id, paused=int(args.action == "pause"), changed_at=now)
            print(f"batch {batch.id} ({batch.name}): {'paused' if args.action == 'pause' else 'resumed'}")
    finally:
        store.close()
    Spool(settings.daemon.spool, list(settings.profiles)).poke()
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


def _add_sandbox(sub: Any) -> None:
    from remessa.sandbox import standalone as opt

    box = sub.add_parser("sandbox", help="run the SMSC simulator in the foreground, for an smpp provider to use")
    box.add_argument("--host", default="127.0.0.1")
    box.add_argument("--port", type=opt.port, default=2775, help="0: any free port (default: %(default)s)")
    box.add_argument("--system-id", default="remessa", help="the system_id it accepts (default: %(default)s)")
    box.add_argument("--password", type=opt.password, default="secret",
                     help="the password it accepts, at most 8 characters (default: %(default)s)")
    box.add_argument("--system-type", help="accept only this system_type (default: any)")
    box.add_argument("--rate", type=opt.non_negative, default=80.0,
                     help="submit_sm per second per bind, above it ESME_RTHROTTLED; 0: unlimited (default: 80)")
    box.add_argument("--sent-delay", type=opt.non_negative, default=0.5, metavar="SECONDS",
                     help="from submit to the ACCEPTD receipt (default: %(default)s)")
    box.add_argument("--delivery-delay", type=opt.non_negative, default=2.0, metavar="SECONDS",
                     help="from submit to the DELIVRD or UNDELIV receipt (default: %(default)s)")
    box.add_argument("--reject", type=opt.rejection, action="append", metavar="PATTERN=STATUS",
                     help="refuse submit_sm to destinations matching the glob with this command_status "
                          "(0x0B, 11 or ESME_RINVDSTADR); repeatable (default: *0202=ESME_RINVDSTADR)")
    box.add_argument("--undeliverable", action="append", metavar="PATTERN",
                     help="accept, then receipt UNDELIV, destinations matching the glob; repeatable (default: *0104)")
    box.add_argument("--tls-cert", type=Path, help="PEM certificate: speak SMPP over TLS (with --tls-key)")
    box.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    box.set_defaults(handler=_sandbox, needs_config=False)  # the simulator reads no configuration


def _sandbox(_settings: config.Settings | None, args: argparse.Namespace) -> int:
    """Run the SMSC simulator until SIGINT or SIGTERM, then print its counts."""
    import threading

    from remessa.sandbox import standalone
    from remessa.sandbox.smsc import Smsc, SmscConfig

    try:
        context = standalone.tls_context(args.tls_cert, args.tls_key)
    except ValueError as exc:
        print(f"remessa sandbox: {exc}", file=sys.stderr)
        return 2
    smsc = Smsc(SmscConfig(
        system_id=args.system_id, password=args.password, system_type=args.system_type, host=args.host,
        port=args.port, max_submits_per_second=args.rate or None, sent_receipt_delay=args.sent_delay,
        delivery_receipt_delay=args.delivery_delay, reject_destinations=dict(args.reject or standalone.REJECT),
        undeliverable_destinations=tuple(args.undeliverable or standalone.UNDELIVERABLE), ssl_context=context,
        submit_log_level=logging.INFO))
    try:
        smsc.start()
    except OSError as exc:
        print(f"remessa sandbox: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda _signum, _frame: stopping.set())
    system_type = f" system_type {args.system_type!r}" if args.system_type else ""
    print(f"remessa sandbox: SMPP{' over TLS' if context else ''} listening on {args.host}:{smsc.port}, "
          f"accepting system_id {args.system_id!r} password {args.password!r}{system_type}", flush=True)
    while not stopping.wait(1.0):
        pass
    smsc.stop()
    s = smsc.stats()
    print(f"remessa sandbox: stopped; submits {s.submits}, accepted {s.accepted}, throttled {s.throttled}, "
          f"receipts sent {s.deliver_sm_sent}, acked {s.deliver_sm_acked}", flush=True)
    return 0

if __name__ == "__main__":
    sys.exit(main())
