"""Per-file results beside the batch file: NAME.report.csv, NAME.summary.json and NAME.retry.txt.

Each is written to a temporary name and renamed, so a reader never sees half a report.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from remessa.model import RETRYABLE, Batch, Message, Status
from remessa.schedule.window import local_iso
from remessa.store import Store

HEADER = (
    "line;destination;correlationId;status;messageId;parts;sentStatusCode;sentStatus;"
    "deliveredStatusCode;deliveredStatus;submittedAt;sentAt;deliveredAt;reason"
).split(";")


#: Message columns behind the report's header, in order.
COLUMNS = (
    "line", "destination", "correlation_id", "status", "provider_id", "parts", "sent_code", "sent_status",
    "delivered_code", "delivered_status", "submitted_at", "sent_at", "delivered_at", "reason",
)
_TIMES = slice(10, 13)
#: Columns whose text comes from the input or the provider: a spreadsheet must not take it for a formula.
_FREE_TEXT = tuple(COLUMNS.index(c) for c in (
    "destination", "correlation_id", "provider_id", "sent_status", "delivered_status", "reason"))
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A value as a spreadsheet should show it: text that would start a formula gets a leading apostrophe
    (what Excel, LibreOffice and Google Sheets show as plain text); anything else as it is."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def report_lines(store: Store, batch_id: int, zone: ZoneInfo) -> Iterator[list[Any]]:
    """The report's rows (without header), in input order."""
    for row in store.report_rows(batch_id, COLUMNS):
        values = ["" if v is None else v for v in row]
        submitted, sent, delivered = row[_TIMES]
        if submitted is not None:  # receipt dates have minute precision: never before the submit itself
            sent = None if sent is None else max(sent, submitted)
            delivered = None if delivered is None else max(delivered, submitted)
        values[_TIMES] = [local_iso(t, zone) for t in (submitted, sent, delivered)]
        for index in _FREE_TEXT:
            values[index] = cell(values[index])
        yield values


def summary(store: Store, batch: Batch, zone: ZoneInfo) -> dict[str, Any]:
    counts = store.counts(batch.id)
    info = batch.info
    return {
        "file": batch.name,
        "profile": batch.profile,
        "provider": batch.provider,
        "subaccount": batch.subaccount,
        "state": batch.state,
        "format": batch.format,
        "encoding": batch.encoding,
        "notes": info.get("notes", []),
        "rows": sum(counts.values()),
        "counts": {status.value: counts.get(status.value, 0) for status in Status},
        "reasons": store.reason_counts(batch.id),
        "errors": [{"code": batch.error_code, "message": batch.error}] if batch.error_code else [],
        "timeZone": zone.key,
        "receivedAt": local_iso(batch.received_at, zone),
        "firstSubmitAt": local_iso(batch.first_submit_at, zone),
        "lastSubmitAt": local_iso(batch.last_submit_at, zone),
        "finishedAt": local_iso(batch.finished_at, zone),
        "settledAt": local_iso(batch.settled_at, zone),
    }


def write(store: Store, batch: Batch, folder: Path, zone: ZoneInfo) -> Path:
    """(Re)write the three result files of `batch` into `folder`; returns the report's path."""
    name = batch.final_name or batch.name
    report = folder / f"{name}.report.csv"
    with ReportCsv(report) as out:
        out.add_rows(report_lines(store, batch.id, zone))
    with _atomic(folder / f"{name}.summary.json") as out:
        json.dump(summary(store, batch, zone), out, ensure_ascii=False, indent=2)
        out.write("\n")
    _write_retry(store, batch, folder / f"{name}.retry.txt")
    return report


def note(path: Path, code: str, message: str) -> Path:
    """A PATH.summary.json for an entry that never became a batch (a sidecar left over), in the summary's
    shape: what it is, FAILED, and why."""
    target = path.with_name(f"{path.name}.summary.json")
    with _atomic(target) as out:
        json.dump({"file": path.name, "state": "FAILED", "errors": [{"code": code, "message": f"{code}: {message}"}]},
                  out, ensure_ascii=False, indent=2)
        out.write("\n")
    return target


def _write_retry(store: Store, batch: Batch, path: Path) -> None:
    """The rows that did not go out or failed, in the input's own format, encoding and line ending, ready
    to fix and drop back in."""
    failed: Iterator[Message] = store.messages(batch.id, statuses=[s.value for s in RETRYABLE])
    first = next(failed, None)
    if first is None:
        path.unlink(missing_ok=True)
        return
    end = str(batch.info.get("newline") or "\n")
    with _atomic(path, batch.encoding or "utf-8") as out:  # as the input was written, BOM included
        for line in batch.info.get("preamble", []):
            out.write(line + end)
        out.write(first.raw + end)
        for message in failed:
            out.write(message.raw + end)
        for line in batch.info.get("trailer", []):
            out.write(line + end)


class ReportCsv:
    """A NAME.report.csv being written: the header, then one line per input row (by column name, or as
    values in COLUMNS order); renamed into place when the ``with`` block ends without an error."""

    def __init__(self, path: Path) -> None:
        self._atomic = _atomic(path)

    def __enter__(self) -> ReportCsv:
        self._writer = csv.writer(self._atomic.__enter__(), delimiter=";", lineterminator="\n")
        self._writer.writerow(HEADER)
        return self

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        self._atomic.__exit__(exc_type, *rest)

    def add(self, **values: Any) -> None:
        """One line; columns not given are blank (a validated row has no messageId or receipt times)."""
        self._writer.writerow(["" if values.get(c) is None else cell(values[c]) for c in COLUMNS])

    def add_rows(self, rows: Iterable[Sequence[Any]]) -> None:
        """Lines given as values in COLUMNS order."""
        self._writer.writerows(rows)


class _atomic:
    """Open `path` for writing through a temporary file (unique, beside it) renamed over it on success."""

    def __init__(self, path: Path, encoding: str = "utf-8") -> None:
        self.path = path
        self.encoding = encoding

    def __enter__(self) -> TextIO:
        # a name of its own, so that two writers (the daemon, `remessa report`) never share a temporary file
        self.tmp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the umask decides the mode
        self.file = open(fd, "w", encoding=self.encoding, errors="replace", newline="")
        return self.file

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.file.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
