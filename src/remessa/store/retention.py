"""Retention: the messages, part ids and receipts of batches settled long ago are deleted, inside the
caller's write transaction. The batch row stays (its name, counts in the written reports, its pruned_at),
MO messages stay (unlinked from the deleted message), and the reports on disk are never touched.
"""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from remessa.model import BatchState
from remessa.store.schema import batches, inbound, message_parts, messages, receipts


def prunable(conn: Connection, before: float, limit: int) -> list[int]:
    """Up to `limit` batches settled (or failed) before `before` and not pruned yet, oldest first."""
    query = (
        select(batches.c.id)
        .where(batches.c.state.in_([BatchState.SETTLED, BatchState.FAILED]), batches.c.pruned_at.is_(None),
               batches.c.settled_at.is_not(None), batches.c.settled_at < before)
        .order_by(batches.c.settled_at)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def delete_messages(conn: Connection, batch_id: int) -> int:
    """Delete one batch's messages and what hangs from them (part ids, receipts; MO messages are kept,
    unlinked); returns how many messages went."""
    ids = select(messages.c.id).where(messages.c.batch_id == batch_id).scalar_subquery()
    conn.execute(update(inbound).where(inbound.c.message_id.in_(ids)).values(message_id=None))
    conn.execute(receipts.delete().where(receipts.c.message_id.in_(ids)))
    conn.execute(message_parts.delete().where(message_parts.c.message_id.in_(ids)))
    return int(conn.execute(messages.delete().where(messages.c.batch_id == batch_id)).rowcount or 0)


def prune(conn: Connection, batch_id: int, now: float) -> int:
    """Delete a settled batch's messages and mark it pruned; returns how many messages went."""
    deleted = delete_messages(conn, batch_id)
    conn.execute(update(batches).where(batches.c.id == batch_id).values(pruned_at=now))
    return deleted
