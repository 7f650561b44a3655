"""``remessa validate FILE``: parse and validate a file without sending it; every row's verdict, parts and
encoding (counted by the code the SMPP channel sends with), the counts, and the ETA if dropped now."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from remessa.channels.smpp.text import measure
from remessa.config import Settings
from remessa.errors import BatchFileError
from remessa.intake.intake import entry_problem, open_file
from remessa.intake.timing import timing
from remessa.intake.validate import Validator
from remessa.model import Status
from remessa.results.report import ReportCsv
from remessa.schedule.planner import forecast
from remessa.spool import shown_name

log = logging.getLogger(__name__)


def add(sub: Any) -> None:
    validate = sub.add_parser("validate", help="parse and validate a file without sending")
    validate.add_argument("file", type=Path)
    validate.add_argument("--profile", default="default")
    validate.add_argument("--report", type=Path, help="also write a report CSV to this path")
    validate.add_argument("--quiet", action="store_true", help="print only the counts, not every row")
    validate.set_defaults(handler=handle)


def handle(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when the daemon would take the file and send some of it, 1 when it would refuse the file or
    send none of it; never a traceback."""
    shown = str(args.file.parent / shown_name(args.file.name))
    try:
        return _validate(settings, args, shown)
    except BatchFileError as exc:
        print(f"{shown}: {exc}", file=sys.stderr)
    except FileNotFoundError:
        print(f"{shown}: no such file", file=sys.stderr)
    except Exception as exc:  # the command's boundary: a bug is reported in a line, its traceback logged
        log.debug("validating %s", shown, exc_info=True)
        print(f"{shown}: internal_error: {type(exc).__name__}: {exc}", file=sys.stderr)
    return 1


def _validate(settings: Settings, args: argparse.Namespace, shown: str) -> int:
    profile = settings.profile(args.profile)
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    problem = entry_problem(args.file)
    if problem is not None:
        raise problem
    parsed, options = open_file(settings, profile, args.file)  # as the daemon reads it
    now = time.time()
    when = timing(options, parsed.info.template, profile, settings.daemon.timezone, now)
    coding = settings.text_coding(profile)
    flash = bool(options.flash_sms)
    validator = Validator(profile, kind=parsed.info.kind)
    if not args.quiet:
        print("line;destination;status;parts;encoding;reason")
    with ExitStack() as stack:
        out = stack.enter_context(ReportCsv(args.report)) if args.report else None
        for row in parsed.rows:
            verdict = validator.check(row)
            statuses[verdict.status] += 1
            if verdict.reason:
                reasons[verdict.reason.split(":", 1)[0]] += 1
            shape = (measure(row.text, coding.mode, coding.transliterate, flash, coding.sixteen_bit)
                     if verdict.status == Status.QUEUED and row.text and parsed.info.kind == "sms" else None)
            parts, encoding = (str(shape.parts), shape.encoding) if shape else ("", "")
            if not args.quiet:
                print(f"{row.line};{verdict.destination};{verdict.status};{parts};{encoding};{verdict.reason}")
            if out:
                out.add(line=row.line, destination=verdict.destination, correlation_id=row.correlation_id,
                        status=verdict.status, parts=parts, reason=verdict.reason)
    print(f"# {shown}: format {parsed.info.format}, encoding {parsed.info.encoding}")
    for note in parsed.info.notes:
        print(f"# note: {note}")
    for status, n in sorted(statuses.items()):
        print(f"# {status}: {n}")
    own = statuses[Status.QUEUED]
    eta = forecast(when, own, 0, settings.rate(profile.provider), now)
    line = (f"# ETA: {eta.local(ZoneInfo(when.zone))} ({own} messages at {eta.rate:g}/s,"
            " if dropped now with nothing ahead)")
    print(line + (f"; {eta.expiring} would expire first" if eta.expiring else ""))
    for reason, n in sorted(reasons.items()):
        print(f"#   {reason}: {n}")
    if own == 0:
        print(f"{shown}: no row would be sent: the daemon would put the file in error/", file=sys.stderr)
        return 1
    if eta.expiring and profile.admission == "refuse":
        print(f"{shown}: would_expire: the daemon would refuse the file ({eta.expiring} of {own} messages"
              " would expire before being sent)", file=sys.stderr)
        return 1
    return 0
