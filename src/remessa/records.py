"""The frozen records the store hands out (a batch, a message) and their conversion to and from rows.

A batch's info, options and window are dicts in the record and JSON text in the row.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

JSON_COLUMNS = ("info", "options", "window")


@dataclass(frozen=True)
class Batch:
    """One batch file and where it is in its journey."""

    id: int
    profile: str
    name: str
    provider: str
    subaccount: str
    state: str
    priority: int
    in_flight: str
    format: str
    encoding: str
    kind: str
    info: dict[str, Any]
    options: dict[str, Any]
    error_code: str
    error: str
    rows: int
    last_line: int
    final_name: str
    outcome: str
    zone: str
    window: dict[str, Any]
    not_before: float | None
    expires_at: float | None
    paused: int
    eta: float | None
    expected_expired: int
    received_at: float
    first_submit_at: float | None
    last_submit_at: float | None
    finished_at: float | None
    settled_at: float | None
    changed_at: float | None


@dataclass(frozen=True)
class Message:
    """One input row and everything known about its delivery."""

    id: int
    batch_id: int
    line: int
    status: str
    destination: str
    text: str
    correlation_id: str
    extra_info: str
    params: str
    raw: str
    reason: str
    provider_id: str | None
    parts: int | None
    attempts: int
    sent_code: int | None
    sent_status: str | None
    delivered_code: int | None
    delivered_status: str | None
    submitted_at: float | None
    sent_at: float | None
    delivered_at: float | None


def batch_from_row(row: Any) -> Batch:
    data = dict(row._mapping)
    for column in JSON_COLUMNS:
        data[column] = json.loads(data[column] or "{}")
    return Batch(**data)


def message_from_row(row: Any) -> Message:
    return Message(**dict(row._mapping))


def batch_values(values: dict[str, Any]) -> dict[str, Any]:
    """Column values for a batch row: dicts for the JSON columns become JSON text (text passes as is)."""
    return {
        k: json.dumps(v) if k in JSON_COLUMNS and not isinstance(v, str) else v
        for k, v in values.items()
    }
