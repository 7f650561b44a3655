"""The HTTP API simulator's settings, fault switches and counters, the reading of a bulk SMS send request, and
the SMS status events it emits, with seed 002's field names and codes (remessa.simulators.http.server uses them;
the WhatsApp API's requests and events are in ``whatsapp``)."""

from __future__ import annotations

import json
import logging
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

from remessa.model import DELIVERED_CODES, SENT_CODES

SENT_SUCCESS = 2
DELIVERED_SUCCESS = 4
#: the carriers a destination is assigned to (ids 1 and 5 as in the seed's examples)
CARRIERS = ((1, "VIVO"), (2, "CLARO"), (5, "TIM"))
#: the seed's maxima, in characters
FIELD_LIMITS = {"messageText": 1280, "correlationId": 64, "extraInfo": 255, "campaignAlias": 255}
EXPIRY_FIELDS = ("expiresAt", "expiresInMinutes", "expiresDate")  # mutually exclusive, says the seed

Event = dict[str, object]  # one status event as JSON


@dataclass(frozen=True)
class HttpSimulatorConfig:
    """What the simulated API accepts and how it answers. Delays are in seconds from acceptance; patterns
    are fnmatch globs on the destination."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (HttpSimulator.port tells which)
    username: str = "remessa"
    token: str = "secret"
    refuse: Mapping[str, int] = field(default_factory=lambda: {"*0202": 202})  # -> a sent failure code
    undeliverable: Mapping[str, int] = field(default_factory=lambda: {"*0104": 104})  # -> a delivered code
    unread: tuple[str, ...] = ("*0303",)  # WhatsApp messages delivered to these, but never read
    sent_delay: float = 0.05  # to the sent-status callback
    delivered_delay: float = 0.1  # to the delivery report; at least sent_delay
    read_delay: float = 0.15  # to a WhatsApp message's read event; when below delivered_delay, right after it
    webhook_url: str | None = None  # receives every SMS callback and delivery report
    whatsapp_webhook_url: str | None = None  # receives every WhatsApp status event and MO message
    webhook_headers: Mapping[str, str] = field(default_factory=dict)  # e.g. {"Authorization": "Bearer s3"}
    webhook_timeout: float = 5.0
    webhook_threads: int = 1  # each event of one message is still posted after the previous one was taken
    redeliver_after: float = 1.0  # a webhook answered with other than 2xx, or not at all, is posted again
    list_limit: int = 1000  # events per answer of GET /v1/sms/status/list
    max_per_request: int = 1000
    max_body_size: int = 16 * 1024 * 1024  # bytes; larger bodies are answered 413
    seed: int = 0  # of the random choices of Faults.fail_share
    ssl_certfile: str | None = None  # PEM files: speak HTTPS
    ssl_keyfile: str | None = None
    request_log_level: int = logging.DEBUG  # `remessa sandbox --http` logs every accepted request at INFO

    def __post_init__(self) -> None:
        if not 0 <= self.sent_delay <= self.delivered_delay:
            raise ValueError(f"need 0 <= sent_delay <= delivered_delay, not {self.sent_delay} and "
                             f"{self.delivered_delay}")
        for pattern, code in self.refuse.items():
            if code not in SENT_CODES or code == SENT_SUCCESS:
                raise ValueError(f"refuse[{pattern!r}]: {code} is not a sent failure code of seed 002")
        for pattern, code in self.undeliverable.items():
            if code not in DELIVERED_CODES or code == DELIVERED_SUCCESS:
                raise ValueError(f"undeliverable[{pattern!r}]: {code} is not a delivered failure code of seed 002")
        if self.read_delay < 0:
            raise ValueError(f"read_delay must not be negative, not {self.read_delay}")
        for name in ("redeliver_after", "webhook_timeout", "list_limit", "max_per_request", "webhook_threads"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass
class Faults:
    """Misbehaviour a test can switch on and off while the server runs; counts go down as requests come."""

    status_code: int | None = None  # answer send requests with this HTTP status (429, 503...)...
    count: int | None = None  # ...the next this many of them; None: until status_code is cleared
    retry_after: str | None = None  # the Retry-After header of those answers, e.g. "2"
    delay: float = 0.0  # seconds before a send request is looked at
    answer_delay: float = 0.0  # seconds between taking a send request and answering it
    drop: int = 0  # the next this many send requests are taken, then the connection closes unanswered
    refuse_next: int = 0  # the next this many send requests are answered 400
    fail_share: float = 0.0  # this share (0..1) of send requests is answered 503, chosen at random


@dataclass
class Stats:
    """Counters for assertions; `HttpSimulator.stats()` hands out copies."""

    requests: int = 0  # SMS send requests, whatever the answer
    accepted: int = 0  # SMS messages taken (refused destinations too: their refusal comes as a callback)
    whatsapp_requests: int = 0  # WhatsApp send requests, whatever the answer
    whatsapp_accepted: int = 0  # WhatsApp destinations taken (refused ones too, as for SMS)
    #: send requests of either API answered with an error, by status (not 413: Starlette answers those before
    #: the handler)
    rejected: Counter[int] = field(default_factory=Counter)
    dropped: int = 0  # send requests of either API taken and then hung up on
    polls: int = 0  # GET /v1/sms/status/list answered
    events_polled: int = 0
    webhooks_sent: int = 0  # attempts, redeliveries too, to either webhook URL
    webhooks_acked: int = 0  # answered 2xx
    webhooks_failed: int = 0  # answered otherwise, or not at all


class BadRequest(ValueError):
    """A send request the API answers 400; the message names the field (and index) that is wrong."""


@dataclass(frozen=True)
class Submission:
    """One message of a send request, with defaultValues applied."""

    destination: str
    text: str
    correlation_id: str | None
    extra_info: str


@dataclass(frozen=True)
class BulkRequest:
    """A POST /v1/send-bulk-sms body, checked."""

    messages: tuple[Submission, ...]
    campaign_alias: str | None


@dataclass(frozen=True)
class Message:
    """A message the API accepted, with the fate its destination decides: a sent code, and a delivered code
    unless the sent code is a refusal."""

    id: str
    destination: str
    text: str
    correlation_id: str | None
    extra_info: str
    campaign_id: int | None
    sent_code: int
    delivered_code: int | None


def parse_request(body: bytes, most: int) -> BulkRequest:
    """Read a bulk send body of at most `most` messages; BadRequest says what is wrong."""
    document = read_object(body)
    entries = read_list(document, "messages", most)
    defaults = document.get("defaultValues", {})
    if not isinstance(defaults, dict):
        raise BadRequest("defaultValues: not a JSON object")
    expiries = [name for name in EXPIRY_FIELDS if document.get(name) is not None]
    if len(expiries) > 1:
        raise BadRequest(f"{', '.join(expiries)}: mutually exclusive, use only one")
    return BulkRequest(tuple(_submission(f"messages[{i}]", entry, defaults) for i, entry in enumerate(entries)),
                       read_text(document, "campaignAlias", ""))


def read_object(body: bytes) -> dict[str, Any]:
    """The JSON object a request body holds; BadRequest when it is not one."""
    try:
        document = json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadRequest("the body is not a JSON object")
    return document


def read_list(document: dict[str, Any], key: str, most: int) -> list[Any]:
    """document[key], a non-empty array of at most `most` items; BadRequest otherwise."""
    entries = document.get(key)
    if not isinstance(entries, list) or not entries:
        raise BadRequest(f"{key}: a non-empty array is required")
    if len(entries) > most:
        raise BadRequest(f"{key}: {len(entries)} {key}, at most {most} per request")
    return entries


def read_destination(where: str, entry: object) -> tuple[dict[str, Any], str, str | None]:
    """An item of a send request that names a destination: the item, its destination and its correlationId."""
    if not isinstance(entry, dict):
        raise BadRequest(f"{where}: not a JSON object")
    destination = read_text(entry, "destination", where)
    if not destination:
        raise BadRequest(f"{where}.destination: missing")
    return entry, destination, read_text(entry, "correlationId", where)


def _submission(where: str, entry: object, defaults: dict[str, Any]) -> Submission:
    item, destination, correlation_id = read_destination(where, entry)
    text = read_text(item, "messageText", where) or read_text(defaults, "messageText", "defaultValues")
    if not text:
        raise BadRequest(f"{where}.messageText: missing, and no defaultValues.messageText")
    extra = read_text(item, "extraInfo", where) or read_text(defaults, "extraInfo", "defaultValues") or ""
    return Submission(destination, text, correlation_id, extra)


def read_text(document: dict[str, Any], key: str, where: str, limits: Mapping[str, int] = FIELD_LIMITS) -> str | None:
    """document[key]: None when absent or null; BadRequest when it is not a string or is longer than
    limits[key]. `where` names the document in the message ("" for the body)."""
    value = document.get(key)
    name = f"{where}.{key}" if where else key
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name}: not a string")
    limit = limits.get(key)
    if limit is not None and len(value) > limit:
        raise BadRequest(f"{name}: {len(value)} characters, at most {limit}")
    return value


def fate(destination: str, config: HttpSimulatorConfig) -> tuple[int, int | None]:
    """The sent code and the delivered code (None: no delivery report) of a message to `destination`."""
    for pattern, code in config.refuse.items():
        if fnmatchcase(destination, pattern):
            return code, None
    for pattern, code in config.undeliverable.items():
        if fnmatchcase(destination, pattern):
            return SENT_SUCCESS, code
    return SENT_SUCCESS, DELIVERED_SUCCESS


def callback(m: Message, sent_at: float) -> Event:
    """The sent-status callback posted to the webhook (`sent_at` in epoch seconds). As in the seed, the
    campaignId is text here and a number in delivery reports."""
    return {**_head(m), "sentStatusCode": m.sent_code, "sentStatus": SENT_CODES[m.sent_code],
            "sentAt": millis(sent_at), "sentDate": _iso(sent_at),
            "campaignId": None if m.campaign_id is None else str(m.campaign_id), "extraInfo": m.extra_info}


def status(m: Message, sent_at: float, delivered_at: float | None) -> Event:
    """An item of GET /v1/sms/status/list, which is also the delivery report's webhook body once
    `delivered_at` is given (epoch seconds); before that the delivered fields are null."""
    code = m.delivered_code if delivered_at is not None else None
    return {**_head(m), "sentStatusCode": m.sent_code, "sentStatus": SENT_CODES[m.sent_code],
            "sentStatusAt": millis(sent_at), "sentStatusDate": _iso(sent_at),
            "deliveredStatusCode": code, "deliveredStatus": None if code is None else DELIVERED_CODES[code],
            "deliveredAt": None if delivered_at is None else millis(delivered_at),
            "deliveredDate": None if delivered_at is None else _iso(delivered_at),
            "campaignId": m.campaign_id, "extraInfo": m.extra_info}


def _head(m: Message) -> Event:
    carrier_id, carrier_name = CARRIERS[zlib.crc32(m.destination.encode()) % len(CARRIERS)]
    return {"id": m.id, "correlationId": m.correlation_id, "carrierId": carrier_id, "carrierName": carrier_name,
            "destination": m.destination}


def millis(at: float) -> int:
    """Epoch milliseconds of `at`, in epoch seconds."""
    return int(at * 1000)


def _iso(at: float) -> str:
    """yyyy-MM-dd'T'HH:mm:ss'Z', in UTC."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
