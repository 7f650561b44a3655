"""Receipts folded into their messages, inside the caller's write transaction.

A receipt may arrive before the submission's answer gives us the provider's id: it is kept unmatched and
applied when that id is recorded.
"""

from __future__ import annotations

import json
from functools import lru_cache
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, update

from remessa.channels import Receipt
from remessa.schema import batches, messages, receipts
from remessa.status import FINAL, RANK, Status, status_for_delivered_code, status_for_sent_code

_BY_PROVIDER_ID = (
    select(messages.c.id, messages.c.status, messages.c.batch_id, messages.c.parts)
    .where(messages.c.provider_id == bindparam("pid"))
    .order_by(messages.c.id.desc())
    .limit(1)
)

def _parts_delivered(conn: Connection, message_id: int) -> int:
    query = select(func.count(func.distinct(receipts.c.part_id))).where(
        receipts.c.message_id == message_id, receipts.c.delivered_code.in_([4, 401])
    )
    return int(conn.execute(query).scalar() or 0)


_TOUCH_BATCH = update(batches).where(batches.c.id == bindparam("bid")).values(changed_at=bindparam("at"))


def record_receipt(conn: Connection, receipt: Receipt, now: float) -> bool:
    """Store a receipt and apply it to its message; an unknown id is kept for later matching.

    Returns whether it matched a message.
    """
    pid = receipt.provider_id.lower()
    row = {
        "provider_id": pid,
        "part_id": str(receipt.raw.get("part_id") or pid).lower(),
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


def apply_early_receipts(conn: Connection, batch_id: int, accepted: Mapping[str, tuple[int, int]]) -> None:
    """Match and apply the receipts that arrived before their messages were accepted.

    `accepted` maps each provider id (lower case) to (message id, parts) of the message just marked
    ACCEPTED with it.
    """
    early = conn.execute(
        select(receipts)
        .where(receipts.c.message_id.is_(None), receipts.c.provider_id.in_(list(accepted)))
        .order_by(receipts.c.id)
    ).all()
    for receipt in early:
        mid, parts = accepted[receipt.provider_id]
        conn.execute(update(receipts).where(receipts.c.id == receipt.id).values(message_id=mid))
        current = conn.execute(select(messages.c.status).where(messages.c.id == mid)).scalar_one()
        _apply_receipt(conn, (mid, current, batch_id, parts), receipt._mapping)


def _apply_receipt(conn: Connection, message: Any, receipt: Any) -> None:
    """Fold one receipt into its message (id, status, batch_id, parts).

    A late, lower-level receipt never moves the status back, and a final status stays final. A multipart
    message is DELIVERED once every part is, and UNDELIVERED as soon as one part fails.
    """
    message_id, current, batch_id, parts = message
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
        if new_status == Status.DELIVERED and (parts or 1) > 1 and _parts_delivered(conn, message_id) < parts:
            new_status = Status.SENT  # some parts are still on their way
            for key in ("delivered_code", "delivered_status", "delivered_at"):
                values.pop(key)
    final = Status(current) in FINAL
    if new_status is not None and not final and RANK[new_status] >= RANK[Status(current)] and current != Status.SUBMITTING:
        values["status"] = new_status
        if new_status in (Status.REJECTED, Status.UNDELIVERED, Status.EXPIRED):
            code = receipt["delivered_code"] if receipt["delivered_code"] is not None else receipt["sent_code"]
            name = receipt["delivered_status"] or receipt["sent_status"] or ""
            values["reason"] = f"provider: {code} {name}".strip()
    conn.execute(_update_message(tuple(sorted(values))), {"mid": message_id, **values})
    conn.execute(_TOUCH_BATCH, {"bid": batch_id, "at": receipt["received_at"]})


@lru_cache(maxsize=64)
def _update_message(columns: tuple[str, ...]) -> Any:
    """One prepared UPDATE per set of changed columns: building a statement per receipt cost more than
    running it."""
    return (
        update(messages)
        .where(messages.c.id == bindparam("mid"))
        .values({name: bindparam(name) for name in columns})
    )
