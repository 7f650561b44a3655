"""A provider as the dispatcher sees it: its channel, opened on demand, and the one back-off that spaces
every retry of the whole provider.

A provider that is down when the daemon starts (nothing listening, bind refused, a TLS certificate for
another host) must not stop the daemon: ``send`` opens the channel, and a failure to open is that send's
failure. A channel that failed to open is discarded and a fresh one is tried once the back-off allows; a
send that failed as a whole (temporary or permanent) also pauses the provider by the same back-off, and the
first call that succeeds resets it. Nothing here rejects a message: a provider's failure is not the row's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from remessa.backoff import Backoff
from remessa.channels.base import Channel, ReceiptSink, Report
from remessa.errors import DeliveryError, TemporaryFailure
from remessa.model import Outcome, OutgoingMessage

log = logging.getLogger(__name__)

RETRY_FIRST = 1.0
RETRY_MAX = 60.0


class Provider:
    """One configured provider: a Channel that (re)creates and opens its real channel with `make()`."""

    def __init__(self, name: str, make: Callable[[], Channel], sink: ReceiptSink,
                 backoff: Backoff | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._make = make
        self._sink = sink
        self._clock = clock
        self._channel: Channel | None = None
        self._error: DeliveryError | None = None  # the last whole-provider failure, while backing off
        self._retry_at = 0.0
        self._backoff = backoff or Backoff(RETRY_FIRST, RETRY_MAX)
        self._lock = threading.Lock()
        self._closed = False

    @property
    def channel(self) -> Channel | None:
        """The open channel, if any."""
        return self._channel

    def ready(self) -> bool:
        """Whether a send may be tried now (not inside a back-off pause)."""
        return self._error is None or self._clock() >= self._retry_at

    def open(self) -> None:
        """Try to open now; a failure is logged and kept, and retried by a later send()."""
        try:
            self.connect()
        except DeliveryError:
            pass

    def send(self, messages: Sequence[OutgoingMessage], report: Report | None = None) -> list[Outcome]:
        """Send through the open channel (opening it first), each outcome handed to `report` as it comes;
        a whole-call failure pauses the provider."""
        channel = self.connect()
        try:
            outcomes = channel.send(messages, report)
        except DeliveryError as exc:
            with self._lock:
                pause = self._pause(exc)
            log.error("provider %s: %s; its batches wait, trying again in %.0f s", self.name, exc, pause)
            raise
        with self._lock:
            if self._error is not None:
                log.info("provider %s is sending again", self.name)
            self._error = None
            self._backoff.succeeded()
        return outcomes

    def fault(self, error: BaseException) -> float:
        """Pause after an unexpected error (a bug, not the provider's answer); returns the pause in seconds."""
        with self._lock:
            return self._pause(TemporaryFailure(f"unexpected error: {error!r}"))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            channel, self._channel = self._channel, None
        if channel is not None:
            channel.close()

    def _pause(self, error: DeliveryError) -> float:
        pause = self._backoff.failed()
        self._error, self._retry_at = error, self._clock() + pause
        return pause

    def connect(self) -> Channel:
        """The open channel, opened now if need be; raises the DeliveryError that keeps it closed (the
        dispatcher calls this before it claims rows, so rows never leave the queue for a provider that is
        down)."""
        with self._lock:
            if self._closed:
                raise TemporaryFailure(f"provider {self.name}: closed")
            if self._channel is not None:
                return self._channel
            if self._error is not None and self._clock() < self._retry_at:
                raise type(self._error)(str(self._error))  # as it was: next attempt at _retry_at
            channel = self._make()
            try:
                channel.open(self._sink)
            except DeliveryError as exc:
                channel.close()
                pause = self._pause(exc)
                log.error("provider %s cannot be used: %s; its batches wait, trying again in %.0f s",
                          self.name, exc, pause)
                raise
            if self._error is not None:
                log.info("provider %s is open again", self.name)
            self._channel, self._error = channel, None
            self._backoff.succeeded()
            return channel
