"""The shared model: message and batch states, the provider's status codes, and the records that cross
boundaries (a message handed to a channel, its outcome, a receipt, an inbound message, a stored batch and
message, a batch's timing). It imports nothing of remessa: every layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """The status of one input row, as shown in the report."""

    INVALID = "INVALID"
    QUEUED = "QUEUED"
    SUBMITTING = "SUBMITTING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
    READ = "READ"  # WhatsApp: delivered, then read by its recipient
    UNDELIVERED = "UNDELIVERED"
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"
    BLOCKED = "BLOCKED"


#: Not yet handed to the provider.
PENDING = frozenset({Status.QUEUED, Status.SUBMITTING})
#: Accepted by the provider, waiting for receipts.
AWAITING_RECEIPT = frozenset({Status.ACCEPTED, Status.SENT})
#: Nothing more will happen to these.
FINAL = frozenset(set(Status) - PENDING - AWAITING_RECEIPT)
#: Rows written to NAME.retry.txt: they did not go out or failed.
RETRYABLE = frozenset(
    {Status.INVALID, Status.REJECTED, Status.UNDELIVERED, Status.EXPIRED, Status.BLOCKED}
)
#: Rank used so that a late receipt never moves a message backwards (SENT after DELIVERED).
RANK = {
    Status.INVALID: 0, Status.QUEUED: 1, Status.SUBMITTING: 2, Status.ACCEPTED: 3,
    Status.SENT: 4, Status.UNKNOWN: 4, Status.REJECTED: 5, Status.DELIVERED: 5,
    Status.UNDELIVERED: 5, Status.EXPIRED: 5, Status.BLOCKED: 5, Status.READ: 6,
}
#: Final, yet a later receipt may still move it on (a WhatsApp message delivered, then read).
MAY_BE_READ = frozenset({Status.DELIVERED})


class BatchState(StrEnum):
    """Where a batch is in its journey."""

    RECEIVING = "RECEIVING"  # claimed, rows being stored
    QUEUED = "QUEUED"  # rows stored, messages waiting to go out
    FINISHED = "FINISHED"  # every row has a submission outcome; file in success/ or error/
    SETTLED = "SETTLED"  # receipts complete or receipt window closed; final report written
    FAILED = "FAILED"  # file-level error; file in error/


#: Sent status codes (first level, "Status de envio") → name, from seed 002.
SENT_CODES = {
    2: "SENT_SUCCESS", 101: "EXPIRED", 102: "CARRIER_COMMUNICATION_ERROR",
    103: "REJECTED_BY_CARRIER", 201: "NO_CREDIT", 202: "INVALID_DESTINATION_NUMBER",
    203: "BLACKLISTED", 204: "DESTINATION_BLOCKED_BY_OPTOUT",
    205: "DESTINATION_MESSAGE_LIMIT_REACHED", 207: "INVALID_MESSAGE_TEXT",
    213: "COUNTRY_NOT_ALLOWED_FOR_CUSTOMER", 214: "INVALID_CUSTOMER_CONFIGURATION",
    215: "CUSTOMER_QUOTA_BLOCKED", 301: "INTERNAL_ERROR",
}
#: Delivered status codes (second level, "Delivery Report") → name, from seed 002.
DELIVERED_CODES = {4: "DELIVERED_SUCCESS", 104: "NOT_DELIVERED", 101: "EXPIRED", 401: "MESSAGE_SPLIT"}


def status_for_sent_code(code: int) -> Status:
    """Status of a message whose first-level (sent) status code is `code`."""
    if code == 2:
        return Status.SENT
    if code == 101:
        return Status.EXPIRED
    return Status.REJECTED


def status_for_delivered_code(code: int) -> Status:
    """Status of a message whose second-level (delivered) status code is `code`."""
    if code in (4, 401):
        return Status.DELIVERED
    if code == 101:
        return Status.EXPIRED
    return Status.UNDELIVERED


# --- records handed to and returned by channels ----------------------------------------------------


@dataclass(frozen=True)
class OutgoingMessage:
    """One message handed to a channel."""

    id: int  # our message id (store primary key)
    batch_id: int
    destination: str  # country code + digits
    text: str
    correlation_id: str = ""
    extra_info: str = ""
    subaccount: str = ""
    kind: str = "sms"  # sms | whatsapp
    template: dict[str, Any] | None = None  # WhatsApp: name, namespace, language, policy, params, media
    flash: bool = False
    campaign_alias: str = ""  # the sidecar's campaignAlias, for providers that group reports by campaign
    encoding: str = ""  # the profile's SMS coding (auto | gsm7 | latin1 | ucs2); empty: the channel's own
    transliterate: bool | None = None  # the profile's choice; None: the channel's own


@dataclass(frozen=True)
class Accepted:
    """The provider took the message and gave it an id."""

    message_id: int
    provider_id: str  # the first part's id, when the provider gives each part its own
    parts: int = 1
    part_ids: tuple[str, ...] = ()  # every part's id, first included, when they differ from provider_id


@dataclass(frozen=True)
class Rejected:
    """The provider refused the message; `permanent` False means it may be retried later."""

    message_id: int
    reason: str  # e.g. "202 INVALID_DESTINATION_NUMBER"
    permanent: bool = True
    code: int | None = None


@dataclass(frozen=True)
class InDoubt:
    """The message may or may not have reached the provider (connection lost or no answer in time);
    the batch's in_flight policy decides: submit it again, or report it UNKNOWN."""

    message_id: int
    reason: str  # e.g. "connection to smpp-messaging.wavy.global lost before submit_sm_resp"


