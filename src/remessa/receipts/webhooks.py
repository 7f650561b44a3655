"""The HTTP receiver of the provider's SMS status callbacks and delivery reports, and of its WhatsApp webhooks
(statuses and the messages users send us), and of Devino's WhatsApp webhooks, as a Starlette app.

Each request is checked (source network, provider, credentials, size), parsed, and persisted through the sink
before it is answered: 200 only once stored, 503 when the store failed (the provider sends it again).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import TypeVar

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from remessa.channels.http.callbacks import is_sms_inbound, loads, sms_inbound, sms_status, sms_statuses
from remessa.channels.http.devino_callbacks import devino_inbound, devino_statuses
from remessa.channels.http.whatsapp_callbacks import whatsapp_inbound, whatsapp_statuses
from remessa.model import Inbound, Receipt

log = logging.getLogger(__name__)

#: Persists one provider's receipts; returns once they are committed, raises if they were not.
ReceiptWriter = Callable[[str, list[Receipt]], None]
#: Persists one message a user sent to that provider; returns once it is committed, raises if it was not.
InboundWriter = Callable[[str, Inbound], None]
Network = IPv4Network | IPv6Network
_Item = TypeVar("_Item")
_Parsed = TypeVar("_Parsed")
#: reads a webhook body into its statuses and the messages users sent
_Items = Callable[[object], tuple[list[Receipt], list[Inbound]]]


@dataclass(frozen=True)
class WebhookAuth:
    """What one provider's callbacks must carry: the shared `token` (``Authorization: Bearer``,
    ``X-Remessa-Token`` or the URL's last segment) or HTTP basic credentials; either one admits a request.
    With neither set, none is asked for (a listener on loopback)."""

    token: str = field(default="", repr=False)
    basic_user: str = ""
    basic_password: str = field(default="", repr=False)

    def admits(self, headers: Mapping[str, str], path_token: str = "") -> bool:
        """Whether a request with these headers (and this token in its path) may hand statuses over."""
        if not self.token and not self.basic_user:
            return True
        if self.token and any(_same(given, self.token) for given in _tokens(headers, path_token)):
            return True
        credentials = _basic_credentials(headers) if self.basic_user else None
        if credentials is None:
            return False
        # both compared, always: how long it takes tells nothing of which one was wrong
        user_ok = _same(credentials[0], self.basic_user)
        return _same(credentials[1], self.basic_password) & user_ok

    @property
    def challenge(self) -> str:
        """The WWW-Authenticate header of a 401."""
        return 'Basic realm="remessa"' if self.basic_user and not self.token else "Bearer"


def create_app(
    sink: ReceiptWriter,
    providers: Mapping[str, WebhookAuth],
    body_limit: int = 64 * 1024,
    allowed_networks: Sequence[Network] = (),
    inbound: InboundWriter | None = None,
) -> Starlette:
    """The webhook app: ``POST /webhooks/{provider}/sms[/{token}]`` takes one status object or a list of them;
    ``POST /webhooks/{provider}/whatsapp[/{token}]`` a WhatsApp webhook, whose statuses go to `sink` (in one
    call) and each MO to `inbound` (without it, a body with an MO is refused: 400); ``POST
    /webhooks/{provider}/devino[/{token}]`` likewise a Devino status array or incoming message; ``GET /healthz`` answers
    ``{"ok": true}``. `sink` and `inbound` are called from a worker thread, never the event loop; a body over
    `body_limit` bytes is refused with 413 as it streams in (Content-Length or chunked)."""
    networks = tuple(allowed_networks)

    def sms_items(payload: object) -> tuple[list[Receipt], list[Inbound]]:
        """One status or reply object, or a list of them (replies are told by their source and text)."""
        if not isinstance(payload, list):
            return ([], [sms_inbound(payload)]) if is_sms_inbound(payload) else ([sms_status(payload)], [])
        return (sms_statuses([o for o in payload if not is_sms_inbound(o)]),
                [sms_inbound(o) for o in payload if is_sms_inbound(o)])

    def both(
        statuses: Callable[[object], list[Receipt]], messages: Callable[[object], list[Inbound]]
    ) -> Callable[[object], tuple[list[Receipt], list[Inbound]]]:
        return lambda payload: (statuses(payload), messages(payload))

    async def statuses_and_messages(request: Request, what: str, parse: _Items, counted: bool = True) -> Response:
        """Read, persist and answer a body of statuses and MOs (without `inbound`, a body with an MO is refused);
        the answer counts the MOs stored when `counted` or there were some."""
        def checked(payload: object) -> tuple[list[Receipt], list[Inbound]]:
            receipts, said = parse(payload)
            if said and inbound is None:
                raise ValueError("this endpoint takes no inbound messages")
            return receipts, said

        read = await _read(request, providers, networks, what, checked)
        if isinstance(read, Response):
            return read
        provider, (receipts, messages) = read
        failed = await _persist(provider, sink, receipts, len(receipts), "statuses") if receipts else None
        # then the messages, one by one: a retry of a partly stored body repeats statuses (which change nothing
        # twice) rather than messages
        if inbound is not None and failed is None:
            for message in messages:
                failed = await _persist(provider, inbound, message, 1, "inbound messages")
                if failed is not None:
                    break
        if failed is not None:
            return failed
        log.debug("provider %s: %d statuses and %d inbound messages stored", provider, len(receipts), len(messages))
        answer = {"stored": len(receipts)} | ({"inbound": len(messages)} if counted or messages else {})
        return JSONResponse(answer)

    whatsapp_items, devino_items = both(whatsapp_statuses, whatsapp_inbound), both(devino_statuses, devino_inbound)

    async def sms(request: Request) -> Response:
        return await statuses_and_messages(request, "a status callback", sms_items, counted=False)

    async def whatsapp(request: Request) -> Response:
        return await statuses_and_messages(request, "a WhatsApp webhook", whatsapp_items)

    async def devino(request: Request) -> Response:
        return await statuses_and_messages(request, "a Devino webhook", devino_items)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/webhooks/{provider}/sms", sms, methods=["POST"], max_body_size=body_limit),
        Route("/webhooks/{provider}/sms/{token}", sms, methods=["POST"], max_body_size=body_limit),
        Route("/webhooks/{provider}/whatsapp", whatsapp, methods=["POST"], max_body_size=body_limit),
        Route("/webhooks/{provider}/whatsapp/{token}", whatsapp, methods=["POST"], max_body_size=body_limit),
        Route("/webhooks/{provider}/devino", devino, methods=["POST"], max_body_size=body_limit),
        Route("/webhooks/{provider}/devino/{token}", devino, methods=["POST"], max_body_size=body_limit),
        Route("/healthz", healthz, methods=["GET"]),
    ])


async def _read(
    request: Request, providers: Mapping[str, WebhookAuth], networks: tuple[Network, ...], what: str,
    parse: Callable[[object], _Parsed],
) -> tuple[str, _Parsed] | Response:
    """The provider a request comes from and what `parse` reads in its body; else the answer to a request that
    may not hand anything over (403, 404, 401) or whose body cannot be read (400, nothing of it stored)."""
    refused = _refusal(request, providers, networks)
    if refused is not None:
        return refused
    provider = request.path_params["provider"]
    body = await request.body()
    try:
        return provider, parse(loads(body))
    except ValueError as e:
        log.warning("provider %s: %s was refused (400): %s", provider, what, e)
        return JSONResponse({"error": str(e)}, status_code=400)


async def _persist(
    provider: str, writer: Callable[[str, _Item], None], item: _Item, count: int, noun: str
) -> Response | None:
    """Hand `item` (`count` `noun`) to `writer` in a worker thread; the 503 to answer when it raised (the
    provider sends the body again), else None."""
    try:
        await run_in_threadpool(writer, provider, item)
    except Exception as e:  # the request's boundary: the provider is told to send them again
        log.warning("provider %s: %d %s not stored, answered 503 for the provider to retry: %s",
                    provider, count, noun, e)
        return JSONResponse({"error": f"the {noun} could not be stored; send them again"}, status_code=503)
    return None


def _refusal(request: Request, providers: Mapping[str, WebhookAuth], networks: tuple[Network, ...]) -> Response | None:
    """The answer to a request that may not hand statuses over (403, 404, 401), or None."""
    source = request.client.host if request.client else ""
    if networks and not _within(source, networks):
        log.info("a status callback from %s was refused: not in the allowed networks", source or "?")
        return JSONResponse({"error": "forbidden"}, status_code=403)
    provider = request.path_params["provider"]
    auth = providers.get(provider)
    if auth is None:
        return JSONResponse({"error": "unknown provider"}, status_code=404)
    if not auth.admits(request.headers, request.path_params.get("token", "")):
        log.info("provider %s: a status callback from %s was refused: wrong or missing credentials",
                 provider, source or "?")
        return JSONResponse({"error": "unauthorized"}, status_code=401,
                            headers={"WWW-Authenticate": auth.challenge})
    return None


def _within(source: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ip_address(source)
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:  # ::ffff:10.0.0.1 on a dual-stack socket
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _tokens(headers: Mapping[str, str], path_token: str) -> Iterator[str]:
    """Every token the request offers: the bearer token, the X-Remessa-Token header, the path's."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        yield value.strip()
    if headers.get("x-remessa-token"):
        yield headers["x-remessa-token"]
    if path_token:
        yield path_token


def _basic_credentials(headers: Mapping[str, str]) -> tuple[str, str] | None:
    """(user, password) of an ``Authorization: Basic`` header, or None."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, colon, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if colon else None
