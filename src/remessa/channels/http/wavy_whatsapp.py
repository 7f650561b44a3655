"""The provider's WhatsApp API as a Channel (type ``wavy_whatsapp_http``): ``POST /v1/whatsapp/send`` with
``destinations[]`` and one message for all of them, so the rows of a chunk that share a message (the same
template values, or text) go in one request of at most `per_request` destinations. Statuses (sent, delivered,
read) and replies come by webhook to the daemon's listener.

A template row carries the batch's HSM (elementName, namespace, languageCode, languagePolicy), its own
parameter values as ``bodyParameters``, and the header media of a URL. A media file given as a PATH cannot be
sent by URL: such rows are refused with that reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from remessa.channels.http.pooled import HttpChannel, accepted, correlation_id
from remessa.channels.http.settings import WavySmsHttpSettings
from remessa.model import Outcome, OutgoingMessage, Rejected

MEDIA_KINDS = {"IMAGE": "image", "AUDIO": "audio", "VIDEO": "video", "DOCUMENT": "document"}


@dataclass(frozen=True)
class WavyWhatsAppHttpSettings(WavySmsHttpSettings):
    """A ``[providers.NAME]`` table of type ``wavy_whatsapp_http``: the same keys as ``wavy_sms_http``;
    statuses come only by webhook (the WhatsApp API has no status list)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.receipts != "webhook":
            raise ValueError("receipts: the WhatsApp API reports statuses by webhook only")


class WavyWhatsAppHttpChannel(HttpChannel):
    """A Channel over the WhatsApp HTTPS API; see WavyWhatsAppHttpSettings."""

    SEND = "/v1/whatsapp/send"

    def refused(self, chunk: Sequence[OutgoingMessage]) -> dict[int, Outcome]:
        refusals: dict[int, Outcome] = {}
        for m in chunk:
            why = _unsendable(m)
            if why:
                refusals[m.id] = Rejected(m.id, why)
        return refusals

    def requests(self, chunk: Sequence[OutgoingMessage]) -> list[tuple[list[OutgoingMessage], Any]]:
        groups: dict[str, tuple[list[OutgoingMessage], dict[str, Any]]] = {}
        for m in chunk:  # one message object per request: rows with the same content travel together
            content = message_json(m)
            key = repr(sorted(content.items())) + m.campaign_alias + m.extra_info
            groups.setdefault(key, ([], content))[0].append(m)
        requests: list[tuple[list[OutgoingMessage], Any]] = []
        size = self.settings.per_request
        for members, content in groups.values():
            for start in range(0, len(members), size):
                group = members[start:start + size]
                body: dict[str, Any] = {
                    "destinations": [{"correlationId": correlation_id(m), "destination": m.destination}
                                     for m in group],
                    "message": content,
                }
                if group[0].extra_info:
                    body["defaultExtraInfo"] = group[0].extra_info
                if group[0].campaign_alias:
                    body["campaignAlias"] = group[0].campaign_alias
                requests.append((group, body))
        return requests

    def answered(self, group: Sequence[OutgoingMessage], answer: Any) -> dict[int, Outcome]:
        items = answer.get("destinations") if isinstance(answer, dict) else None
        return accepted(group, items if isinstance(items, list) else [], answer)


def message_json(message: OutgoingMessage) -> dict[str, Any]:
    """The API's ``message`` object: the template with this row's values, or a free text."""
    template = message.template
    if not template:
        return {"messageText": message.text}
    hsm: dict[str, Any] = {"elementName": template.get("element_name", "")}
    if template.get("namespace"):
        hsm["namespace"] = template["namespace"]
    if template.get("language"):
        hsm["languageCode"] = template["language"]
    if template.get("policy"):
        hsm["languagePolicy"] = template["policy"]
    values = [str(v) for v in template.get("values") or []]
    if values:
        hsm["bodyParameters"] = values
    media = template.get("media")
    if media:
        hsm["header"] = {MEDIA_KINDS.get(str(media.get("header_type", "")).upper(), "image"):
                         {"type": media.get("media_type", ""), "url": media.get("location", "")}}
    return {"template": hsm}


def _unsendable(message: OutgoingMessage) -> str:
    if message.kind != "whatsapp":
        return "not a WhatsApp message: a wavy_whatsapp_http provider sends WhatsApp files only"
    template = message.template
    if template is None:
        return "" if message.text else "no template and no text to send"
    if not template.get("element_name"):
        return "the template has no elementName"
    return media_file(template)


def media_file(template: dict[str, Any]) -> str:
    """Why a template's header media cannot be sent (it is a file: the HTTP APIs take media by URL), or ""."""
    media = template.get("media")
    if media and str(media.get("source", "")).upper() != "URL":
        return f"header media {media.get('location', '')} is a file: the WhatsApp HTTP API takes media by URL only"
    return ""
