"""The Channel protocol every delivery channel implements, the records it exchanges, and the registry.

A channel is opened once with a receipt callback, receives messages in chunks through ``send`` and returns
one Outcome per message; a per-message refusal is a returned ``Rejected``, a message whose fate is unknown
(connection lost mid-flight) an ``InDoubt``; a failure of the whole call
raises ``TemporaryFailure`` or ``PermanentFailure`` (see remessa.errors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol


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


@dataclass(frozen=True)
class Inbound:
    """A message a mobile user sent us (MO)."""

    source: str  # the user's number
    destination: str  # our short code or sender id
    text: str
    at: datetime
    message_id: str = ""  # a provider id it answers, when the provider says so
    raw: dict[str, Any] = field(default_factory=dict)


#: takes the receipts a channel read together and returns once all are persisted (raises: none is).
ReceiptHandler = Callable[[Sequence[Receipt]], None]
InboundHandler = Callable[[Inbound], None]


class Channel(Protocol):
    """What the dispatcher needs from a delivery channel."""

    def open(self, on_receipt: ReceiptHandler, on_inbound: InboundHandler | None = None) -> None:
        """Connect; from now on receipts go to `on_receipt` (in lists of those read together) and inbound
        messages to `on_inbound`; each persists before returning, so the provider is acknowledged only after."""

    def send(self, messages: Sequence[OutgoingMessage]) -> list[Outcome]:
        """Submit messages; one Outcome per message, in order."""

    def close(self) -> None:
        """Stop taking work, finish what is in flight (bounded), disconnect."""


@dataclass(frozen=True)
class ChannelType:
    """A registry entry: the typed settings of a provider type and the factory of its channel."""

    settings: type[Any]
    factory: Callable[..., Channel]  # factory(settings, *, spool: Path, clock) -> Channel


DEFAULT_RATE = 100.0  # messages per second assumed for a provider that declares nothing


def capacity(settings: Any) -> float:
    """Messages per second a provider can take: binds × rate per bind, or its declared rate."""
    rate = float(getattr(settings, "rate", DEFAULT_RATE) or DEFAULT_RATE)
    return rate * int(getattr(settings, "binds", 1) or 1)


def _registry() -> dict[str, ChannelType]:
    from remessa.channels import sandbox, smpp

    return {
        "sandbox": ChannelType(sandbox.SandboxSettings, sandbox.SandboxChannel),
        "smpp": ChannelType(smpp.SmppSettings, smpp.SmppChannel),
    }


CHANNEL_TYPES: dict[str, ChannelType] = _registry()