Outcome = Accepted | Rejected | InDoubt


@dataclass(frozen=True)
class Receipt:
    """A status report from the provider about one message (sent level, delivered level, or both)."""

    provider_id: str
    at: datetime
    sent_code: int | None = None
    sent_status: str = ""
    delivered_code: int | None = None
    delivered_status: str = ""
    correlation_id: str = ""
    raw: dict[str, Any] = field(default_factory=dict)
    read_at: datetime | None = None  # WhatsApp: when the recipient read it (the message is then READ)
    #: the provider's own form of `provider_id` when the receipt wrote it in another (the channel knows
    #: the form from its submission answers); matched only where `provider_id` itself matches nothing
    alias: str = ""


@dataclass(frozen=True)
class Inbound:
    """A message a mobile user sent us (MO)."""

    source: str  # the user's number
    destination: str  # our short code or sender id
    text: str
    at: datetime
    message_id: str = ""  # a provider id it answers, when the provider says so
    raw: dict[str, Any] = field(default_factory=dict)
    mo_id: str = ""  # the provider's own id of this MO, when it gives one: a second copy is not stored again


# --- records the store hands out ----------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    """When a batch may send, as decided once at intake: its IANA zone, its window (``{"hours": [...]}`` or
    the WhatsApp ``{"date", "start", "end"}`` form, ``{}`` for none), start and expiry (epoch seconds)."""

    zone: str = "UTC"
    window: dict[str, Any] = field(default_factory=dict)
    not_before: float | None = None
    expires_at: float | None = None


@dataclass(frozen=True)
class Batch:
    """One batch file and where it is in its journey."""

    id: int
    profile: str
    name: str
    provider: str
    subaccount: str
    state: str
    priority: int
    in_flight: str
    format: str
    encoding: str
    kind: str
    info: dict[str, Any]
    options: dict[str, Any]
    error_code: str
    error: str
    rows: int
    last_line: int
    final_name: str
    outcome: str
    zone: str
    window: dict[str, Any]
    not_before: float | None
    expires_at: float | None
    paused: int
    eta: float | None
    expected_expired: int
    received_at: float
    first_submit_at: float | None
    last_submit_at: float | None
    finished_at: float | None
    settled_at: float | None
    changed_at: float | None
    pruned_at: float | None = None  # messages and receipts deleted by retention; its reports stay

    @property
    def timing(self) -> Timing:
        """The batch's stored zone, window, start and expiry."""
        return Timing(self.zone or "UTC", self.window, self.not_before, self.expires_at)


@dataclass(frozen=True)
class Message:
    """One input row and everything known about its delivery."""

    id: int
    batch_id: int
    line: int
    status: str
    destination: str
    text: str
    correlation_id: str
    extra_info: str
    params: str
    raw: str
    reason: str
    provider_id: str | None
    parts: int | None
    attempts: int
    sent_code: int | None
    sent_status: str | None
    delivered_code: int | None
    delivered_status: str | None
    submitted_at: float | None
    sent_at: float | None
    delivered_at: float | None
