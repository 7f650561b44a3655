"""The Devino WhatsApp webhooks (seed 003) read into `Receipt`s and `Inbound` messages: the status webhook
(a JSON array of ``{"messageId", "ts", "status", "errorCode", "options"...}``, ``options`` being our
``callbackData``) and the incoming-message webhook (one ``{"incomingMessageId", "from", "to", "text"...}``).

Pure functions; every refusal is a ValueError naming the item and the field, and is safe to answer with.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from remessa.channels.http.callbacks import MAX_ID, MAX_NAME, given, read_code, read_instant, read_text
from remessa.channels.http.whatsapp_callbacks import read_number
from remessa.model import Inbound, Receipt

#: a status → the level it is (sent or delivered) and our code there; READ is delivered, and read
STATES: Mapping[str, tuple[str, int]] = {
    "SENT": ("sent", 2), "DELIVERED": ("delivered", 4), "READ": ("delivered", 4),
    "UNDELIVERED": ("delivered", 104), "EXPIRED": ("delivered", 101),
    "REJECTED": ("sent", 103), "FAILED": ("sent", 103),
}
NAMES = {2: "SENT_SUCCESS", 4: "DELIVERED_SUCCESS"}  # a success is named by our code; a failure by its status
EXPIRED_ERRORS = frozenset({2010, 2011})  # "Tempo de vida expirou"
NOT_DELIVERED = 104
EXPIRED = 101


def is_devino_inbound(payload: object) -> bool:
    """Whether a webhook body is an incoming message (it carries ``incomingMessageId``), not statuses."""
    return isinstance(payload, Mapping) and "incomingMessageId" in payload


def devino_statuses(payload: object, received: datetime | None = None) -> list[Receipt]:
    """The receipts of a status webhook: a JSON array of statuses (one object is taken as an array of it; an
    incoming message has none). A status not yet final (ENQUEUED...) without an errorCode says nothing to
    store and is left out; one with an errorCode is a failure. Times are ``ts`` (epoch ms), else `received`."""
    if is_devino_inbound(payload):
        return []
    items = [payload] if isinstance(payload, Mapping) else payload
    if not isinstance(items, list):
        raise ValueError("the webhook is neither a JSON array of statuses nor an incoming message")
    now = received or datetime.now(UTC)
    receipts = []
    for n, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise ValueError(f"status {n}: not a JSON object")
        try:
            receipt = _status(item, now)
        except ValueError as e:
            raise ValueError(f"status {n}: {e}") from None
        if receipt is not None:
            receipts.append(receipt)
    return receipts


def devino_inbound(payload: object, received: datetime | None = None) -> list[Inbound]:
    """The incoming message of a webhook body, from `from` (the user) to `to` (our sender); none for statuses."""
    if not is_devino_inbound(payload):
        return []
    assert isinstance(payload, Mapping)
    source = read_number(payload, "from")
    if not source:
        raise ValueError('"from" is missing')
    return [Inbound(
        source=source,
        destination=read_number(payload, "to"),
        text=_said(payload),
        at=_at(payload) or received or datetime.now(UTC),
        raw=dict(payload),
    )]


def _status(item: Mapping[str, Any], received: datetime) -> Receipt | None:
    provider_id = read_text(item, "messageId").strip()
    if not provider_id:
        raise ValueError('"messageId" is missing')
    if len(provider_id) > MAX_ID:
        raise ValueError(f'"messageId" is longer than {MAX_ID} characters')
    status = read_text(item, "status").strip().upper()
    error = read_code(item, "errorCode") or 0
    level, code = STATES.get(status, ("", 0))
    if not level:
        if not error:
            return None
        level, code = "delivered", NOT_DELIVERED
    if error in EXPIRED_ERRORS and code not in NAMES:
        code = EXPIRED
    name = NAMES.get(code) or f"{status or 'ERROR'} {error or ''}".strip()[:MAX_NAME]
    at = _at(item) or received
    return Receipt(
        provider_id=provider_id.lower(),
        at=at,
        sent_code=code if level == "sent" else None,
        sent_status=name if level == "sent" else "",
        delivered_code=code if level == "delivered" else None,
        delivered_status=name if level == "delivered" else "",
        correlation_id=read_text(item, "options"),
        raw=dict(item),
        read_at=at if status == "READ" else None,
    )


def _at(item: Mapping[str, Any]) -> datetime | None:
    """The ``ts`` of an item (epoch ms); None when not given or 0, as the seed's examples write it."""
    return None if given(item, "ts") in (0, "0") else read_instant(item, ("ts",), ())


def _said(item: Mapping[str, Any]) -> str:
    """What the user wrote, else a description of what was sent ("[IMAGE] url", "[LOCATION] lat,lng name",
    "[CONTACTS] names")."""
    text = read_text(item, "text")
    if text:
        return text
    place = given(item, "whatsAppGeoLocation")
    if isinstance(place, Mapping):
        point = ",".join(str(place[k]) for k in ("latitude", "longitude") if place.get(k) is not None)
        name = read_text(place, "addressName") or read_text(place, "address")
        return " ".join(part for part in ("[LOCATION]", point, name) if part)
    contacts = given(item, "whatsAppContacts")
    if isinstance(contacts, list):
        return " ".join(("[CONTACTS]", ", ".join(filter(None, map(_contact, contacts))))).rstrip()
    url = read_text(item, "contentUrl").strip()
    if url:
        kind = read_text(item, "contentType").partition("/")[0].strip().upper() or "MEDIA"
        return f"[{kind}] {read_text(item, 'contentName').strip() or url}"
    return ""


def _contact(contact: object) -> str:
    """A shared contact's formatted name, else its first and last names, else its first phone."""
    if not isinstance(contact, Mapping):
        return ""
    for key, fields in (("contactName", ("formattedName",)), ("contactName", ("firstName", "lastName")),
                        ("phones", ("phone",))):
        entries = contact.get(key)
        first = entries[0] if isinstance(entries, list) and entries else None
        if isinstance(first, Mapping):
            said = " ".join(str(first[f]).strip() for f in fields if isinstance(first.get(f), str)).strip()
            if said:
                return said
    return ""
