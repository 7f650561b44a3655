"""The WhatsApp half of the HTTP API simulator: reading a POST /v1/whatsapp/send body, the fate of each
destination, and the webhooks it posts, status events (seed 002) and mobile-originated messages (seed 001),
with the seeds' field names (remessa.simulators.http.server uses them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from remessa.model import DELIVERED_CODES, SENT_CODES
from remessa.simulators.http.state import (
    DELIVERED_SUCCESS,
    FIELD_LIMITS,
    SENT_SUCCESS,
    BadRequest,
    Event,
    HttpSimulatorConfig,
    Message,
    fate,
    millis,
    read_destination,
    read_list,
    read_object,
    read_text,
)

ORIGIN = "5519900000000"  # the account's WhatsApp number, as in the seeds
CLIENT_INFO = {"customerId": 42, "subAccountId": 1291, "userId": 1}  # the seed's
PROFILE_NAME = "Sandbox user"  # the userProfile.name of every MO message
#: WhatsApp's own limit on a text; the other fields as for SMS
LIMITS = {**FIELD_LIMITS, "messageText": 4096, "defaultExtraInfo": FIELD_LIMITS["extraInfo"]}
MEDIA_ELEMENTS = ("image", "audio", "document", "video")  # the kinds of a template header's element
LINK_FIELDS = ("campaignId", "correlationId", "campaignAlias", "flowId", "extraInfo")


@dataclass(frozen=True)
class ChatRequest:
    """A POST /v1/whatsapp/send body, checked."""

    destinations: tuple[tuple[str, str | None], ...]  # (destination, correlationId), in request order
    content: str  # the messageText, or the template's elementName
    extra_info: str
    campaign_alias: str | None
    flow_id: str


@dataclass(frozen=True)
class Chat(Message):
    """A WhatsApp message the API accepted; its `text` is the messageText or the template's elementName."""

    campaign_alias: str | None
    flow_id: str
    read: bool  # a read event follows its delivered one

    @property
    def stages(self) -> int:
        """How many status events it gets: sent, then delivered, then read."""
        if self.delivered_code is None:
            return 1
        return 3 if self.read else 2


def parse_chat(body: bytes, most: int) -> ChatRequest:
    """Read a WhatsApp send body of at most `most` destinations; BadRequest says what is wrong."""
    document = read_object(body)
    entries = read_list(document, "destinations", most)
    destinations = tuple(read_destination(f"destinations[{i}]", entry)[1:] for i, entry in enumerate(entries))
    return ChatRequest(destinations, _content(document.get("message")),
                       read_text(document, "defaultExtraInfo", "", LIMITS) or "",
                       read_text(document, "campaignAlias", "", LIMITS), read_text(document, "flowId", "") or "")


def _content(message: object) -> str:
    """What a message sends: its messageText or its template's elementName."""
    if not isinstance(message, dict):
        raise BadRequest("message: a JSON object is required")
    text = read_text(message, "messageText", "message", LIMITS)
    template = message.get("template")
    if template is not None and text is not None:
        raise BadRequest("message: a template or a messageText, not both")
    if template is not None:
        return _template(template)
    if not text:
        raise BadRequest("message: a template or a messageText is required")
    return text


def _template(template: object) -> str:
    """The elementName of a checked message.template."""
    where = "message.template"
    if not isinstance(template, dict):
        raise BadRequest(f"{where}: not a JSON object")
    if not read_text(template, "namespace", where):
        raise BadRequest(f"{where}.namespace: missing")
    name = read_text(template, "elementName", where)
    if not name:
        raise BadRequest(f"{where}.elementName: missing")
    read_text(template, "languageCode", where)
    read_text(template, "languagePolicy", where)
    _strings(template, "bodyParameters", where)
    header = template.get("header", {})
    if not isinstance(header, dict):
        raise BadRequest(f"{where}.header: not a JSON object")
    _strings(header, "parameters", f"{where}.header")
    for element in MEDIA_ELEMENTS:
        media = header.get(element)
        if media is not None and (not isinstance(media, dict) or not read_text(media, "url", "")):
            raise BadRequest(f"{where}.header.{element}.url: missing")
    return name


