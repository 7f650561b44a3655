"""Receipts folded into their messages, inside the caller's write transaction.

A receipt may arrive before the submission's answer gives us the provider's id: it is kept unmatched and
applied when that id is recorded. Receipts read together are stored together: one lookup of their messages,
one insert, one update per message with every receipt of the batch folded in, in order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, or_, select, update

from remessa.model import (
    AWAITING_RECEIPT,
    FINAL,
    MAY_BE_READ,
    RANK,
    Receipt,
    Status,
    status_for_delivered_code,
    status_for_sent_code,
)
from remessa.store.schema import batches, message_parts, messages, receipts

LOOKUP_CHUNK = 500  # provider ids per IN (...) lookup, well under every database's bound-parameter limit

_BY_PROVIDER_IDS = (  # ordered by id: where an id was reused, the newest message wins (assigned last)
    select(messages.c.provider_id, messages.c.id, messages.c.status, messages.c.batch_id, messages.c.parts,
           messages.c.reason)
    .where(messages.c.provider_id.in_(bindparam("pids", expanding=True)))
    .order_by(messages.c.id)
)
_BY_PART_IDS = (  # a later part of a multipart message, by that part's own id
    select(message_parts.c.provider_id, messages.c.id, messages.c.status, messages.c.batch_id, messages.c.parts,
           messages.c.reason)
    .join(messages, messages.c.id == message_parts.c.message_id)
    .where(message_parts.c.provider_id.in_(bindparam("pids", expanding=True)))
    .order_by(messages.c.id)
)
_EARLY = (  # unmatched receipts filed under these ids, or under another form of them (their alias)
    select(receipts)
    .where(receipts.c.message_id.is_(None),
           or_(receipts.c.provider_id.in_(bindparam("pids", expanding=True)),
               receipts.c.alias.in_(bindparam("pids", expanding=True))))
    .order_by(receipts.c.id)
)
_INSERT_RECEIPT = receipts.insert()
_MATCH_RECEIPT = update(receipts).where(receipts.c.id == bindparam("rid")).values(message_id=bindparam("mid"))
_TOUCH_BATCH = update(batches).where(batches.c.id == bindparam("bid")).values(changed_at=bindparam("at"))


class _Message:
    """A message being folded: its row as read, then the column changes of each receipt applied so far."""

    __slots__ = ("id", "status", "batch_id", "parts", "reason", "values")

    def __init__(self, id: int, status: str, batch_id: int, parts: int | None, reason: str) -> None:
        self.id, self.status, self.batch_id, self.parts, self.reason = id, status, batch_id, parts, reason
        self.values: dict[str, Any] = {}


def record_receipts(conn: Connection, batch: Sequence[Receipt], now: float) -> int:
    """Store receipts and apply each to its message, in order; unknown ids are kept for later matching.

    Returns how many matched a message. Each touched batch is marked changed once.
    """
    rows = [_row(receipt, now) for receipt in batch]
    found = _lookup(conn, {row["provider_id"] for row in rows})
    # the provider's own form of an id the receipt wrote in another (decimal for hex...): only where the id
    # itself names no message. No receipt ever changes a message whose id is not the receipt's in some form.
    aliases = {row["alias"] for row in rows if row["alias"] and row["provider_id"] not in found}
    by_alias = _lookup(conn, aliases)
    for row in rows:
        if row["provider_id"] not in found and row["alias"] in by_alias:
            found[row["provider_id"]] = by_alias[row["alias"]]
    conn.execute(_INSERT_RECEIPT, [
        {**row, "message_id": found[row["provider_id"]].id if row["provider_id"] in found else None}
        for row in rows
    ])
    matched = [(found[row["provider_id"]], row) for row in rows if row["provider_id"] in found]
    for message, row in matched:
        _fold(conn, message, row)
    _write(conn, {m.id: m for m, _ in matched}.values(), now)
    return len(matched)


def _lookup(conn: Connection, pids: set[str]) -> dict[str, _Message]:
    """The message each provider id names (the newest, should an id have been reused): its first part's
    id, else the id of one of its later parts."""
    found: dict[str, _Message] = {}
    for query in (_BY_PROVIDER_IDS, _BY_PART_IDS):
        ordered = sorted(pids - set(found))
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            for pid, *columns in conn.execute(query, {"pids": ordered[start:start + LOOKUP_CHUNK]}):
                found[pid] = _Message(*columns)
    return found


def apply_early_receipts(conn: Connection, batch_id: int, accepted: Mapping[str, tuple[int, int]]) -> None:
    """Match and apply the receipts that arrived before their messages were accepted.

    `accepted` maps each provider id (lower case; every part's id for a multipart message) to
    (message id, parts) of the message just marked ACCEPTED with it. A receipt filed under the id itself
    matches; one that wrote the id in another form matches by its alias (the id as the provider answered).
    """
    early = conn.execute(_EARLY, {"pids": list(accepted)}).all()
    early = [r for r in early if r.provider_id in accepted or not _names_a_message(conn, r.provider_id)]
    if not early:
        return
    target = {r.id: accepted[r.provider_id] if r.provider_id in accepted else accepted[r.alias] for r in early}
    conn.execute(_MATCH_RECEIPT, [{"rid": r.id, "mid": target[r.id][0]} for r in early])
    mids = sorted({mid for mid, _ in target.values()})
    current: dict[int, tuple[str, str]] = {}
    for start in range(0, len(mids), LOOKUP_CHUNK):
        query = (select(messages.c.id, messages.c.status, messages.c.reason)
                 .where(messages.c.id.in_(mids[start:start + LOOKUP_CHUNK])))
        current.update((row[0], (row[1], row[2])) for row in conn.execute(query))
    folded: dict[int, _Message] = {}
    for receipt in early:
        mid, parts = target[receipt.id]
        if mid not in folded:
            folded[mid] = _Message(mid, *current[mid][:1], batch_id, parts, current[mid][1])
        _fold(conn, folded[mid], dict(receipt._mapping))
    _write(conn, folded.values(), early[-1].received_at)


def _names_a_message(conn: Connection, provider_id: str) -> bool:
    """Whether some message has this provider id itself (then an alias never takes the receipt elsewhere)."""
    return bool(_lookup(conn, {provider_id}))


def _row(receipt: Receipt, now: float) -> dict[str, Any]:
    pid = receipt.provider_id.lower()
    return {
        "provider_id": pid,
        "alias": receipt.alias.lower() or None,
        "part_id": str(receipt.raw.get("part_id") or pid).lower(),
        "at": receipt.at.timestamp(),
        "sent_code": receipt.sent_code,
        "sent_status": receipt.sent_status or None,
        "delivered_code": receipt.delivered_code,
        "delivered_status": receipt.delivered_status or None,
        "read_at": receipt.read_at.timestamp() if receipt.read_at is not None else None,
        "raw": json.dumps(receipt.raw, default=str),
        "received_at": now,
    }


def _parts_delivered(conn: Connection, message_id: int) -> int:
    query = select(func.count(func.distinct(receipts.c.part_id))).where(
        receipts.c.message_id == message_id, receipts.c.delivered_code.in_([4, 401])
    )
    return int(conn.execute(query).scalar() or 0)


def _fold(conn: Connection, message: _Message, receipt: Mapping[str, Any]) -> None:
    """Fold one (already stored) receipt into `message`'s pending changes.

    A late, lower-level receipt never moves the status back, and a final status stays final. A multipart
    message is DELIVERED once every part is, and UNDELIVERED as soon as one part fails.
    """
    values = message.values
    new_status: Status | None = None
    if receipt["sent_code"] is not None:
        values.update(sent_code=receipt["sent_code"], sent_status=receipt["sent_status"], sent_at=receipt["at"])
        new_status = status_for_sent_code(receipt["sent_code"])
    if receipt["delivered_code"] is not None:
        new_status = status_for_delivered_code(receipt["delivered_code"])
        parts = message.parts or 1
        if new_status == Status.DELIVERED and parts > 1 and _parts_delivered(conn, message.id) < parts:
            new_status = Status.SENT  # some parts are still on their way
        else:
            values.update(delivered_code=receipt["delivered_code"], delivered_status=receipt["delivered_status"],
                          delivered_at=receipt["at"])
    if receipt.get("read_at") is not None and new_status in (None, Status.SENT, Status.DELIVERED):
        new_status = Status.READ  # read implies delivered, even when its delivery receipt was lost
    current = Status(message.status)
    movable = current not in FINAL or (current in MAY_BE_READ and new_status == Status.READ)
    if (new_status is not None and movable and current != Status.SUBMITTING
            and RANK[new_status] >= RANK[current]):
        values["status"] = message.status = new_status
        if new_status in (Status.REJECTED, Status.UNDELIVERED, Status.EXPIRED):
            code = receipt["delivered_code"] if receipt["delivered_code"] is not None else receipt["sent_code"]
            name = receipt["delivered_status"] or receipt["sent_status"] or ""
            said = f"provider: {code} {name}".strip()
            # a note of how it went out (in_flight_retried: sent twice) stays, after what the provider said
            kept = message.reason.startswith("in_flight_")
            values["reason"] = message.reason = f"{said}; {message.reason}" if kept else said


def _write(conn: Connection, folded: Iterable[_Message], now: float) -> None:
    """One UPDATE per message (executemany per set of changed columns), then each batch touched once."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    touched: set[int] = set()
    for message in folded:
        touched.add(message.batch_id)
        if message.values:
            by_columns.setdefault(tuple(sorted(message.values)), []).append({"mid": message.id, **message.values})
    for columns, params in by_columns.items():
        conn.execute(_update_message(columns), params)
    if touched:
        conn.execute(_TOUCH_BATCH, [{"bid": bid, "at": now} for bid in sorted(touched)])


@lru_cache(maxsize=64)
def _update_message(columns: tuple[str, ...]) -> Any:
    """One prepared UPDATE per set of changed columns: building a statement per receipt cost more than
    running it."""
    return (
        update(messages)
        .where(messages.c.id == bindparam("mid"))
        .values({name: bindparam(name) for name in columns})
    )


_CODE = re.compile(r"(?:^|; )([a-z][a-z_]*):")


def reason_codes(reason: str) -> list[str]:
    """The codes a reason text carries, in order, once each ("in_flight_retried: ...; no_receipt: ...")."""
    return list(dict.fromkeys(_CODE.findall(reason))) or [reason.split(":", 1)[0]]


def mark_no_receipt(conn: Connection, batch_id: int, why: str) -> int:
    """Messages of the batch still waiting for a receipt get `why` as their reason, after any they had."""
    waiting = and_(messages.c.batch_id == batch_id, messages.c.status.in_(list(AWAITING_RECEIPT)))
    result = conn.execute(update(messages).where(waiting).values(reason=case(
        (messages.c.reason == "", why), else_=messages.c.reason + "; " + why)))
    return int(result.rowcount or 0)
