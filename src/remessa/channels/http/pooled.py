"""What the provider's HTTP channels share: opening a pooled transport, cutting a chunk into requests sent
`concurrency` at once under a `rate` cap, what each kind of answer does to the messages, and status polling.

Each request's answer gives an id per message, stored with it; a request refused with a client error refuses its
messages with the API's text; one whose answer was lost leaves its messages in doubt; a provider that keeps
failing (or refuses our credentials) fails the whole call, so its batches wait and no row is refused for it.
With ``receipts = "poll"`` (where the API has a status list) each polled status is persisted before the next
poll: the API returns it only once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from remessa.backoff import Backoff
from remessa.channels.base import ReceiptSink, Report
from remessa.channels.http.settings import WavySmsHttpSettings
from remessa.channels.http.transport import Lost, Refused, Transport
from remessa.errors import PermanentFailure, TemporaryFailure
from remessa.model import Accepted, Inbound, InDoubt, Outcome, OutgoingMessage, Receipt, Rejected

log = logging.getLogger(__name__)

REPLIES_REMEMBERED = 100_000  # polled reply ids kept in memory (the list repeats the last five days)
PROVIDER_REFUSALS = frozenset({401, 403, 404, 405, 407, 413})  # the account or the URL, not the messages


def _utc_now() -> datetime:
    return datetime.now(UTC)


class HttpChannel:
    """A Channel over one of the provider's JSON send APIs; a subclass says where it posts (SEND), what it
    posts for a chunk (`requests`), what the answer means (`answered`) and where statuses are polled
    (STATUS_LIST, None: webhooks only)."""

    SEND: ClassVar[str]
    STATUS_LIST: ClassVar[str | None] = None
    RECEIVE_LIST: ClassVar[str | None] = None  # replies (MO), polled with the statuses

    def __init__(self, settings: WavySmsHttpSettings, *, spool: Path | None = None,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self.settings = settings
        self._clock = clock
        self._transport: Transport | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._sink: ReceiptSink | None = None
        self._state = "new"  # new | open | closed
        self._pace_lock = threading.Lock()
        self._next_slot = 0.0
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        self._replied: dict[str, None] = {}  # ids of the polled replies handed over, oldest first

    # --- Channel --------------------------------------------------------------------------------------
    def open(self, sink: ReceiptSink) -> None:
        if self._state != "new":
            raise RuntimeError("an HTTP channel is opened once")
        self._sink = sink
        self._transport = Transport(self.settings.transport(), sleep=self._stop.wait)
        self._pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="http-send")
        self._state = "open"
        if self.settings.receipts == "poll" and self.STATUS_LIST is not None:
            self._poller = threading.Thread(target=self._poll, name="http-poll", daemon=True)
            self._poller.start()
        log.info("HTTP channel to %s: %d requests at once, %s per request, receipts by %s", self.settings.url,
                 self.settings.concurrency, self.settings.per_request, self.settings.receipts)

    def send(self, messages: Sequence[OutgoingMessage], report: Report | None = None) -> list[Outcome]:
        if self._state != "open" or self._pool is None:
            raise TemporaryFailure(f"HTTP provider {self.settings.url}: closed")
        size = self.settings.per_request
        try:
            futures: list[Future[list[Outcome]]] = [
                self._pool.submit(self._request, messages[start:start + size], report)
                for start in range(0, len(messages), size)
            ]
        except RuntimeError:  # closed meanwhile: nothing more is submitted
            raise TemporaryFailure(f"HTTP provider {self.settings.url}: closed") from None
        outcomes: list[Outcome] = []
        failure: BaseException | None = None
        for future in futures:  # all of them, failed or not: none may still be sending when this returns
            try:
                outcomes += future.result()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:  # what was answered is stored; the rest waits (a provider failure) or is judged
            raise failure        # by the dispatcher (anything else)
        return outcomes

    def close(self) -> None:
        if self._state == "closed":
            return
        self._state = "closed"
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._poller is not None:
            self._poller.join(timeout=self.settings.read_timeout + 5)
        if self._transport is not None:
            self._transport.close()

    # --- sending --------------------------------------------------------------------------------------
    def _request(self, chunk: Sequence[OutgoingMessage], report: Report | None) -> list[Outcome]:
        assert self._transport is not None
        outcomes: dict[int, Outcome] = dict(self.refused(chunk))
        for group, body in self.requests([m for m in chunk if m.id not in outcomes]):
            self._pace(len(group))
            try:
                answer = self._transport.request("POST", self.SEND, body)
            except Refused as exc:
                if exc.status in PROVIDER_REFUSALS:
                    raise PermanentFailure(f"HTTP provider {self.settings.url} refused us: {exc}") from None
                outcomes |= {m.id: Rejected(m.id, f"refused by the API: {exc}") for m in group}
            except Lost as exc:
                outcomes |= {m.id: InDoubt(m.id, str(exc)) for m in group}
            else:
                outcomes |= self.answered(group, answer)
        ordered = [outcomes[m.id] for m in chunk]
        if report is not None:
            report(ordered)
        return ordered

    # --- what a subclass says -------------------------------------------------------------------------
    def refused(self, chunk: Sequence[OutgoingMessage]) -> dict[int, Outcome]:
        """Messages refused without asking the provider (the API could not take them)."""
        return {}

    def requests(self, chunk: Sequence[OutgoingMessage]) -> list[tuple[list[OutgoingMessage], Any]]:
        """The requests that send `chunk`: (their messages, the JSON body)."""
        raise NotImplementedError

    def answered(self, group: Sequence[OutgoingMessage], answer: Any) -> dict[int, Outcome]:
        """Outcomes from a 2xx answer to the request of `group`."""
        raise NotImplementedError

    def _pace(self, count: int) -> None:
        """Wait for the rate cap's room for `count` messages (shared by the concurrent requests)."""
        rate = self.settings.rate
        if rate <= 0:
            return
        with self._pace_lock:
            now = time.monotonic()
            start = max(self._next_slot, now)
            self._next_slot = start + count / rate
        if start > now:
            time.sleep(start - now)

    # --- polling --------------------------------------------------------------------------------------
    def _poll(self) -> None:
        """Fetch the statuses not fetched yet, persist them, and only then ask again; then the replies."""
        assert self._transport is not None and self._sink is not None
        backoff = Backoff(self.settings.poll_interval, max(60.0, self.settings.poll_interval), jitter=0.5)
        held: list[Receipt] = []  # fetched, not yet persisted: the API will not return them again
        while not self._stop.is_set():
            try:
                if not held:
                    held = self.statuses(self._transport.request("GET", self.STATUS_LIST or ""))
                if held:
                    self._sink.receipts(held)
                    held = []
                    continue  # there may be more waiting
                if self.RECEIVE_LIST is not None:
                    self._replies(self._transport.request("GET", self.RECEIVE_LIST))
                backoff.succeeded()
                pause = self.settings.poll_interval
            except Exception as exc:  # the provider, or our store, is down: both are tried again
                pause = backoff.failed()
                log.warning("HTTP polling of %s: %s; again in %.0f s", self.settings.url, exc, pause)
            self._stop.wait(pause)
        if held:
            log.warning("HTTP status polling stopped with %d statuses fetched and not stored", len(held))

    def _replies(self, page: Any) -> None:
        """Hand over the replies of a polled list not handed over yet (the list repeats them for days; the
        store also knows each by its id, across restarts)."""
        assert self._sink is not None
        for message in self.replies(page):
            if message.mo_id in self._replied:
                continue
            self._sink.inbound(message)
            self._replied[message.mo_id] = None
            if len(self._replied) > REPLIES_REMEMBERED:
                del self._replied[next(iter(self._replied))]

    def statuses(self, page: Any) -> list[Receipt]:
        """The statuses of one polled page (a subclass with a STATUS_LIST reads it)."""
        raise NotImplementedError

    def replies(self, page: Any) -> list[Inbound]:
        """The replies of one polled page (a subclass with a RECEIVE_LIST reads it)."""
        raise NotImplementedError


