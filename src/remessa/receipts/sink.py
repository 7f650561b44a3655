"""The receipt sink: what every channel hands its provider's receipts and MO messages to.

Receipts from every thread that reads them (each SMPP bind, a webhook handler, a poller) are committed
together (group commit) before each caller returns, so a provider is acknowledged only once its receipt is
stored. An MO message is stored with its sender normalised as intake would; an opt-out reply blocks the
sender in every profile that uses the provider.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from remessa.config import Settings
from remessa.intake.phone import phone_book
from remessa.model import Inbound, Receipt
from remessa.store import Store
from remessa.store.group_commit import GroupCommit

log = logging.getLogger(__name__)

Clock = Callable[[], float]  # UTC epoch seconds


class Sink:
    """Persists receipts (group-committed across callers) and inbound messages for every provider."""

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self._receipts: GroupCommit[Receipt] = GroupCommit(self._store_receipts)

    def provider(self, name: str) -> ProviderSink:
        """The sink a channel of provider `name` is opened with."""
        return ProviderSink(self, name)

    def receipts(self, receipts: Sequence[Receipt]) -> None:
        """Persist receipts with those other threads hand over at the same time; returns once committed."""
        self._receipts(receipts)

    def inbound(self, provider: str, message: Inbound) -> None:
        """Store an MO message; an opt-out blocks the sender in every profile using that provider."""
        profiles = [p for p in self.settings.profiles.values() if p.provider == provider]
        country = profiles[0].country if profiles else "BR"
        number = phone_book(country).normalize(message.source)
        sender = number if isinstance(number, str) else "".join(c for c in message.source if c.isdigit())
        if self.store.record_inbound(message, provider, [p.name for p in profiles], sender, self.clock()):
            log.info("provider %s: an opt-out reply blocked a number in profiles %s",
                     provider, ", ".join(p.name for p in profiles))

    def _store_receipts(self, receipts: list[Receipt]) -> None:
        self.store.record_receipts(receipts, self.clock())


class ProviderSink:
    """The Sink seen from one provider's channel (a channel.base.ReceiptSink)."""

    def __init__(self, sink: Sink, provider: str) -> None:
        self._sink = sink
        self.name = provider

    def receipts(self, receipts: Sequence[Receipt]) -> None:
        self._sink.receipts(receipts)

    def inbound(self, message: Inbound) -> None:
        self._sink.inbound(self.name, message)
