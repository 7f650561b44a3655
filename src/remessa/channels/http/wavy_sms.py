"""The provider's bulk SMS API as a Channel (type ``wavy_sms_http``): ``POST /v1/send-bulk-sms``, at most
`per_request` messages per request, `concurrency` requests at once under a `rate` cap.

Each request's answer gives an id per message, stored with it; a request refused with a client error refuses its
messages with the API's text; one whose answer was lost leaves its messages in doubt; a provider that keeps
failing (or refuses our credentials) fails the whole call, so its batches wait and no row is refused for it.
Receipts come by webhook (the daemon's listener) or, with ``receipts = "poll"``, by polling
``GET /v1/sms/status/list`` here, each status persisted before the next poll (the API returns it only once).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remessa.backoff import Backoff
from remessa.channels.base import ReceiptSink, Report
from remessa.channels.http.callbacks import sms_statuses
from remessa.channels.http.settings import WavySmsHttpSettings
from remessa.channels.http.transport import Lost, Refused, Transport
from remessa.errors import PermanentFailure, TemporaryFailure
from remessa.model import Accepted, InDoubt, Outcome, OutgoingMessage, Receipt, Rejected

log = logging.getLogger(__name__)

SEND = "/v1/send-bulk-sms"
STATUS_LIST = "/v1/sms/status/list"
MAX_TEXT = 1280  # characters the API takes in one messageText (seed 002)
PROVIDER_REFUSALS = frozenset({401, 403, 404, 405, 407, 413})  # the account or the URL, not the messages


def _utc_now() -> datetime:
    return datetime.now(UTC)


class WavySmsHttpChannel:
    """A Channel over the bulk SMS HTTPS API; see WavySmsHttpSettings."""

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

    # --- Channel --------------------------------------------------------------------------------------
    def open(self, sink: ReceiptSink) -> None:
        if self._state != "new":
            raise RuntimeError("an HTTP channel is opened once")
        self._sink = sink
        self._transport = Transport(self.settings.transport(), sleep=self._stop.wait)
        self._pool = ThreadPoolExecutor(self.settings.concurrency, thread_name_prefix="http-send")
        self._state = "open"
        if self.settings.receipts == "poll":
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
        too_long = {m.id for m in chunk if len(m.text) > MAX_TEXT}
        sendable = [m for m in chunk if m.id not in too_long]
        outcomes: dict[int, Outcome] = {
            m.id: Rejected(m.id, f"text of {len(m.text)} characters; the API takes at most {MAX_TEXT}")
            for m in chunk if m.id in too_long}
        if sendable:
            self._pace(len(sendable))
            try:
                answer = self._transport.request("POST", SEND, bulk_body(sendable))
            except Refused as exc:
                if exc.status in PROVIDER_REFUSALS:
                    raise PermanentFailure(f"HTTP provider {self.settings.url} refused us: {exc}") from None
                outcomes |= {m.id: Rejected(m.id, f"refused by the API: {exc}", code=None) for m in sendable}
            except Lost as exc:
                outcomes |= {m.id: InDoubt(m.id, str(exc)) for m in sendable}
            else:
                outcomes |= accepted(sendable, answer)
        ordered = [outcomes[m.id] for m in chunk]
        if report is not None:
            report(ordered)
        return ordered

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
        """Fetch the statuses not fetched yet, persist them, and only then ask again."""
        assert self._transport is not None and self._sink is not None
        backoff = Backoff(self.settings.poll_interval, max(60.0, self.settings.poll_interval), jitter=0.5)
        held: list[Receipt] = []  # fetched, not yet persisted: the API will not return them again
        while not self._stop.is_set():
            try:
                if not held:
                    held = self._statuses(self._transport.request("GET", STATUS_LIST))
                if held:
                    self._sink.receipts(held)
                    held = []
                    continue  # there may be more waiting
                backoff.succeeded()
                pause = self.settings.poll_interval
            except Exception as exc:  # the provider, or our store, is down: both are tried again
                pause = backoff.failed()
                log.warning("HTTP status polling of %s: %s; again in %.0f s", self.settings.url, exc, pause)
            self._stop.wait(pause)
        if held:
            log.warning("HTTP status polling stopped with %d statuses fetched and not stored", len(held))

    def _statuses(self, page: Any) -> list[Receipt]:
        """The statuses of one polled page; one that cannot be read is logged and skipped, not the page."""
        if not isinstance(page, list):
            raise ValueError(f"the status list is not a JSON array: {str(page)[:200]}")
        found: list[Receipt] = []
        for item in page:
            try:
                found += sms_statuses([item])
            except ValueError as exc:
                log.warning("HTTP status polling: a status skipped (%s): %s", exc, str(item)[:300])
        return found


def bulk_body(chunk: Sequence[OutgoingMessage]) -> dict[str, Any]:
    """The JSON of one send-bulk-sms request: a shared text goes once in defaultValues; every message gets
    a correlationId (the row's, else ours) so that a status can be matched even without our id."""
    texts = {m.text for m in chunk}
    shared = next(iter(texts)) if len(texts) == 1 else None
    flash_all = all(m.flash for m in chunk)
    items: list[dict[str, Any]] = []
    for m in chunk:
        item: dict[str, Any] = {"destination": m.destination, "correlationId": correlation_id(m)}
        if shared is None:
            item["messageText"] = m.text
        if m.extra_info:
            item["extraInfo"] = m.extra_info
        if m.flash and not flash_all:
            item["flashSMS"] = True
        items.append(item)
    body: dict[str, Any] = {"messages": items}
    defaults: dict[str, Any] = {}
    if shared is not None:
        defaults["messageText"] = shared
    if flash_all:
        defaults["flashSMS"] = True
    if defaults:
        body["defaultValues"] = defaults
    first = chunk[0]
    if first.campaign_alias:
        body["campaignAlias"] = first.campaign_alias
    if first.subaccount:
        body["subAccount"] = first.subaccount
    return body


def correlation_id(message: OutgoingMessage) -> str:
    return (message.correlation_id or f"remessa-{message.batch_id}-{message.id}")[:64]


def accepted(chunk: Sequence[OutgoingMessage], answer: Any) -> dict[int, Outcome]:
    """Outcomes from a 2xx answer `{"id": batch, "messages": [{"id", "correlationId"}...]}`: each message by
    its correlationId when echoed, else by position. An answer that does not account for a message leaves
    that message in doubt (it may have been taken)."""
    items = answer.get("messages") if isinstance(answer, dict) else None
    items = items if isinstance(items, list) else []
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
