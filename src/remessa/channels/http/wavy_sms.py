"""The provider's bulk SMS API as a Channel (type ``wavy_sms_http``): ``POST /v1/send-bulk-sms``, at most
`per_request` messages per request, statuses by webhook (the daemon's listener) or by polling
``GET /v1/sms/status/list`` (``receipts = "poll"``). What every HTTP channel shares is in ``pooled``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from remessa.channels.http.callbacks import sms_inbound, sms_statuses
from remessa.channels.http.pooled import HttpChannel, accepted, correlation_id
from remessa.model import Inbound, Outcome, OutgoingMessage, Receipt, Rejected

log = logging.getLogger(__name__)

MAX_TEXT = 1280  # characters the API takes in one messageText (seed 002)


class WavySmsHttpChannel(HttpChannel):
    """A Channel over the bulk SMS HTTPS API; see WavySmsHttpSettings."""

    SEND = "/v1/send-bulk-sms"
    STATUS_LIST = "/v1/sms/status/list"
    RECEIVE_LIST = "/v1/sms/receive/list"

    def refused(self, chunk: Sequence[OutgoingMessage]) -> dict[int, Outcome]:
        return {m.id: Rejected(m.id, f"text of {len(m.text)} characters; the API takes at most {MAX_TEXT}")
                for m in chunk if len(m.text) > MAX_TEXT}

    def requests(self, chunk: Sequence[OutgoingMessage]) -> list[tuple[list[OutgoingMessage], Any]]:
        return [(list(chunk), bulk_body(chunk))] if chunk else []

    def answered(self, group: Sequence[OutgoingMessage], answer: Any) -> dict[int, Outcome]:
        items = answer.get("messages") if isinstance(answer, dict) else None
        return accepted(group, items if isinstance(items, list) else [], answer)

    def statuses(self, page: Any) -> list[Receipt]:
        """One polled page; a status that cannot be read is logged and skipped, not the page."""
        return _readable(page, lambda item: sms_statuses([item]), "status")

    def replies(self, page: Any) -> list[Inbound]:
        items = page.get("messages") if isinstance(page, dict) else page
        return _readable(items, lambda item: [sms_inbound(item)], "reply")


def _readable(page: Any, read: Callable[[Any], list[Any]], what: str) -> list[Any]:
    if not isinstance(page, list):
        raise ValueError(f"the polled {what} list is not a JSON array: {str(page)[:200]}")
    found: list[Any] = []
    for item in page:
        try:
            found += read(item)
        except ValueError as exc:
            log.warning("HTTP polling: a %s skipped (%s): %s", what, exc, str(item)[:300])
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
