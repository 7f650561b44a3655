"""A provider's channel, opened on demand and opened again after it failed to open.

A provider that is down when the daemon starts (nothing listening, bind refused, a TLS certificate for
another host) must not stop the daemon: the dispatcher's send() opens the channel, and a failure to open is
that send's failure (TemporaryFailure: the dispatcher backs off; PermanentFailure: the chunk is refused with
the reason). A channel that failed to open is discarded and a fresh one is tried after a growing pause.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from remessa.channels import Channel, InboundHandler, OutgoingMessage, Outcome, ReceiptHandler
from remessa.errors import DeliveryError, TemporaryFailure

log = logging.getLogger(__name__)

RETRY_FIRST = 1.0
RETRY_MAX = 60.0


class Link:
    """A Channel that (re)creates and opens its real channel with `make()` when first needed."""

    def __init__(self, name: str, make: Callable[[], Channel], on_receipt: ReceiptHandler,
                 on_inbound: InboundHandler | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._make = make
        self._on_receipt = on_receipt
        self._on_inbound = on_inbound
        self._clock = clock
        self._channel: Channel | None = None
        self._error: DeliveryError | None = None
        self._retry_at = 0.0
        self._pause = RETRY_FIRST
        self._lock = threading.Lock()
        self._closed = False

    @property
    def channel(self) -> Channel | None:
        """The open channel, if any."""
        return self._channel

    def open(self, on_receipt: ReceiptHandler | None = None, on_inbound: InboundHandler | None = None) -> None:
        """Try to open now; a failure is logged and kept, and retried by the next send(). The handlers are
        the ones given at construction (the arguments exist so that a Link is a Channel)."""
        try:
            self._connect()
        except DeliveryError:
            pass

    def send(self, messages: Sequence[OutgoingMessage]) -> list[Outcome]:
        return self._connect().send(messages)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def _connect(self) -> Channel:
        with self._lock:
            if self._closed:
                raise TemporaryFailure(f"provider {self.name}: closed")
            if self._channel is not None:
                return self._channel
            now = self._clock()
            if self._error is not None and now < self._retry_at:
                raise type(self._error)(str(self._error))  # as it was: next attempt at _retry_at
            channel = self._make()
            try:
                channel.open(self._on_receipt, on_inbound=self._on_inbound)
            except DeliveryError as exc:
                channel.close()
                self._error, self._retry_at = exc, now + self._pause
                log.error("provider %s cannot be used: %s; trying again in %.0f s", self.name, exc, self._pause)
                self._pause = min(RETRY_MAX, self._pause * 2)
                raise
            if self._error is not None:
                log.info("provider %s is open again", self.name)
            self._channel, self._error, self._pause = channel, None, RETRY_FIRST
            return channel


__all__ = ["Link"]
