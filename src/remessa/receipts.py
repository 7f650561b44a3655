"""Receipts folded into their messages, inside the caller's write transaction.

A receipt may arrive before the submission's answer gives us the provider's id: it is kept unmatched and
applied when that id is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from remessa.channels import Receipt
from remessa.schema import batches, messages, receipts
from remessa.status import RANK, Status, status_for_delivered_code, status_for_sent_code

_BY_PROVIDER_ID = (
    select(messages.c.id, messages.c.status, messages.c.batch_id)
    .where(messages.c.provider_id == bindparam("pid"))
    .order_by(messages.c.id.desc())
    .limit(1)
)

_TOUCH_BATCH = update(batches).where(batches.c.id == bindparam("bid")).values(changed_at=bindparam("at"))


def record_receipt(conn: Connection, receipt: Receipt, now: float) -> bool:
    """Store a receipt and apply it to its message; an unknown id is kept for later matching.

    Returns whether it matched a message.
    """
    pid = receipt.provider_id.lower()
    row = {
        "provider_id": pid,
        "at": receipt.at.timestamp(),
        "sent_code": receipt.sent_code,
        "sent_status": receipt.sent_status or None,
        "delivered_code": receipt.delivered_code,
        "delivered_status": receipt.delivered_status or None,
        "raw": json.dumps(receipt.raw, default=str),
        "received_at": now,
    }
    target = conn.execute(_BY_PROVIDER_ID, {"pid": pid}).first()
    conn.execute(receipts.insert(), {"message_id": target[0] if target else None, **row})
    if target is not None:
        _apply_receipt(conn, target, row)
    return target is not None


def apply_early_receipts(conn: Connection, batch_id: int, accepted: Mapping[str, int]) -> None:
    """Match and apply the receipts that arrived before their messages were accepted.

    `accepted` maps each provider id (lower case) to the message just marked ACCEPTED with it.
    """
    early = conn.execute(
        select(receipts)
        .where(receipts.c.message_id.is_(None), receipts.c.provider_id.in_(list(accepted)))
        .order_by(receipts.c.id)
    ).all()
    for receipt in early:
        mid = accepted[receipt.provider_id]
        conn.execute(update(receipts).where(receipts.c.id == receipt.id).values(message_id=mid))
        _apply_receipt(conn, (mid, Status.ACCEPTED, batch_id), receipt._mapping)


def _apply_receipt(conn: Connection, message: Any, receipt: Any) -> None:
    """Fold one receipt into its message (id, status, batch_id); a late, lower-level receipt never
    moves the status back."""
    message_id, current, batch_id = message
    values: dict[str, Any] = {}
    new_status: Status | None = None
    if receipt["sent_code"] is not None:
        values.update(sent_code=receipt["sent_code"], sent_status=receipt["sent_status"], sent_at=receipt["at"])
        new_status = status_for_sent_code(receipt["sent_code"])
    if receipt["delivered_code"] is not None:
        values.update(
            delivered_code=receipt["delivered_code"],
            delivered_status=receipt["delivered_status"],
            delivered_at=receipt["at"],
        )
        new_status = status_for_delivered_code(receipt["delivered_code"])
    if new_status is not None and RANK[new_status] >= RANK[Status(current)] and current != Status.SUBMITTING:
        values["status"] = new_status
        if new_status in (Status.REJECTED, Status.UNDELIVERED, Status.EXPIRED):
            code = receipt["delivered_code"] if receipt["delivered_code"] is not None else receipt["sent_code"]
            name = receipt["delivered_status"] or receipt["sent_status"] or ""
            values["reason"] = f"provider: {code} {name}".strip()
    conn.execute(update(messages).where(messages.c.id == message_id).values(**values))
    conn.execute(_TOUCH_BATCH, {"bid": batch_id, "at": receipt["received_at"]})
