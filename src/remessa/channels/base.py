"""The Channel protocol every delivery channel implements, the sink it hands receipts to, and the registry.

A channel is opened once with a ReceiptSink, receives messages in chunks through ``send`` and returns one
Outcome per message (remessa.model); a per-message refusal is a returned ``Rejected``, a message whose fate
is unknown (connection lost mid-flight) an ``InDoubt``; a failure of the whole call raises
``TemporaryFailure`` or ``PermanentFailure`` (remessa.errors). The registry maps a provider ``type`` to its
settings class and channel class by dotted name, imported only when that type is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from remessa.model import Inbound, Outcome, OutgoingMessage, Receipt

#: Persists outcomes of one send() call; returns once committed, raises if nothing was.
Report = Callable[[Sequence[Outcome]], None]


class ReceiptSink(Protocol):
    """Where every receipt and inbound message goes, whichever transport brought it (SMPP deliver_sm,
    webhooks, status polling): each call returns once what it was given is persisted, so the provider is
    acknowledged only after; it raises if nothing was persisted."""

    def receipts(self, receipts: Sequence[Receipt]) -> None:
        """Persist receipts read together (one transaction)."""

    def inbound(self, message: Inbound) -> None:
        """Persist a message a mobile user sent (MO), applying an opt-out."""


@dataclass(frozen=True)
class Callbacks:
    """A ReceiptSink made of two functions (tools and tests that only collect what arrives)."""

    on_receipts: Callable[[Sequence[Receipt]], Any]
    on_inbound: Callable[[Inbound], Any] | None = None

    def receipts(self, receipts: Sequence[Receipt]) -> None:
        self.on_receipts(receipts)

    def inbound(self, message: Inbound) -> None:
        if self.on_inbound is not None:
            self.on_inbound(message)


class Channel(Protocol):
    """What the dispatcher needs from a delivery channel."""

    def open(self, sink: ReceiptSink) -> None:
        """Connect; from now on receipts (in lists of those read together) and inbound messages go to
        `sink`, which persists them before returning, so the provider is acknowledged only after."""

    def send(self, messages: Sequence[OutgoingMessage], report: Report | None = None) -> list[Outcome]:
        """Submit messages; one Outcome per message, in order. Each outcome is handed to `report` (in
        groups, as they come) before send returns; a channel that holds submissions in a window frees a
        slot only once `report` has stored its answer."""

    def close(self) -> None:
        """Stop taking work, finish what is in flight (bounded), disconnect."""


@dataclass(frozen=True)
class ChannelType:
    """A registry entry: where the typed settings of a provider type and its channel class live."""

    settings: str  # "module:Class"
    channel: str  # "module:Class"; Class(settings, *, spool: Path, clock) -> Channel

    def settings_class(self) -> type[Any]:
        cls: type[Any] = _load(self.settings)
        return cls

    def channel_class(self) -> Callable[..., Channel]:
        factory: Callable[..., Channel] = _load(self.channel)
        return factory


#: provider ``type`` → where its settings and channel are (imported on first use).
CHANNEL_TYPES: Mapping[str, ChannelType] = {
    "sandbox": ChannelType("remessa.channels.embedded:SandboxSettings", "remessa.channels.embedded:SandboxChannel"),
    "smpp": ChannelType("remessa.channels.smpp.settings:SmppSettings", "remessa.channels.smpp.channel:SmppChannel"),
    "wavy_sms_http": ChannelType("remessa.channels.http.settings:WavySmsHttpSettings",
                                 "remessa.channels.http.wavy_sms:WavySmsHttpChannel"),
    "wavy_whatsapp_http": ChannelType("remessa.channels.http.wavy_whatsapp:WavyWhatsAppHttpSettings",
                                      "remessa.channels.http.wavy_whatsapp:WavyWhatsAppHttpChannel"),
    "devino_whatsapp_http": ChannelType("remessa.channels.http.devino_whatsapp:DevinoWhatsAppHttpSettings",
                                        "remessa.channels.http.devino_whatsapp:DevinoWhatsAppHttpChannel"),
}

DEFAULT_RATE = 100.0  # messages per second assumed for a provider that declares nothing


def capacity(settings: Any) -> float:
    """Messages per second a provider can take: binds × rate per bind, or its declared rate."""
    rate = float(getattr(settings, "rate", DEFAULT_RATE) or DEFAULT_RATE)
    return rate * int(getattr(settings, "binds", 1) or 1)


def _load(dotted: str) -> Any:
    module, _, name = dotted.partition(":")
    return getattr(importlib.import_module(module), name)
