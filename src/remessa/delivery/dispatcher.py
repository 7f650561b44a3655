"""The dispatcher: hands due messages to their provider's channel in chunks.

Each chunk is committed SUBMITTING before it goes out, and each of the provider's answers is committed as it
arrives (the channel reports them in groups), so that after a crash nothing acknowledged is sent twice and
nothing in flight is forgotten (see Store.recover_in_flight). Higher-priority batches go first; equal
priorities take turns. A provider that fails as a whole (unreachable, bind, credentials or TLS refused) is
paused by its back-off and its error recorded for `remessa status`; its messages go back to the queue, never
REJECTED for it (their expiry still applies). An unexpected error (a bug) is logged with its traceback and
pauses that provider the same way; its messages without an answer follow the batch's in_flight policy.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from remessa.config import ProfileSettings, Settings, TextCoding
from remessa.delivery.provider import Provider
from remessa.errors import DeliveryError
from remessa.model import Batch, InDoubt, Message, Outcome, OutgoingMessage
from remessa.schedule.planner import Planner
from remessa.store import Store

log = logging.getLogger(__name__)


class Dispatcher:
    """Moves queued messages to channels; one call of `step` sends at most one chunk per provider."""

    def __init__(
        self, settings: Settings, store: Store, providers: Mapping[str, Provider], planner: Planner,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.clock = clock  # UTC epoch seconds: when each acknowledgement is committed
        self.store = store
        self.providers = providers
        self.planner = planner
        self._recorded: dict[str, str] = {}  # provider → the error written to the store for `remessa status`
        self._last_served: dict[str, int] = {}  # provider → batch id served last (for turn-taking)

    def step(self, now: float) -> int:
        """Send one chunk per provider that has work; returns how many messages were handed over."""
        if not self.planner.due(now):
            return 0
        by_provider: dict[str, list[Batch]] = {}
        live = self.planner.expire_overdue(self.store.dispatchable(), now)
        for batch in self.planner.ready(live, now):
            by_provider.setdefault(batch.provider, []).append(batch)
        handed = 0
        for provider, batches in by_provider.items():
            if provider not in self.providers or not self.providers[provider].ready():
                continue
            batch = self._choose(provider, batches)
            try:
                handed += self._send_chunk(provider, batch, now)
            except Exception as exc:  # loop boundary: a bug pauses this provider, the daemon goes on
                pause = self.providers[provider].fault(exc)
                log.exception("provider %s: unexpected error while sending batch %d; paused %.0f s",
                              provider, batch.id, pause)
        if handed:
            self.planner.touch()
        return handed

    def _choose(self, provider: str, batches: list[Batch]) -> Batch:
        """The highest priority wins; among equals, the batch after the one served last."""
        top = [b for b in batches if b.priority == batches[0].priority]
        last = self._last_served.get(provider)
        later = [b for b in top if last is not None and b.id > last]
        chosen = later[0] if later else top[0]
        self._last_served[provider] = chosen.id
        return chosen

    def _send_chunk(self, provider: str, batch: Batch, now: float) -> int:
        profile = self.settings.profiles.get(batch.profile)
        size = profile.chunk_size if profile else 500
        try:
            self.providers[provider].connect()
        except DeliveryError as exc:  # down: its rows stay QUEUED (never claimed, never rejected)
            self._failed(provider, exc, now)
            return 0
        claimed = self.store.claim(batch.id, size, now)
        if not claimed:
            return 0
        coding = self.settings.text_coding(profile) if profile else None
        outgoing = [_outgoing(m, batch, coding) for m in claimed]
        ids = [m.id for m in claimed]
        attempts = profile.max_attempts if profile else ProfileSettings.max_attempts

        def report(outcomes: Sequence[Outcome]) -> None:  # each acknowledgement committed as it comes;
            # the receipt window counts from the last one (a slow chunk's receipts are still awaited)
            self.store.record_outcomes(batch.id, outcomes, self.clock(), max_attempts=attempts)

        try:
            outcomes = self.providers[provider].send(outgoing, report)
        except DeliveryError as exc:  # the whole provider failed: it backs off, its rows wait (never rejected)
            self.store.release(ids)
            self._failed(provider, exc, now)
            return 0
        except Exception as exc:  # some may be on the wire: those without an answer follow in_flight
            why = f"unexpected error while sending ({exc!r})"
            self.store.record_outcomes(batch.id, [InDoubt(i, why) for i in ids], now, max_attempts=attempts)
            raise
        if self._recorded.pop(provider, None) is not None:
            self.store.provider_ok(provider)
        if len(outcomes) != len(ids):
            log.error("provider %s answered %d outcomes for %d messages", provider, len(outcomes), len(ids))
            self.store.release(ids)
            return 0
        log.debug("batch %d: handed %d messages to %s", batch.id, len(ids), provider)
        return len(ids)

    def _failed(self, provider: str, error: DeliveryError, now: float) -> None:
        """Show the provider's failure in `remessa status` (written once per distinct error)."""
        if self._recorded.get(provider) != str(error):
            self._recorded[provider] = str(error)
            self.store.provider_failed(provider, str(error), now)


def _outgoing(message: Message, batch: Batch, coding: TextCoding | None) -> OutgoingMessage:
    template: dict[str, Any] | None = None
    if batch.kind == "whatsapp" and batch.info.get("template"):
        template = dict(batch.info["template"])
        template["values"] = json.loads(message.params) if message.params else []
    return OutgoingMessage(
        id=message.id,
        batch_id=batch.id,
        destination=message.destination,
        text=message.text,
        correlation_id=message.correlation_id,
        extra_info=message.extra_info,
        subaccount=batch.subaccount,
        kind=batch.kind,
        template=template,
        flash=bool(batch.options.get("flash_sms")),
        campaign_alias=str(batch.options.get("campaign_alias") or ""),
        encoding=coding.mode if coding else "",
        transliterate=coding.transliterate if coding else None,
    )

