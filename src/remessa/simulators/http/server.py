"""A simulator of the provider's SMS and WhatsApp HTTPS APIs (seed 002): a Starlette app served by uvicorn on a
real socket.

Threads: uvicorn runs the app's event loop in one thread, whose timers also emit each message's status events
(for SMS the sent-status callback, then the delivery report; for WhatsApp sent, delivered, then read); webhook
sender threads post those events, and WhatsApp MO messages, with httpx; they meet through a queue of message
ids. Settings, counters and the SMS event shapes are in ``state``, the WhatsApp ones in ``whatsapp``.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import logging
import queue
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from http import HTTPStatus
from types import TracebackType

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from remessa.simulators.http import whatsapp
from remessa.simulators.http.state import (
    BadRequest,
    Event,
    Faults,
    HttpSimulatorConfig,
    Message,
    Stats,
    callback,
    fate,
    parse_request,
    status,
)
from remessa.simulators.http.whatsapp import Chat, parse_chat

__all__ = ["Faults", "HttpSimulator", "HttpSimulatorConfig", "Stats"]

log = logging.getLogger(__name__)

START_TIMEOUT = 10.0  # seconds for uvicorn to bind and start
POLL_BACKLOG = 100_000  # events kept for GET /v1/sms/status/list; older ones are dropped when nobody polls


class HttpSimulator:
    """The simulator: `with HttpSimulator(HttpSimulatorConfig()) as sim:` then send to `sim.url`."""

    def __init__(self, config: HttpSimulatorConfig) -> None:
        self.config = config
        self.faults = Faults()
        self._lock = threading.Lock()
        self._stats = Stats()
        self._messages: dict[str, Message] = {}
        self._last_chats: dict[str, Chat] = {}  # destination -> the latest WhatsApp message to it
        self._campaigns: dict[str, int] = {}  # campaignAlias -> campaignId
        self._unpolled: deque[Event] = deque(maxlen=POLL_BACKLOG)
        self._owed: dict[str, deque[tuple[str, Event]]] = {}  # message id -> (URL, webhook) not yet taken, oldest first
        self._ready: queue.SimpleQueue[str | None] = queue.SimpleQueue()  # ids whose oldest webhook is due
        self._random = random.Random(config.seed)
        self._stopping = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._server_thread: threading.Thread | None = None
        self._senders: list[threading.Thread] = []
        self.port = 0
        self.app = Starlette(routes=[
            Route("/v1/send-bulk-sms", self._send_bulk, methods=["POST"]),
            Route("/v1/sms/status/list", self._status_list, methods=["GET"]),
            Route("/v1/sms/receive/list", self._receive_list, methods=["GET"]),
            Route("/v1/whatsapp/send", self._send_whatsapp, methods=["POST"]),
        ], max_body_size=config.max_body_size)

    # --- life cycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Listen and serve; OSError when uvicorn cannot bind or start (it logs why)."""
        cfg = self.config
        server = uvicorn.Server(uvicorn.Config(
            self.app, host=cfg.host, port=cfg.port, lifespan="off", log_config=None, access_log=False,
            timeout_graceful_shutdown=2, ssl_certfile=cfg.ssl_certfile, ssl_keyfile=cfg.ssl_keyfile))
        self._server = server
        self._server_thread = _spawn("http-sim-server", self._serve, server)
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not self._server_thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise OSError(f"the HTTP simulator cannot listen on {cfg.host}:{cfg.port}")
            time.sleep(0.01)
        self.port = server.servers[0].sockets[0].getsockname()[1]
        if cfg.webhook_url is not None or cfg.whatsapp_webhook_url is not None:
            self._senders = [_spawn(f"http-sim-webhook-{n + 1}", self._post_webhooks)
                             for n in range(cfg.webhook_threads)]
        log.info("sandbox HTTP API listening on %s", self.url)

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None and self._server_thread is not None:
            self._server.should_exit = True
            self._server_thread.join(timeout=10)
        for _ in self._senders:
            self._ready.put(None)  # one stop sign each
        for sender in self._senders:
            sender.join(timeout=self.config.webhook_timeout + 5)
        log.info("sandbox HTTP API on port %d stopped", self.port)

    def __enter__(self) -> HttpSimulator:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Where the API is, e.g. http://127.0.0.1:8088."""
        scheme = "https" if self.config.ssl_certfile else "http"
        host = f"[{self.config.host}]" if ":" in self.config.host else self.config.host
        return f"{scheme}://{host}:{self.port}"

    # --- what tests look at -----------------------------------------------------------------------
    def stats(self) -> Stats:
        with self._lock:
            return copy.deepcopy(self._stats)

    def messages(self) -> dict[str, tuple[str, str, str | None]]:
        """Every accepted message, SMS and WhatsApp: id -> (destination, text or template elementName,
        correlationId)."""
        with self._lock:
            return {m.id: (m.destination, m.text, m.correlation_id) for m in self._messages.values()}

    def push_mo(self, source: str, text: str, kind: str = "TEXT") -> None:
        """Post a WhatsApp message from `source` to whatsapp_webhook_url, redelivered like the status events
        (`kind`: TEXT, BUTTON or IMAGE, see whatsapp.mo); ValueError for another kind or without that URL."""
        url = self.config.whatsapp_webhook_url
        if url is None:
            raise ValueError("push_mo needs a whatsapp_webhook_url")
        mo_id = str(uuid.uuid4())
        with self._lock:
            last = self._last_chats.get(source)
        self._publish(url, [(mo_id, whatsapp.mo(mo_id, source, text, kind, time.time(), last))])

    # --- threads ------------------------------------------------------------------------------------
    def _serve(self, server: uvicorn.Server) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            await server.serve()

        try:
            asyncio.run(serve())
        except SystemExit:  # uvicorn's way to say that it cannot bind (it logged why); start() raises OSError
            pass

    def _later(self, delay: float, action: Callable[..., None], *args: object) -> None:
        """Run `action(*args)` on the event loop in `delay` seconds; callable from any thread, a no-op once
        stopping."""
        loop = self._loop
        if loop is None or self._stopping.is_set():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed as the simulator stopped
            loop.call_soon_threadsafe(loop.call_later, delay, action, *args)

    def _post_webhooks(self) -> None:
        """Post owed events until stopped: a message's next event only once its previous one was taken."""
        headers = dict(self.config.webhook_headers)
        with httpx.Client(headers=headers, timeout=self.config.webhook_timeout) as client:
            while (message_id := self._ready.get()) is not None:
                with self._lock:
                    url, event = self._owed[message_id][0]
                taken = self._post(client, url, message_id, event)
                with self._lock:
                    owed = self._owed[message_id]
                    if taken:
                        owed.popleft()
                        if owed:
                            self._ready.put(message_id)
                        else:
                            del self._owed[message_id]
                if not taken:
                    self._later(self.config.redeliver_after, self._ready.put, message_id)

    def _post(self, client: httpx.Client, url: str, message_id: str, event: Event) -> bool:
        """POST one event of a message; True when the receiver answered 2xx."""
        try:
            answer = client.post(url, json=event)
        except httpx.HTTPError as exc:
            log.debug("webhook for %s failed: %s", message_id, exc)
            taken = False
        else:
            taken = answer.is_success
            if not taken:
                log.debug("webhook for %s answered %d", message_id, answer.status_code)
        with self._lock:
            self._stats.webhooks_sent += 1
            if taken:
                self._stats.webhooks_acked += 1
            else:
                self._stats.webhooks_failed += 1
        return taken

    # --- status events (on the event loop) ------------------------------------------------------
    def _emit_sent(self, messages: Sequence[Message]) -> None:
        sent_at = time.time()
        self._publish(self.config.webhook_url, [(m.id, callback(m, sent_at)) for m in messages],
                      [status(m, sent_at, None) for m in messages])
        reported = [m for m in messages if m.delivered_code is not None]
        if reported:
            self._later(self.config.delivered_delay - self.config.sent_delay, self._emit_delivered, reported,
                        sent_at)

    def _emit_delivered(self, messages: Sequence[Message], sent_at: float) -> None:
        delivered_at = time.time()
        reports = [status(m, sent_at, delivered_at) for m in messages]
        self._publish(self.config.webhook_url, [(m.id, r) for m, r in zip(messages, reports, strict=True)], reports)

    def _emit_chats(self, chats: Sequence[Chat], stamps: tuple[float, ...]) -> None:
        """Emit the next status event of each of `chats` (sent, delivered, then read; `stamps` are the instants
        of the ones before) and plan the one after."""
        stamps = (*stamps, time.time())
        self._publish(self.config.whatsapp_webhook_url, [(c.id, whatsapp.status(c, *stamps)) for c in chats])
        further = [c for c in chats if c.stages > len(stamps)]
        if further:
            cfg = self.config
            delays = (cfg.sent_delay, cfg.delivered_delay, cfg.read_delay)
            wait = max(0.0, delays[len(stamps)] - delays[len(stamps) - 1])
            self._later(wait, self._emit_chats, further, stamps)

    def _publish(self, url: str | None, events: Iterable[tuple[str, Event]], polled: Iterable[Event] = ()) -> None:
        """Owe (message id, webhook body) events to `url` (none when it is None), and make `polled` items
        available to polling."""
        with self._lock:
            self._unpolled.extend(polled)
            if url is None:
                return
            for message_id, body in events:
                owed = self._owed.setdefault(message_id, deque())
                owed.append((url, body))
                if len(owed) == 1:  # else it waits for the one before it
                    self._ready.put(message_id)

    # --- the API ------------------------------------------------------------------------------------
    async def _send_bulk(self, request: Request) -> Response:
        return await self._send(request, self._accept_bulk)

    async def _send_whatsapp(self, request: Request) -> Response:
        return await self._send(request, self._accept_chats, whatsapp_api=True)

    async def _send(self, request: Request, accept: Callable[[bytes], Event], whatsapp_api: bool = False) -> Response:
        """Answer a send request of either API, counting it."""
        answer = await self._take(request, accept)
        with self._lock:
            if whatsapp_api:
                self._stats.whatsapp_requests += 1
            else:
                self._stats.requests += 1
            if answer.status_code != HTTPStatus.OK:
                self._stats.rejected[answer.status_code] += 1
        return answer

    async def _take(self, request: Request, accept: Callable[[bytes], Event]) -> Response:
        """The faults, the authentication, then `accept(body)`: its answer, or a BadRequest it raised."""
        if self.faults.delay > 0:
            await asyncio.sleep(self.faults.delay)
        refused = self._authenticate(request) or self._fault()
        if refused is not None:
            return refused
        try:
            answer = accept(await request.body())
        except BadRequest as exc:
            return _error(HTTPStatus.BAD_REQUEST, str(exc))
        with self._lock:
            drop = self.faults.drop > 0
            if drop:
                self.faults.drop -= 1
                self._stats.dropped += 1
        if drop:
            await self._hang_up(request)
        if self.faults.answer_delay > 0:  # taken: its status events may reach the client before this answer
            await asyncio.sleep(self.faults.answer_delay)
        return JSONResponse(answer)

    def _accept_bulk(self, body: bytes) -> Event:
        """Take an SMS send request's messages and schedule their status events; the answer's body."""
        bulk = parse_request(body, self.config.max_per_request)
        with self._lock:
            campaign = self._campaign(bulk.campaign_alias)
            messages = [Message(str(uuid.uuid4()), s.destination, s.text, s.correlation_id, s.extra_info, campaign,
                                *fate(s.destination, self.config)) for s in bulk.messages]
            self._messages.update((m.id, m) for m in messages)
            self._stats.accepted += len(messages)
        batch_id = self._log_accepted("batch", messages)
        self._later(self.config.sent_delay, self._emit_sent, messages)
        return {"id": batch_id, "messages": [{"id": m.id, **_correlation(m)} for m in messages]}

    def _accept_chats(self, body: bytes) -> Event:
        """Take a WhatsApp send request's destinations and schedule their status events; the answer's body."""
        wanted = parse_chat(body, self.config.max_per_request)
        with self._lock:
            chats = whatsapp.accept(wanted, self._campaign(wanted.campaign_alias), self.config)
            self._messages.update((c.id, c) for c in chats)
            self._last_chats.update((c.destination, c) for c in chats)
            self._stats.whatsapp_accepted += len(chats)
        request_id = self._log_accepted("whatsapp request", chats)
        self._later(self.config.sent_delay, self._emit_chats, chats, ())
        return {"id": request_id, "destinations": [
            {"id": c.id, **_correlation(c), "destination": c.destination} for c in chats]}

    def _campaign(self, alias: str | None) -> int | None:
        """The campaignId of a campaignAlias, numbered in order of first use; call with the lock held."""
        return None if alias is None else self._campaigns.setdefault(alias, len(self._campaigns) + 1)

    def _log_accepted(self, what: str, messages: Sequence[Message]) -> str:
        """Log a request's accepted messages (the texts at DEBUG only); the request's new id."""
        request_id = str(uuid.uuid4())
        log.log(self.config.request_log_level, "%s %s: %d messages accepted", what, request_id, len(messages))
        for m in messages:
            log.debug("%s %s: message %s to %s: %r", what, request_id, m.id, m.destination, m.text)
        return request_id

    def _authenticate(self, request: Request) -> Response | None:
        """None when the username and authenticationtoken headers are the configured ones, else the 401."""
        username = request.headers.get("username", "").encode()
        token = request.headers.get("authenticationtoken", "").encode()
        if hmac.compare_digest(username, self.config.username.encode()) & hmac.compare_digest(
                token, self.config.token.encode()):
            return None
        return _error(HTTPStatus.UNAUTHORIZED, "invalid username or authenticationtoken")

    def _fault(self) -> Response | None:
        """The answer a switched-on fault gives this send request, if any (counting it down)."""
        f = self.faults
        with self._lock:
            if f.status_code is not None and (f.count is None or f.count > 0):
                if f.count is not None:
                    f.count -= 1
                headers = {"Retry-After": f.retry_after} if f.retry_after else None
                return _error(f.status_code, _phrase(f.status_code), headers)
            if f.refuse_next > 0:
                f.refuse_next -= 1
                return _error(HTTPStatus.BAD_REQUEST, "the request was refused (fault injection)")
            if f.fail_share > 0 and self._random.random() < f.fail_share:
                return _error(HTTPStatus.SERVICE_UNAVAILABLE, _phrase(HTTPStatus.SERVICE_UNAVAILABLE))
        return None

    async def _hang_up(self, request: Request) -> None:
        """Close the connection `request` came on, so that its answer is lost."""
        assert self._server is not None and request.client is not None
        peer = (request.client.host, request.client.port)
        for connection in list(self._server.server_state.connections):  # uvicorn's protocol objects
            if getattr(connection, "client", None) == peer:
                connection.transport.close()
        await asyncio.sleep(0)  # uvicorn learns of the closing first, and then writes nothing

    async def _status_list(self, request: Request) -> Response:
        refused = self._authenticate(request)
        if refused is not None:
            return refused
        with self._lock:
            items = [self._unpolled.popleft() for _ in range(min(len(self._unpolled), self.config.list_limit))]
            self._stats.polls += 1
            self._stats.events_polled += len(items)
        return JSONResponse(items)

    async def _receive_list(self, request: Request) -> Response:
        """Mobile-originated messages: none yet."""
        return self._authenticate(request) or JSONResponse([])


def _correlation(m: Message) -> Event:
    """The correlationId of an answer's item, when the request gave one."""
    return {} if m.correlation_id is None else {"correlationId": m.correlation_id}


def _error(code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"errorCode": int(code), "errorMessage": message}, status_code=code, headers=headers)


def _phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return f"status {code}"


def _spawn(name: str, target: Callable[..., None], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    thread.start()
    return thread
