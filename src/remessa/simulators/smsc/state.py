"""The SMSC simulator's settings, fault switches and counters, and the records it keeps per message and
per connection (remessa.sandbox.smsc is the server that uses them)."""

from __future__ import annotations

import itertools
import logging
import queue
import socket
import ssl
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from remessa.simulators.smsc import pdu


@dataclass(frozen=True)
class SmscConfig:
    """What the simulated SMSC accepts and how it answers. Delays are in seconds."""

    system_id: str = "remessa"
    password: str = "secret"  # smpplib silently truncates passwords to 8 characters
    system_type: str | None = None  # e.g. "MovileSMSC"; None accepts any
    host: str = "127.0.0.1"
    port: int = 0
    smsc_id: str = "sandbox"
    max_submits_per_second: float | None = 80.0  # per bind; above it submit_sm gets ESME_RTHROTTLED
    #: seconds of timing error forgiven when counting a second's submits. Arrivals are timed by the kernel
    #: (Smsc._receive), but segments that queue up while a busy interpreter is not reading are merged and
    #: take the newest one's time, so a submit can look up to ~20 ms younger than it is.
    rate_tolerance: float = 0.02
    sent_receipt_delay: float = 0.05
    delivery_receipt_delay: float = 0.1
    redeliver_after: float = 1.0  # a deliver_sm not acknowledged with ESME_ROK by then is sent again
    reject_destinations: Mapping[str, int] = field(default_factory=dict)  # fnmatch pattern -> command_status
    undeliverable_destinations: tuple[str, ...] = ()  # accepted, then receipted UNDELIV err 104
    vendor_tlv_nul: bool = False  # terminate the 0x1403-0x1406 values with a NUL
    ssl_context: ssl.SSLContext | None = None  # a server-side context to speak SMPP over TLS
    submit_log_level: int = logging.DEBUG  # `remessa sandbox` logs every submit_sm at INFO
    ids: str = "uuid"  # the message_id form: "uuid", "decimal" (1, 2, 3...) or "hex" (eight digits)
    receipts_first: bool = False  # a receipt is sent before its submit_sm_resp (some SMSCs race like this)
    vendor_tlv_value: str | None = None  # 0x1403 carries this instead of a sent code (e.g. "4412345678")
    #: a per-account quota enforced by spacing: a submit_sm less than 1/account_rate s after the last one
    #: accepted on any bind of the same system_id is ESME_RTHROTTLED
    account_rate: float | None = None
    silent_after: int | None = None  # once this many submits are accepted, answer nothing more (queue full)


@dataclass
class Faults:
    """Misbehaviour a test can switch on and off while the server runs."""

    refuse_binds: bool = False
    drop_after_pdus: int | None = None  # close a connection once it has received this many PDUs
    black_hole: bool = False  # read everything, answer and send nothing
    response_delay: float = 0.0
    nack_submits: int | None = None  # answer submit_sm with generic_nack carrying this command_status
    unanswered_binds: int = 0  # the next this many bind requests get no answer at all


@dataclass
class Stats:
    """Counters for assertions; `Smsc.stats()` hands out copies."""

    submits: int = 0
    accepted: int = 0
    throttled: int = 0
    binds_accepted: int = 0
    binds_refused: int = 0
    enquire_links: int = 0
    deliver_sm_sent: int = 0
    deliver_sm_acked: int = 0
    submits_by_content: Counter[tuple[str, bytes]] = field(default_factory=Counter)  # (destination, text)
    deliveries_by_message_id: Counter[str] = field(default_factory=Counter)  # receipts sent, redeliveries too
    max_outstanding: dict[int, int] = field(default_factory=dict)  # connection number -> max window seen

    @property
    def max_window(self) -> int:
        return max(self.max_outstanding.values(), default=0)


@dataclass(frozen=True)
class Submitted:
    """A message the SMSC accepted."""

    message_id: str
    source: str
    destination: str
    short_message: bytes
    data_coding: int
    submitted_at: datetime


@dataclass
class Delivery:
    """A deliver_sm (receipt or MO) owed to the client until it is acknowledged with ESME_ROK."""

    fields: dict[str, pdu.Value]
    tlvs: dict[int, bytes]
    message_id: str | None = None
    acked: bool = False


CLOSE = object()  # put in a Session's outbox: its I/O thread hangs up


class Session:
    """One client connection; only its own I/O thread touches the socket."""

    def __init__(self, number: int, sock: socket.socket) -> None:
        self.number = number
        self.sock = sock
        self.outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.wake_r, self.wake_w = socket.socketpair()  # post() wakes the I/O thread at once
        self.wake_w.setblocking(False)
        self.mode: int | None = None
        self.unbinding = False
        self.received = 0
        self.outstanding = 0
        self.recent: deque[float] = deque()
        self.awaiting: dict[int, Delivery] = {}
        self.sequence = itertools.count(1)

    def post(self, item: object) -> None:
        """Queue a Pdu (or CLOSE) for the I/O thread to write, and wake it."""
        self.outbox.put(item)
        try:
            self.wake_w.send(b"\0")
        except OSError:  # already woken (buffer full) or closed
            pass