def correlation_id(message: OutgoingMessage) -> str:
    return (message.correlation_id or f"remessa-{message.batch_id}-{message.id}")[:64]


def accepted(chunk: Sequence[OutgoingMessage], items: list[Any], answer: Any) -> dict[int, Outcome]:
    """Outcomes from the per-message `items` (`[{"id", "correlationId"}...]`) of a 2xx `answer`: each message
    by its correlationId when echoed (and unique), else by position."""
    ours = [correlation_id(m) for m in chunk]
    by_correlation: dict[str, Any] = {}
    if len(set(ours)) == len(ours):  # echoed correlationIds name their message only when they are unique
        by_correlation = {str(i["correlationId"]): i for i in items if isinstance(i, dict) and i.get("correlationId")}
    outcomes: dict[int, Outcome] = {}
    missing = 0
    for position, message in enumerate(chunk):
        item = by_correlation.get(ours[position])
        if item is None and position < len(items) and isinstance(items[position], dict):
            item = items[position]
        pid = str(item.get("id") or "").strip() if item is not None else ""
        missing += not pid
        # a 2xx says the provider took the request: without an id the message is accepted all the same (never
        # sent again); its statuses then cannot be matched, and the report says no_receipt in the end
        outcomes[message.id] = Accepted(message.id, pid.lower())
    if missing:
        log.error("the API took %d messages without giving their ids (answer: %s)", missing, str(answer)[:300])
    return outcomes
