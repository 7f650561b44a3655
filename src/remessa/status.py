"""Message and batch states, and the provider's status codes (seed 002) mapped onto them."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """The status of one input row, as shown in the report."""

    INVALID = "INVALID"
    QUEUED = "QUEUED"
    SUBMITTING = "SUBMITTING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    SENT = "SENT"
    DELIVERED = "DELIVERED"
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
    Status.UNDELIVERED: 5, Status.EXPIRED: 5, Status.BLOCKED: 5,
}


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
