"""The provider's SMS status payloads (seed 002) read into `Receipt`s: the sent-status callback, the delivery
report (both levels in one object) and the status list polled from ``GET /v1/sms/status/list``; its SMS replies
(MO, posted one by one or listed by ``GET /v1/sms/receive/list``) into `Inbound`s, an object at a time; and the
field readers the WhatsApp webhooks share (whatsapp_callbacks).

Pure functions; every refusal is a ValueError whose message names the field, and is safe to answer with.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from remessa.model import DELIVERED_CODES, SENT_CODES, Inbound, Receipt

#: a JSON string (kept as it is), or a comma followed only by blanks and a closing } or ]
_STRING_OR_TRAILING_COMMA = re.compile(r'("[^"\\]*(?:\\.[^"\\]*)*")|,(?=\s*[}\]])', re.DOTALL)
_DIGITS = re.compile(r"\s*\d+\s*")
#: where each level keeps its time: epoch milliseconds first, then the ISO date. The callback says
#: sentAt/sentDate, the DLR and the polled list sentStatusAt/sentStatusDate.
_SENT_TIMES = (("sentAt", "sentStatusAt"), ("sentDate", "sentStatusDate"))
_DELIVERED_TIMES = (("deliveredAt",), ("deliveredDate",))
#: bounds of what a receipt can hold (the store's columns): beyond them a status is refused here, as malformed,
#: rather than failing to be stored (which the provider would be told to retry forever)
MAX_ID = 100
MAX_NAME = 64
MAX_CODE = 2**31 - 1


def loads(body: bytes) -> object:
    """The JSON value of a request body, tolerating the trailing commas the provider writes before a closing
    brace or bracket (seed 002's callback example has one); raises ValueError for anything else malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("the body is not UTF-8") from None
    try:
        return json.loads(_STRING_OR_TRAILING_COMMA.sub(lambda m: m.group(1) or "", text))
    except json.JSONDecodeError as e:
        raise ValueError(f"malformed JSON: {e}") from None
    except RecursionError:
        raise ValueError("malformed JSON: nested too deeply") from None


def sms_status(payload: object, received: datetime | None = None) -> Receipt:
    """The receipt one status object carries: the sent level, the delivered level, or both (a DLR).

    Its time is the delivered level's when there is one, else the sent level's (epoch ms, else the ISO date,
    else `received`, by default now); always aware, in UTC. Raises ValueError naming the field at fault.
    """
    if not isinstance(payload, dict):
        raise ValueError("a status is not a JSON object")
    sent_code = read_code(payload, "sentStatusCode")
    delivered_code = read_code(payload, "deliveredStatusCode")
    if sent_code is None and delivered_code is None:
        raise ValueError('neither "sentStatusCode" nor "deliveredStatusCode" is given')
    times = _DELIVERED_TIMES if delivered_code is not None else _SENT_TIMES
    return Receipt(
        provider_id=read_id(payload),
        at=read_instant(payload, *times) or received or datetime.now(UTC),
        sent_code=sent_code,
        sent_status=read_name(payload, "sentStatus", SENT_CODES, sent_code),
        delivered_code=delivered_code,
        delivered_status=read_name(payload, "deliveredStatus", DELIVERED_CODES, delivered_code),
        correlation_id=read_text(payload, "correlationId"),
        raw=payload,
    )


def sms_statuses(payload: object, received: datetime | None = None) -> list[Receipt]:
    """The receipts of a JSON array of status objects (the polled list); raises ValueError naming the
    position and field at fault."""
    if not isinstance(payload, list):
        raise ValueError("the statuses are not a JSON array")
    receipts = []
    for n, item in enumerate(payload):
        try:
            receipts.append(sms_status(item, received))
        except ValueError as e:
            raise ValueError(f"status {n}: {e}") from None
    return receipts


def is_sms_inbound(payload: object) -> bool:
    """Whether an SMS callback object is a reply (MO: a source and a text, no status)."""
    return (isinstance(payload, dict) and "source" in payload and "messageText" in payload
            and "sentStatusCode" not in payload and "deliveredStatusCode" not in payload)


def sms_inbound(payload: object, received: datetime | None = None) -> Inbound:
    """The reply one MO object carries: its sender, our short code, its text, the MT it answers (``mt.id``)."""
    if not isinstance(payload, dict):
        raise ValueError("a reply is not a JSON object")
    source = read_text(payload, "source")
    if not source:
        raise ValueError('"source" is missing')
    mt = given(payload, "mt")
    answers = str(mt.get("id") or "").strip().lower() if isinstance(mt, dict) else ""
    return Inbound(source=source, destination=read_text(payload, "shortCode"),
                   text=read_text(payload, "messageText"),
                   at=read_instant(payload, ("receivedAt",), ("receivedDate",)) or received or datetime.now(UTC),
                   message_id=answers, raw=payload, mo_id=read_id(payload))


def given(payload: Mapping[str, Any], key: str) -> Any:
    """The field's value; absent, null and "" all mean not given (None)."""
    value = payload.get(key)
    return None if value == "" else value


def read_id(payload: Mapping[str, Any]) -> str:
    """The provider's id of the message a status is about ("id"), in lower case as the store keeps it."""
    value = given(payload, "id")
    if value is None:
        raise ValueError('"id" is missing')
    if not isinstance(value, str):
        raise ValueError('"id" is not a string')
    if not value.strip():
        raise ValueError('"id" is blank')
    if len(value.strip()) > MAX_ID:
        raise ValueError(f'"id" is longer than {MAX_ID} characters')
    return value.strip().lower()


def _integer(payload: Mapping[str, Any], key: str) -> int | None:
    """An integer field, given as a JSON number or a string of digits; None when not given."""
    value = given(payload, key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    raise ValueError(f'"{key}" is not a number')


def read_code(payload: Mapping[str, Any], key: str) -> int | None:
    """A status code field; None when not given."""
    code = _integer(payload, key)
    if code is not None and not 0 <= code <= MAX_CODE:
        raise ValueError(f'"{key}" is out of range')
    return code


def read_text(payload: Mapping[str, Any], key: str) -> str:
    """A text field ("" when not given); a number is taken as its digits."""
    value = given(payload, key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # some accounts send numeric correlation ids
    raise ValueError(f'"{key}" is not a string')


def read_name(payload: Mapping[str, Any], key: str, names: Mapping[int, str], code: int | None) -> str:
    """A status name, by default the one seed 002's tables give its code."""
    name = read_text(payload, key)
    if len(name) > MAX_NAME:
        raise ValueError(f'"{key}" is longer than {MAX_NAME} characters')
    return name or (names.get(code, "") if code is not None else "")


def read_instant(
    payload: Mapping[str, Any], epoch_keys: tuple[str, ...], iso_keys: tuple[str, ...]
) -> datetime | None:
    """The first time given: an epoch in milliseconds, else an ISO 8601 date (naive read as UTC)."""
    for key in epoch_keys:
        ms = _integer(payload, key)
        if ms is not None:
            try:
                return datetime.fromtimestamp(ms / 1000, UTC)
            except (OverflowError, OSError, ValueError):
                raise ValueError(f'"{key}" is out of range') from None
    for key in iso_keys:
        value = given(payload, key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValueError(f'"{key}" is not a date')
        try:
            at = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f'"{key}" is not an ISO 8601 date') from None
        return at.astimezone(UTC) if at.tzinfo else at.replace(tzinfo=UTC)
    return None