def _strings(document: dict[str, Any], key: str, where: str) -> None:
    """BadRequest unless document[key], when present, is an array of strings."""
    values = document.get(key, [])
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest(f"{where}.{key}: not an array of strings")


def accept(request: ChatRequest, campaign_id: int | None, config: HttpSimulatorConfig) -> list[Chat]:
    """The request's messages, with new ids, each with the fate its destination decides (`config`'s refuse,
    undeliverable and unread patterns)."""
    chats = []
    for destination, correlation_id in request.destinations:
        sent_code, delivered_code = fate(destination, config)
        read = delivered_code == DELIVERED_SUCCESS and not any(fnmatchcase(destination, p) for p in config.unread)
        chats.append(Chat(str(uuid.uuid4()), destination, request.content, correlation_id, request.extra_info,
                          campaign_id, sent_code, delivered_code, request.campaign_alias, request.flow_id, read))
    return chats


def status(m: Chat, sent_at: float, delivered_at: float | None = None, read_at: float | None = None) -> Event:
    """A status webhook: the sent event, the delivered one once `delivered_at` is given, the read one once
    `read_at` is too (epoch seconds); the fields of later stages are null (their booleans false)."""
    code = None if delivered_at is None else m.delivered_code
    updated = max(at for at in (sent_at, delivered_at, read_at) if at is not None)
    return {"total": 1, "data": [{
        "id": m.id, "correlationId": m.correlation_id, "destination": m.destination, "origin": ORIGIN,
        "campaignId": m.campaign_id, "campaignAlias": m.campaign_alias, "flowId": m.flow_id,
        "extraInfo": m.extra_info, "sent": m.sent_code == SENT_SUCCESS, "sentStatusCode": m.sent_code,
        "sentStatus": SENT_CODES[m.sent_code], **_instant("sent", sent_at),
        "delivered": code == DELIVERED_SUCCESS, "deliveredStatusCode": code,
        "deliveredStatus": None if code is None else DELIVERED_CODES[code], **_instant("delivered", delivered_at),
        "read": read_at is not None, **_instant("read", read_at), **_instant("updated", updated),
        "type": "MESSAGE"}], "clientInfo": dict(CLIENT_INFO)}


def mo(mo_id: str, source: str, text: str, kind: str, received_at: float, last: Chat | None) -> Event:
    """A mobile-originated message's webhook: TEXT, BUTTON (`text` is also its payload) or IMAGE (`text` is the
    caption). Its campaign, correlationId, flowId and extraInfo are those of `last`, the latest message sent
    to `source`, if any. ValueError for another kind."""
    if last is None:
        link: Event = dict.fromkeys(LINK_FIELDS)
    else:
        link = dict(zip(LINK_FIELDS, (last.campaign_id, last.correlation_id, last.campaign_alias, last.flow_id,
                                      last.extra_info), strict=True))
    at = millis(received_at)
    return {"total": 1, "data": [{
        "id": mo_id, "source": source, "origin": ORIGIN, "userProfile": {"name": PROFILE_NAME}, **link,
        "message": _mo_message(mo_id, text, kind), "receivedAt": at, "receivedDate": _iso(at)}]}


def _mo_message(mo_id: str, text: str, kind: str) -> Event:
    if kind == "TEXT":
        return {"type": kind, "messageText": text}
    if kind == "BUTTON":
        return {"type": kind, "messageText": text, "payload": text}
    if kind == "IMAGE":
        return {"type": kind, "mediaUrl": f"https://example.com/remessa-sandbox/{mo_id}.jpg",
                "mimeType": "image/jpg", "caption": text}
    raise ValueError(f"kind: {kind!r} is not TEXT, BUTTON or IMAGE")


def _instant(name: str, at: float | None) -> Event:
    """{name}Date and {name}At of an instant given in epoch seconds, or nulls."""
    if at is None:
        return {f"{name}Date": None, f"{name}At": None}
    ms = millis(at)
    return {f"{name}Date": _iso(ms), f"{name}At": ms}


def _iso(ms: int) -> str:
    """yyyy-MM-dd'T'HH:mm:ss.SSS'Z' of epoch milliseconds, in UTC."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"
