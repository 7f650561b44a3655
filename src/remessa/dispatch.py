"""The dispatcher: hands due messages to their provider's channel in chunks.

Each chunk is committed SUBMITTING before it goes out and committed again with the provider's answer, so
that after a crash nothing acknowledged is sent twice and nothing in flight is forgotten (see
Store.recover_in_flight). Higher-priority batches go first; equal priorities take turns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from remessa.channels import Channel, OutgoingMessage
from remessa.config import ProfileSettings, Settings
from remessa.errors import PermanentFailure, TemporaryFailure
from remessa.planner import Planner
from remessa.store import Batch, Message, Store

log = logging.getLogger(__name__)

BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0


class Dispatcher:
    """Moves queued messages to channels; one call of `step` sends at most one chunk per provider."""

    def __init__(
        self, settings: Settings, store: Store, channels: Mapping[str, Channel], planner: Planner
    ) -> None:
        self.settings = settings
        self.store = store
        self.channels = channels
        self.planner = planner
        self._paused_until: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._last_served: dict[str, int] = {}  # provider → batch id served last (for turn-taking)

    def step(self, now: float) -> int:
        """Send one chunk per provider that has work; returns how many messages were handed over."""
        if not self.planner.due(now):
            return 0
        by_provider: dict[str, list[Batch]] = {}
        for batch in self.planner.sendable(self.store.dispatchable(), now):
            by_provider.setdefault(batch.provider, []).append(batch)
        handed = 0
        for provider, batches in by_provider.items():
            if self._paused_until.get(provider, 0.0) > now or provider not in self.channels:
                continue
            batch = self._choose(provider, batches)
            handed += self._send_chunk(provider, batch, now)
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
        claimed = self.store.claim(batch.id, size, now)
        if not claimed:
            return 0
        outgoing = [_outgoing(m, batch, profile) for m in claimed]
        ids = [m.id for m in claimed]
        try:
            outcomes = self.channels[provider].send(outgoing)
        except TemporaryFailure as exc:
            delay = min(self._backoff.get(provider, BACKOFF_FIRST / 2) * 2, BACKOFF_MAX)
            self._backoff[provider] = delay
            self._paused_until[provider] = now + delay
            log.warning("provider %s: %s; retrying in %.0fs", provider, exc, delay)
            self.store.release(ids, reason="")
            return 0
        except PermanentFailure as exc:
            log.error("provider %s: %s; batch %d's chunk rejected", provider, exc, batch.id)
            self.store.reject(batch.id, ids, f"provider_error: {exc}", now)
            return len(ids)
        if len(outcomes) != len(ids):
            log.error("provider %s answered %d outcomes for %d messages", provider, len(outcomes), len(ids))
            self.store.release(ids)
            return 0
        self._backoff.pop(provider, None)
        self.store.record_outcomes(batch.id, outcomes, now)
        log.debug("batch %d: handed %d messages to %s", batch.id, len(ids), provider)
        return len(ids)


def _outgoing(message: Message, batch: Batch, profile: ProfileSettings | None) -> OutgoingMessage:
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
        encoding=profile.encoding if profile else "",
        transliterate=profile.transliterate if profile else None,
    )

