"""The Devino WhatsApp API as a Channel (type ``devino_whatsapp_http``, seed 003): ``POST /whatsapp/messages``
with one ``messages[]`` item per row, at most `per_request` of them, authenticated by ``Authorization: Key``.
The answer's ``result[]`` says, in order, OK (with the messageId) or REJECTED (with its reasons) for each item.
Statuses and replies come by webhook to the daemon's listener (devino_callbacks).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from remessa.channels.http.pooled import HttpChannel, correlation_id
from remessa.channels.http.wavy_whatsapp import WavyWhatsAppHttpSettings, media_file
from remessa.model import Accepted, InDoubt, Outcome, OutgoingMessage, Rejected

log = logging.getLogger(__name__)

MAX_TEXT = 1000  # the API's bound on a text, in characters
_NOT_DIGITS = re.compile(r"\D")


@dataclass(frozen=True)
class DevinoWhatsAppHttpSettings(WavyWhatsAppHttpSettings):
    """A ``[providers.NAME]`` table of type ``devino_whatsapp_http``: the transport keys of ``wavy_sms_http``,
    with `api_key` (env:NAME or file:PATH) instead of username and token, the `sender` every message is
    ``from``, and the `callback_url` the API posts statuses to (the daemon's ``/webhooks/NAME/devino``)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("api_key", "webhook_token")

    url: str = "https://api.devino.online"
    api_key: str = field(default="", repr=False)
    sender: str = ""
    callback_url: str = ""

    def check_credentials(self) -> None:
        if not self.api_key or not self.sender:
            raise ValueError("api_key and sender are required (api_key as env:NAME or file:PATH)")
        if self.callback_url and not self.callback_url.startswith(("https://", "http://")):
            raise ValueError(f"callback_url must start with https:// or http://: {self.callback_url!r}")

    def credentials(self) -> dict[str, str]:
        return {"authorization": f"Key {self.api_key}"}


class DevinoWhatsAppHttpChannel(HttpChannel):
    """A Channel over the Devino WhatsApp API; see DevinoWhatsAppHttpSettings."""

    SEND = "/whatsapp/messages"
    settings: DevinoWhatsAppHttpSettings

    def refused(self, chunk: Sequence[OutgoingMessage]) -> dict[int, Outcome]:
        return {m.id: Rejected(m.id, why) for m in chunk if (why := _unsendable(m))}

    def requests(self, chunk: Sequence[OutgoingMessage]) -> list[tuple[list[OutgoingMessage], Any]]:
        size = self.settings.per_request
        return [(list(group), {"messages": [self.item(m) for m in group]})
                for group in (chunk[start:start + size] for start in range(0, len(chunk), size))]

    def item(self, message: OutgoingMessage) -> dict[str, Any]:
        """The ``messages[]`` item of one row: a text, or the template with this row's values by position."""
        item: dict[str, Any] = {"from": self.settings.sender, "to": _NOT_DIGITS.sub("", message.destination)}
        template = message.template
        if template:
            item["templateId"] = template["element_name"]
            values = [str(v) for v in template.get("values") or []]
            if values:
                item["templateParams"] = {str(n): v for n, v in enumerate(values, start=1)}
            if template.get("language"):
                item["languageCode"] = template["language"]
            media = template.get("media")
            if media:
                item["contentUrl"] = media.get("location", "")
        else:
            item["text"] = message.text
        if self.settings.callback_url:
            item["callbackUrl"] = self.settings.callback_url
        item["callbackData"] = correlation_id(message)
        return item

    def answered(self, group: Sequence[OutgoingMessage], answer: Any) -> dict[int, Outcome]:
        items = answer.get("result") if isinstance(answer, dict) else None
        items = items if isinstance(items, list) else []
        if len(items) != len(group):
            log.error("the Devino API answered %d results for %d messages (answer: %s)", len(items), len(group),
                      str(answer)[:300])
        return {m.id: result(m.id, items[n] if n < len(items) else None) for n, m in enumerate(group)}


def result(message_id: int, item: object) -> Outcome:
    """The outcome one ``result[]`` item says. A 2xx without an item took the request: the message is accepted
    (never sent again) without an id; an item whose code is unknown leaves it in doubt."""
    if not isinstance(item, Mapping):
        return Accepted(message_id, "")
    code = str(item.get("code") or "")
    if code == "OK":
        return Accepted(message_id, str(item.get("messageId") or "").strip().lower())
    if code == "REJECTED":
        return Rejected(message_id, "devino: " + reasons(item))
    return InDoubt(message_id, f"the Devino API answered code {code!r} for it")


def reasons(item: Mapping[str, Any]) -> str:
    """``key (ref)`` of each of a REJECTED item's reasons, else its description."""
    said = []
    for reason in item.get("reasons") or []:
        if isinstance(reason, Mapping):
            key, ref = str(reason.get("key") or "unknown"), str(reason.get("ref") or "")
            said.append(f"{key} ({ref})" if ref else key)
    return ", ".join(said) or str(item.get("description") or "unknown")


def _unsendable(message: OutgoingMessage) -> str:
    if message.kind != "whatsapp":
        return "not a WhatsApp message: a devino_whatsapp_http provider sends WhatsApp files only"
    template = message.template
    if template is None:
        if not message.text:
            return "no template and no text to send"
        return f"the text is longer than {MAX_TEXT} characters" if len(message.text) > MAX_TEXT else ""
    if not template.get("element_name"):
        return "the template has no elementName (the Devino templateId)"
    return media_file(template)

