"""The conversion of rows to the frozen records the store hands out (remessa.model's Batch, Message).

A batch's info, options and window are dicts in the record and JSON text in the row.
"""

from __future__ import annotations

import json
from typing import Any

from remessa.model import Batch, Message

JSON_COLUMNS = ("info", "options", "window")


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
