"""What the provider's answers to a submission do to its messages, inside the caller's write transaction.

Accepted messages get their provider id (and receipts that came first are applied); refusals end REJECTED,
or UNKNOWN when an earlier attempt was in doubt; temporary refusals queue again; answers that never came
follow the batch's in_flight policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, select, update

from remessa.model import Accepted, InDoubt, Outcome, Rejected, Status
from remessa.store.receipts import apply_early_receipts
from remessa.store.schema import batches, message_parts, messages

#: an UPDATE of the message whose id is bound as "mid", only while it is SUBMITTING (an outcome never moves
#: back); run with one parameter set per message
SUBMITTING_BY_ID = update(messages).where(messages.c.id == bindparam("mid"), messages.c.status == Status.SUBMITTING)
_ACCEPT = SUBMITTING_BY_ID.values(status=Status.ACCEPTED, provider_id=bindparam("pid"), parts=bindparam("parts"))


def apply_outcomes(conn: Connection, batch_id: int, outcomes: Sequence[Outcome], max_attempts: int = 5) -> None:
    """Record what the provider answered for SUBMITTING messages of one batch; a temporary refusal queues
    the message again until it has been tried `max_attempts` times, then it is refused for good."""
    accepted: list[dict[str, Any]] = [
        {"mid": o.message_id, "pid": o.provider_id.lower(), "parts": o.parts,
         "ids": [i.lower() for i in o.part_ids] or [o.provider_id.lower()]}
        for o in outcomes if isinstance(o, Accepted)
    ]
    refused: list[dict[str, Any]] = [
        {"mid": o.message_id, "reason": o.reason, "code": o.code, "name": _code_name(o.reason) or None}
        for o in outcomes if isinstance(o, Rejected) and o.permanent
    ]
    retry: list[dict[str, Any]] = [
        {"mid": o.message_id, "reason": o.reason} for o in outcomes if isinstance(o, Rejected) and not o.permanent
    ]
    if retry:
        tried = dict(conn.execute(
            select(messages.c.id, messages.c.attempts).where(messages.c.id.in_([r["mid"] for r in retry]))
        ).all())
        spent = [r for r in retry if tried.get(r["mid"], 0) >= max_attempts]
        retry = [r for r in retry if tried.get(r["mid"], 0) < max_attempts]
        refused += [{"mid": r["mid"], "code": None, "name": None,
                     "reason": f"{r['reason']} (refused {tried[r['mid']]} times; not tried again)"} for r in spent]
    doubtful = [o for o in outcomes if isinstance(o, InDoubt)]
    if accepted:
        conn.execute(_ACCEPT, [{"mid": a["mid"], "pid": a["pid"], "parts": a["parts"]} for a in accepted])
        later = [{"provider_id": pid, "message_id": a["mid"], "part": n}
                 for a in accepted for n, pid in enumerate(a["ids"][1:], start=2)]
        if later:  # a later part's receipt names that part's id, perhaps long after a restart
            conn.execute(message_parts.insert(), later)
        # early receipts are filed under the first part's id, or a later part's when it came first
        apply_early_receipts(conn, batch_id, {i: (a["mid"], a["parts"]) for a in accepted for i in a["ids"]})
    if refused:
        refuse(conn, refused)
    if retry:
        conn.execute(SUBMITTING_BY_ID.values(status=Status.QUEUED, reason=bindparam("reason")), retry)
    if doubtful:
        policy = conn.execute(select(batches.c.in_flight).where(batches.c.id == batch_id)).scalar_one()
        for outcome in doubtful:
            conn.execute(submitting(outcome.message_id).values(**in_doubt(policy, outcome.reason)))


def in_doubt(policy: str, why: str) -> dict[str, Any]:
    """What becomes of a message that may or may not have reached the provider, by in_flight policy:
    `retry` queues it again (a duplicate is possible), `unknown` reports it UNKNOWN and never resends."""
    if policy == "unknown":
        return {"status": Status.UNKNOWN, "reason": f"in_flight_unknown: {why}; it may or may not have been sent"}
    return {"status": Status.QUEUED, "reason": f"in_flight_retried: {why}; submitted again"}


def refuse(conn: Connection, refusals: list[dict[str, Any]]) -> None:
    """SUBMITTING messages refused for good: REJECTED, unless an earlier attempt was in doubt (in_flight
    retry): that one may have been sent, so the message is UNKNOWN, never reported as not sent."""
    retried = dict(conn.execute(
        select(messages.c.id, messages.c.reason).where(
            messages.c.id.in_([r["mid"] for r in refusals]), messages.c.status == Status.SUBMITTING,
            messages.c.reason.like("in_flight_retried:%"))
    ).all())
    plain = [r for r in refusals if r["mid"] not in retried]
    if plain:
        conn.execute(
            SUBMITTING_BY_ID.values(status=Status.REJECTED, reason=bindparam("reason"),
                                    sent_code=bindparam("code"), sent_status=bindparam("name")),
            plain,
        )
    for r in refusals:
        if r["mid"] in retried:
            why = retried[r["mid"]].removeprefix("in_flight_retried: ").removesuffix("; submitted again")
            conn.execute(submitting(r["mid"]).values(
                status=Status.UNKNOWN,
                reason=f"in_flight_unknown: {why}; the retry was refused ({r['reason']}), so the first attempt"
                       " may or may not have been sent"))


def submitting(message_id: int) -> Any:
    """An UPDATE of one message that only applies while it is SUBMITTING (never move an outcome back)."""
    return update(messages).where(messages.c.id == message_id, messages.c.status == Status.SUBMITTING)


def _code_name(reason: str) -> str:
    parts = reason.split(" ", 1)
    return parts[1] if len(parts) == 2 and parts[0].isdigit() else ""
