"""Inbound (MO) messages: stored, linked to the message they answer when the provider says so, and
opt-out words (SAIR, PARAR, STOP, CANCELAR) that put the sender on the profile's blocklist and block the
messages to them still queued in the profile's batches."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable

from sqlalchemy import Connection, select, update

from remessa.model import BatchState, Inbound, Status
from remessa.store.schema import batches, blocklist, inbound, messages

OPT_OUT_WORDS = frozenset({"SAIR", "PARAR", "STOP", "CANCELAR"})


def opt_out(text: str) -> bool:
    """Whether an MO text asks to stop: an opt-out word alone, in any case, with or without accents
    or punctuation ("Sair", "PARAR!", "stop.", "cancelár")."""
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    words = "".join(c if c.isalnum() else " " for c in plain).upper().split()
    return len(words) == 1 and words[0] in OPT_OUT_WORDS


def record_inbound(
    conn: Connection, message: Inbound, provider: str, profiles: Iterable[str], number: str, now: float
) -> bool:
    """Store one MO message; an opt-out adds `number` (the sender, normalised) to each profile's
    blocklist. Returns whether it was an opt-out."""
    if message.mo_id and conn.execute(
            select(inbound.c.id).where(inbound.c.provider == provider, inbound.c.mo_id == message.mo_id)).first():
        return False  # stored already (a provider that retries, a status list that repeats): applied once
    answered = None
    if message.message_id:
        answered = conn.execute(
            select(messages.c.id, messages.c.batch_id).where(messages.c.provider_id == message.message_id)
        ).first()
    stop = opt_out(message.text)
    conn.execute(inbound.insert(), {
        "provider": provider, "source": number, "destination": message.destination, "text": message.text,
        "at": message.at.timestamp(), "message_id": answered[0] if answered else None,
        "batch_id": answered[1] if answered else None, "opt_out": int(stop),
        "raw": json.dumps(message.raw, default=str), "mo_id": message.mo_id or None,
    })
    if stop:
        profiles = list(profiles)
        for profile in profiles:
            known = conn.execute(
                select(blocklist.c.destination).where(
                    blocklist.c.profile == profile, blocklist.c.destination == number
                )
            ).first()
            if known is None:
                conn.execute(blocklist.insert(), {
                    "profile": profile, "destination": number, "added_at": now,
                    "reason": f"opt-out: replied {message.text.strip()[:20]!r} via {provider}",
                })
        _block_queued(conn, profiles, number, message, now)
    return stop


def _block_queued(conn: Connection, profiles: list[str], number: str, message: Inbound, now: float) -> None:
    """Messages to `number` still waiting in the profiles' batches become BLOCKED: they never go out."""
    open_batches = select(batches.c.id).where(
        batches.c.profile.in_(profiles), batches.c.state.in_([BatchState.RECEIVING, BatchState.QUEUED])
    )
    reason = f"blocked: {number} opted out (replied {message.text.strip()[:20]!r}) before it was sent"
    touched = conn.execute(
        update(messages)
        .where(messages.c.destination == number, messages.c.status == Status.QUEUED,
               messages.c.batch_id.in_(open_batches.scalar_subquery()))
        .values(status=Status.BLOCKED, reason=reason)
        .returning(messages.c.batch_id)
    ).all()
    for batch_id in {row[0] for row in touched}:
        conn.execute(update(batches).where(batches.c.id == batch_id).values(changed_at=now))
