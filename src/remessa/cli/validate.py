"""``remessa validate FILE``: parse and validate a file without sending it; every row's verdict, parts and
encoding (counted by the code the SMPP channel sends with), the counts, and the ETA if dropped now."""

from __future__ import annotations

import argparse
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
from remessa.intake.formats import Parsed, open_batch
from remessa.intake.formats.sidecar import BatchOptions
from remessa.intake.intake import read_options
from remessa.intake.timing import timing
from remessa.intake.validate import Validator
from remessa.model import Status
from remessa.results.report import ReportCsv
from remessa.schedule.planner import forecast


def add(sub: Any) -> None:
    validate = sub.add_parser("validate", help="parse and validate a file without sending")
    validate.add_argument("file", type=Path)
    validate.add_argument("--profile", default="default")
    validate.add_argument("--report", type=Path, help="also write a report CSV to this path")
    validate.add_argument("--quiet", action="store_true", help="print only the counts, not every row")
    validate.set_defaults(handler=handle)


def handle(settings: Settings, args: argparse.Namespace) -> int:
    profile = settings.profile(args.profile)
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    try:
        options = read_options(args.file)
        parsed = open_batch(args.file, format=profile.format,
                            message_text=options.default_message_text or profile.message_text)
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
    except BatchFileError as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 1
    print(f"# {args.file}: format {parsed.info.format}, encoding {parsed.info.encoding}")
    for note in parsed.info.notes:
        print(f"# note: {note}")
    for status, n in sorted(statuses.items()):
        print(f"# {status}: {n}")
    print(_eta_line(settings, args, options, parsed, statuses[Status.QUEUED]))
    for reason, n in sorted(reasons.items()):
        print(f"#   {reason}: {n}")
    return 0


def _eta_line(settings: Settings, args: argparse.Namespace, options: BatchOptions, parsed: Parsed, own: int) -> str:
    """The ETA line: the file's own rows, as if it were dropped now with nothing ahead."""
    profile = settings.profile(args.profile)
    now = time.time()
    when = timing(options, parsed.info.template, profile, settings.daemon.timezone, now)
    eta = forecast(when, own, 0, settings.rate(profile.provider), now)
    line = (f"# ETA: {eta.local(ZoneInfo(when.zone))} ({own} messages at {eta.rate:g}/s,"
            " if dropped now with nothing ahead)")
    return line + (f"; {eta.expiring} would expire first" if eta.expiring else "")
