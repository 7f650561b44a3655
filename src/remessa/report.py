"""Per-file results beside the batch file: NAME.report.csv, NAME.summary.json and NAME.retry.txt.

Each is written to a temporary name and renamed, so a reader never sees half a report.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from remessa.status import RETRYABLE, Status
from remessa.store import Batch, Message, Store

HEADER = (
    "line;destination;correlationId;status;messageId;parts;sentStatusCode;sentStatus;"
    "deliveredStatusCode;deliveredStatus;submittedAt;sentAt;deliveredAt;reason"
).split(";")


def iso(epoch: float | None, zone: ZoneInfo) -> str:
    """ISO 8601 with offset, to the second, in the batch's time zone; "" for no time."""
    if epoch is None:
        return ""
    return _iso_second(int(epoch), zone)


@lru_cache(maxsize=4096)
def _iso_second(epoch: int, zone: ZoneInfo) -> str:
    # Many rows share a second: formatting each second once keeps a 1M-row report cheap.
    return datetime.fromtimestamp(epoch, zone).isoformat(timespec="seconds")


#: Message columns behind the report's header, in order.
COLUMNS = (
    "line", "destination", "correlation_id", "status", "provider_id", "parts", "sent_code", "sent_status",
    "delivered_code", "delivered_status", "submitted_at", "sent_at", "delivered_at", "reason",
)
_TIMES = slice(10, 13)


def report_lines(store: Store, batch_id: int, zone: ZoneInfo) -> Iterator[list[Any]]:
    """The report's rows (without header), in input order."""
    for row in store.report_rows(batch_id, COLUMNS):
        values = ["" if v is None else v for v in row]
        values[_TIMES] = [iso(t, zone) for t in row[_TIMES]]
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
        "receivedAt": iso(batch.received_at, zone),
        "firstSubmitAt": iso(batch.first_submit_at, zone),
        "lastSubmitAt": iso(batch.last_submit_at, zone),
        "finishedAt": iso(batch.finished_at, zone),
        "settledAt": iso(batch.settled_at, zone),
    }


def write(store: Store, batch: Batch, folder: Path, zone: ZoneInfo) -> Path:
    """(Re)write the three result files of `batch` into `folder`; returns the report's path."""
    name = batch.final_name or batch.name
    report = folder / f"{name}.report.csv"
    with _atomic(report) as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(report_lines(store, batch.id, zone))
    with _atomic(folder / f"{name}.summary.json") as out:
        json.dump(summary(store, batch, zone), out, ensure_ascii=False, indent=2)
        out.write("\n")
    _write_retry(store, batch, folder / f"{name}.retry.txt")
    return report


def _write_retry(store: Store, batch: Batch, path: Path) -> None:
    """The rows that did not go out or failed, in the input's own format, ready to fix and drop back in."""
    failed: Iterator[Message] = store.messages(batch.id, statuses=[s.value for s in RETRYABLE])
    first = next(failed, None)
    if first is None:
        path.unlink(missing_ok=True)
        return
    with _atomic(path) as out:
        for line in batch.info.get("preamble", []):
            out.write(line + "\n")
        out.write(first.raw + "\n")
        for message in failed:
            out.write(message.raw + "\n")
        for line in batch.info.get("trailer", []):
            out.write(line + "\n")


class _atomic:
    """Open `path` for writing through a temporary file renamed over it on success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp")

    def __enter__(self) -> Any:
        self.file = open(self.tmp, "w", encoding="utf-8", newline="")
        return self.file

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self.file.close()
        if exc_type is None:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)
