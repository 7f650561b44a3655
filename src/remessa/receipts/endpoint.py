"""The daemon's webhook endpoint: whether it runs, on which address, which providers it admits and with which
secret, and the URLs to give each provider.

It runs when a provider takes its receipts by webhook (``receipts = "webhook"``) or when an ``[http]`` table is
configured. A listener reachable beyond loopback without a secret for some provider is refused at start-up:
anyone could otherwise mark that provider's messages delivered.
"""

from __future__ import annotations

import ipaddress
import logging

from remessa.config import Settings
from remessa.errors import StartupError
from remessa.receipts.listener import Listener
from remessa.receipts.sink import Sink
from remessa.receipts.webhooks import WebhookAuth, create_app

log = logging.getLogger(__name__)

#: the webhook path of a provider type (the last segment of /webhooks/NAME/...); "sms" for the others
WEBHOOK_KINDS = {"wavy_whatsapp_http": "whatsapp", "devino_whatsapp_http": "devino"}


def webhook_providers(settings: Settings) -> dict[str, WebhookAuth]:
    """The providers whose receipts come by webhook, with the secret each must carry."""
    return {
        name: WebhookAuth(token=getattr(provider.settings, "webhook_token", ""))
        for name, provider in settings.providers.items()
        if getattr(provider.settings, "receipts", "") == "webhook"
    }


def open_endpoint(settings: Settings, sink: Sink) -> Listener | None:
    """Start the listener if it is needed (see the module doc); None when it is not."""
    providers = webhook_providers(settings)
    if not providers and not settings.http_configured:
        return None
    host, port = settings.http.address()
    if not _loopback(host):
        bare = sorted(name for name, auth in providers.items() if not auth.token)
        if bare:
            raise StartupError(f"http.listen {settings.http.listen} is reachable beyond this machine: give"
                             f" providers {', '.join(bare)} a webhook_token")
    app = create_app(lambda _provider, receipts: sink.receipts(receipts), providers,
                     body_limit=settings.http.body_limit,
                     allowed_networks=[ipaddress.ip_network(n, strict=False) for n in settings.http.allowed_networks],
                     inbound=sink.inbound)
    listener = Listener(app, host, port)
    try:
        listener.start()
    except RuntimeError as exc:
        raise StartupError(f"the webhook listener (http.listen): {exc}") from None
    for name in sorted(providers):
        kind = WEBHOOK_KINDS.get(settings.providers[name].type, "sms")
        log.info("provider %s: webhooks (statuses%s) at http://%s:%d/webhooks/%s/%s", name,
                 " and replies" if kind != "sms" else "", host, listener.port, name, kind)
    return listener


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
