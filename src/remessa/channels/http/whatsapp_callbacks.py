"""The provider's WhatsApp webhooks read into `Receipt`s and `Inbound` messages: one body
``{"total", "data": [...], "clientInfo"}`` whose items are statuses (seed 002, "Webhooks") or messages users
sent us (MO: text, button replies, media, location, contacts; seeds 001 and 002), possibly mixed.

Pure functions; every refusal is a ValueError naming the item and the field, and is safe to answer with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from remessa.channels.http.callbacks import given, read_code, read_id, read_instant, read_name, read_text
from remessa.model import DELIVERED_CODES, SENT_CODES, Inbound, Receipt

#: the WhatsApp API's codes (seed 002, "Outros Status") where they are not the SMS tables'
WHATSAPP_SENT_CODES = {**SENT_CODES, 209: "INVALID_CONTENT", 210: "INVALID_SESSION"}
WHATSAPP_DELIVERED_CODES = {**DELIVERED_CODES, 105: "WA_MO_MEDIA_UNRETRYABLE_EXCEPTION"}
SENT_SUCCESS = 2
DELIVERED_SUCCESS = 4
#: the message types whose content is a file (seed 002 lists IMAGE, AUDIO, DOCUMENT; WhatsApp has the others)
MEDIA = frozenset({"IMAGE", "AUDIO", "VIDEO", "DOCUMENT", "STICKER"})
MAX_NUMBER = 64  # the store's columns for an MO's source and destination

_Parsed = TypeVar("_Parsed")


def is_inbound(item: Mapping[str, Any]) -> bool:
    """Whether a webhook item is a message a user sent (it carries a ``message`` object), not a status."""
    return isinstance(item.get("message"), Mapping)


def whatsapp_statuses(payload: object, received: datetime | None = None) -> list[Receipt]:
    """The receipts of a webhook body's status items (its MOs are whatsapp_inbound's).

    ``sent: true`` without a known code is 2 SENT_SUCCESS, ``delivered: true`` without one 4 DELIVERED_SUCCESS
    (seed 002's example writes 1 and free text); ``false`` with a code is that code. A receipt's time is its
    delivered level's, else its sent level's, else its read time; `read_at` is set when the item says read.
    Times are epoch ms, else the ISO date, else `received` (by default now), in UTC.
    """
    now = received or datetime.now(UTC)
    return _each(payload, False, lambda item: _status(item, now))


def whatsapp_inbound(payload: object, received: datetime | None = None) -> list[Inbound]:
    """The MO messages of a webhook body (its statuses are whatsapp_statuses'): from `source` (the user) to
    `origin` (our WhatsApp number), at receivedAt (epoch ms), else receivedDate, else `received` (now)."""
    now = received or datetime.now(UTC)
    return _each(payload, True, lambda item: _inbound(item, now))


def _each(payload: object, inbound: bool, parse: Callable[[Mapping[str, Any]], _Parsed]) -> list[_Parsed]:
    """`parse` of every item of the body's "data" that is an MO (`inbound`) or a status; ValueError naming
    the item at fault."""
    if not isinstance(payload, dict):
        raise ValueError("the webhook is not a JSON object")
    items = payload.get("data")
    if items is None:
        raise ValueError('"data" is missing')
    if not isinstance(items, list):
        raise ValueError('"data" is not a JSON array')
    parsed = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise ValueError(f"item {n}: not a JSON object")
        if is_inbound(item) == inbound:
            try:
                parsed.append(parse(item))
            except ValueError as e:
                raise ValueError(f"item {n}: {e}") from None
    return parsed


# --- statuses ----------------------------------------------------------------------------------------


def _status(item: Mapping[str, Any], received: datetime) -> Receipt:
    if item.get("message") is not None:
        raise ValueError('"message" is not a JSON object')
    provider_id = read_id(item)
    sent_code, sent_status = _level(item, "sent", WHATSAPP_SENT_CODES, SENT_SUCCESS)
    delivered_code, delivered_status = _level(item, "delivered", WHATSAPP_DELIVERED_CODES, DELIVERED_SUCCESS)
    read = _flag(item, "read")
    if sent_code is None and delivered_code is None and not read:
        raise ValueError('neither "sentStatusCode", "deliveredStatusCode" nor "read" says a status')
    read_at = (read_instant(item, ("readAt",), ("readDate",)) or received) if read else None
    if delivered_code is not None:
        at = read_instant(item, ("deliveredAt",), ("deliveredDate",))
    elif sent_code is not None:
        at = read_instant(item, ("sentAt",), ("sentDate",))
    else:
        at = read_at
    return Receipt(
        provider_id=provider_id,
        at=at or received,
        sent_code=sent_code,
        sent_status=sent_status,
        delivered_code=delivered_code,
        delivered_status=delivered_status,
        correlation_id=read_text(item, "correlationId"),
        raw=dict(item),
        read_at=read_at,
    )


def _level(item: Mapping[str, Any], level: str, names: Mapping[int, str], success: int) -> tuple[int | None, str]:
    """The code and name of one level ("sent" or "delivered"): its flag true without a known code is
    `success`, with that code's name."""
    done = _flag(item, level)
    code = read_code(item, f"{level}StatusCode")
    name = read_name(item, f"{level}Status", names, code)
    if done and code not in names:
        return success, names[success]
    return code, name if code is not None else ""


def _flag(item: Mapping[str, Any], key: str) -> bool:
    value = item.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f'"{key}" is not a boolean')
    return value


# --- messages users sent (MO) ------------------------------------------------------------------------


def _inbound(item: Mapping[str, Any], received: datetime) -> Inbound:
    message: Mapping[str, Any] = item["message"]
    source = read_number(item, "source")
    if not source:
        raise ValueError('"source" is missing')
    with _inside("message"):
        text = _said(message)
    return Inbound(
        source=source,
        destination=read_number(item, "origin"),
        text=text,
        at=read_instant(item, ("receivedAt",), ("receivedDate",)) or received,
        message_id=_answered(item, message),
        raw=dict(item),
    )


def read_number(item: Mapping[str, Any], key: str) -> str:
    """A phone number or sender field, at most MAX_NUMBER characters."""
    number = read_text(item, key).strip()
    if len(number) > MAX_NUMBER:
        raise ValueError(f'"{key}" is longer than {MAX_NUMBER} characters')
    return number


def _said(message: Mapping[str, Any]) -> str:
    """The text an MO stands for: what the user wrote, the button or list option chosen, or a description
    of what was sent ("[IMAGE] caption", "[LOCATION] lat,lng name", "[CONTACTS] names")."""
    kind = read_text(message, "type").strip().upper()
    if given(message, "location") is not None or kind == "LOCATION":
        return _location(message)
    if given(message, "contacts") is not None or kind == "CONTACTS":
        return _contacts(message)
    if kind in MEDIA or given(message, "mediaUrl") is not None:
        shown = read_text(message, "caption").strip() or read_text(message, "mediaUrl").strip()
        return f"[{kind or 'MEDIA'}] {shown}".rstrip()
    # TEXT; a BUTTON reply says its text, else its payload; a list reply its title
    said = read_text(message, "messageText") or read_text(message, "payload") or read_text(message, "title")
    return said or (f"[{kind}]" if kind not in ("", "TEXT") else "")


def _location(message: Mapping[str, Any]) -> str:
    location = message.get("location")
    if not isinstance(location, Mapping):
        raise ValueError('"location" is not a JSON object')
    with _inside("location"):
        point = read_text(location, "geoPoint").strip()
        if point:
            latitude, _, longitude = (part.strip() for part in point.partition(","))
            if not (_degrees(latitude, 90) and _degrees(longitude, 180)):
                raise ValueError('"geoPoint" is not "latitude,longitude"')
            point = f"{latitude},{longitude}"
        place = read_text(location, "name").strip() or read_text(location, "address").strip()
    return " ".join(part for part in ("[LOCATION]", point, place) if part)


def _degrees(text: str, bound: float) -> bool:
    try:
        return abs(float(text)) <= bound  # False for nan, as for inf
    except ValueError:
        return False


def _contacts(message: Mapping[str, Any]) -> str:
    contacts = message.get("contacts")
    if not isinstance(contacts, list):
        raise ValueError('"contacts" is not a JSON array')
    names = []
    for n, contact in enumerate(contacts):
        if not isinstance(contact, Mapping):
            raise ValueError(f'"contacts[{n}]" is not a JSON object')
        with _inside(f"contacts[{n}]"):
            names.append(_contact_name(contact))
    return " ".join(("[CONTACTS]", ", ".join(name for name in names if name))).rstrip()


def _contact_name(contact: Mapping[str, Any]) -> str:
    """A shared contact's name as a person reads it, else its first phone number."""
    name = contact.get("name")
    if name is not None and not isinstance(name, Mapping):
        raise ValueError('"name" is not a JSON object')
    if name:
        with _inside("name"):
            full = read_text(name, "formatted_name").split() or " ".join(
                read_text(name, key) for key in ("first_name", "middle_name", "last_name")).split()
        if full:
            return " ".join(full)
    phones = contact.get("phones")
    first = phones[0] if isinstance(phones, list) and phones else None
    return read_text(first, "phone").strip() if isinstance(first, Mapping) else ""


def _answered(item: Mapping[str, Any], message: Mapping[str, Any]) -> str:
    """The provider's id of the message an MO answers, in lower case: the item's "messageId" (a button
    reply's), else the id of the message's "context"; "" when it names none."""
    answered = read_text(item, "messageId").strip()
    context = message.get("context")
    if not answered and context is not None:
        if not isinstance(context, Mapping):
            raise ValueError('"message.context" is not a JSON object')
        with _inside("message.context"):
            answered = read_text(context, "id").strip()
    return answered.lower()


@contextmanager
def _inside(name: str) -> Iterator[None]:
    """Errors about a field of object `name` name it by its path (``"caption" ...`` → ``"message.caption" ...``)."""
    try:
        yield
    except ValueError as e:
        said = str(e)
        raise ValueError(f'"{name}.{said[1:]}' if said.startswith('"') else f'"{name}": {said}') from None
