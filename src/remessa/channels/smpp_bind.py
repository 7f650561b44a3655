"""One SMPP bind: a thread that alone owns its socket (connect, bind, submit, read, enquire_link, reconnect).

smpplib connects, binds and builds submit_sm; frames are read here, only when select() says data is there, and
deliver_sm is decoded here into raw TLV octets (smpplib's process-global TLV tables drop or truncate them).
"""

from __future__ import annotations

import logging
import queue
import select
import socket
import ssl
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import smpplib.consts
import smpplib.exceptions
import smpplib.smpp
from smpplib.client import Client

log = logging.getLogger(__name__)

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
RESP = 0x80000000
GENERIC_NACK = 0x80000000
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
ESME_ROK = 0x00
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RSYSERR = 0x08
ESME_RMSGQFUL = 0x14
ESME_RTHROTTLED = 0x58
THROTTLING = (ESME_RTHROTTLED, ESME_RMSGQFUL)
BAD_CREDENTIALS = (0x0D, 0x0E, 0x0F)  # ESME_RBINDFAIL, ESME_RINVPASWD, ESME_RINVSYSID
MAX_PDU = 64 * 1024

STATUS_NAMES: dict[int, str] = {
    value: name.removeprefix("SMPP_") for name, value in vars(smpplib.consts).items()
    if name.startswith("SMPP_ESME_") and isinstance(value, int)
}


def status_name(status: int) -> str:
    """`ESME_RINVDSTADR` for 0x0B; `0x000000C1` for a status smpplib does not name."""
    return STATUS_NAMES.get(status, f"0x{status:08X}")


class Dead(Exception):
    """The connection is unusable; the bind reconnects."""


class BindRefused(Exception):
    """The SMSC or TLS refused us; `permanent` when retrying cannot help (credentials, certificate)."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(eq=False)
class Job:
    """One message on its way through one bind: its parts are submitted one after the other, in order."""

    message_id: int
    destination: str
    parts: list[bytes]
    fields: dict[str, Any]  # submit_sm fields shared by every part
    done: Callable[[Job, str, int | None], None]  # (job, kind, status): kind ok | refused | in_doubt | ...
    ids: list[str] = field(default_factory=list)  # message_id of each acknowledged part
    abandoned: bool = False  # send() stopped waiting: do not start more parts

    @property
    def started(self) -> bool:
        return bool(self.ids)


@dataclass(frozen=True)
class BindConfig:
    """What a bind needs from SmppSettings (kept apart so this module does not import the channel)."""

    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    window: int
    rate: float
    enquire_link: float
    response_timeout: float
    reconnect_min: float
    reconnect_max: float
    ssl_context: ssl.SSLContext | None


class _TlsClient(Client):  # type: ignore[misc]
    """smpplib wraps the socket without server_hostname (so verification cannot work); pass it."""

    def _create_socket(self) -> socket.socket:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(self.timeout)
        return self._ssl_context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[no-any-return]


class Bind:
    """A bind worker; `submit(job)` hands it work from any thread, `stop()` winds it down."""

    def __init__(self, number: int, config: BindConfig, on_deliver: Callable[[bytes], int]) -> None:
        self.number = number
        self.config = config
        self._on_deliver = on_deliver  # deliver_sm body -> deliver_sm_resp status
        self._inbox: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._ready: deque[Job] = deque()  # owned by the thread: continuations and retries first
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._stop = threading.Event()
        self.bound = threading.Event()
        self.attempted = threading.Event()  # set after the first connection attempt, whatever its result
        self.last_error: BindRefused | None = None
        self._thread = threading.Thread(target=self._run, name=f"smpp-bind-{number}", daemon=True)
        self._client: Client | None = None
        self._inflight: dict[int, tuple[Job, float]] = {}
        self._next_send = 0.0
        self._backoff = 0.0
        self._pause_until = 0.0

    # --- other threads ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        self._inbox.put(job)
        self._wake()

    def stop(self, wait: float) -> None:
        """Stop taking work, let outstanding responses arrive (at most `wait` s), unbind, join."""
        self._stop.set()
        self._wake()
        self._thread.join(wait + self.config.response_timeout + 2.0)
        self._drain_inbox("channel closed")
        self._wake_r.close()
        self._wake_w.close()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:  # buffer full (already woken) or closed
            pass

    # --- the thread -------------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.config.reconnect_min
        while not self._stop.is_set():
            try:
                self._connect()
            except BindRefused as exc:
                self.last_error = exc
                self.attempted.set()
                log.warning("smpp bind %d to %s:%d failed: %s; retrying in %.0f s",
                            self.number, self.config.host, self.config.port, exc, delay)
                self._stop.wait(delay)
                delay = min(self.config.reconnect_max, delay * 2)
                continue
            self.last_error = None
            delay = self.config.reconnect_min
            self.bound.set()
            self.attempted.set()
            reason = self._session()
            self.bound.clear()
            self._disconnect(reason)
        self._drain_ready("channel closed")

    def _connect(self) -> None:
        cfg = self.config
        factory = _TlsClient if cfg.ssl_context is not None else Client
        client = factory(cfg.host, cfg.port, timeout=cfg.response_timeout, ssl_context=cfg.ssl_context,
                         allow_unknown_opt_params=True, logger_name=f"{__name__}.client")
        try:
            client.connect()
        except smpplib.exceptions.ConnectionError as exc:
            client.disconnect()
            cause = exc.__context__
            if isinstance(cause, ssl.SSLCertVerificationError):
                raise BindRefused(f"TLS certificate of {cfg.host} not trusted: {cause.verify_message}",
                                  permanent=True) from None
            raise BindRefused(f"cannot connect to {cfg.host}:{cfg.port}: {cause or exc}", permanent=False) from None
        try:
            client.bind_transceiver(system_id=cfg.system_id, password=cfg.password, system_type=cfg.system_type,
                                    addr_ton=0, addr_npi=0)
        except smpplib.exceptions.PDUError as exc:
            client.disconnect()
            status = int(exc.args[1]) if len(exc.args) > 1 else 0
            raise BindRefused(f"bind_transceiver as {cfg.system_id!r} refused with {status_name(status)}",
                              permanent=status in BAD_CREDENTIALS) from None
        except (smpplib.exceptions.ConnectionError, OSError) as exc:
            client.disconnect()
            raise BindRefused(f"no bind_transceiver_resp from {cfg.host}:{cfg.port} ({exc or 'timeout'})",
                              permanent=False) from None
        self._client = client
        log.info("smpp bind %d bound to %s:%d", self.number, cfg.host, cfg.port)

    def _disconnect(self, reason: str) -> None:
        for job, _ in self._inflight.values():
            job.done(job, "in_doubt", None)
        self._inflight.clear()
        kept: deque[Job] = deque()
        for job in self._ready:  # a message with parts accepted cannot continue on another connection
            if job.started:
                job.done(job, "in_doubt", None)
            else:
                kept.append(job)
        self._ready = kept
        if self._client is not None:
            self._client.state = smpplib.consts.SMPP_CLIENT_STATE_OPEN  # unbound or dead: no smpplib warning
            self._client.disconnect()
            self._client = None
        if not self._stop.is_set():
            log.warning("smpp bind %d: %s; reconnecting", self.number, reason)

    def _session(self) -> str:
        """Serve one bound connection; return why it ended."""
        client = self._client
        assert client is not None
        sock: socket.socket = client._socket  # noqa: SLF001 - we read frames ourselves, see module doc
        cfg = self.config
        now = time.monotonic()
        last_rx = last_enquire = now
        enquire_seq: int | None = None
        stop_at: float | None = None
        try:
            while True:
                now = time.monotonic()
                if self._stop.is_set():
                    stop_at = stop_at or now + cfg.response_timeout
                    if not self._inflight or now >= stop_at:
                        self._unbind(client, sock)
                        return "closed"
                if now - last_rx > 2 * cfg.enquire_link:
                    raise Dead(f"nothing received for {now - last_rx:.0f} s")
                if enquire_seq is not None and now - last_enquire > cfg.response_timeout:
                    raise Dead("enquire_link not answered")
                self._expire(now)
                if enquire_seq is None and now - last_enquire >= cfg.enquire_link:
                    enquire_seq = client.next_sequence()
                    self._write(sock, HEADER.pack(16, ENQUIRE_LINK, 0, enquire_seq))
                    last_enquire = now
                if stop_at is None:
                    self._submit_ready(client, sock, now)
                for frame in self._frames(sock, self._wait_time(now, last_rx, last_enquire, enquire_seq)):
                    last_rx = time.monotonic()
                    ended = self._handle(sock, frame)
                    _, command, _, seq = HEADER.unpack_from(frame)
                    if command & RESP and seq == enquire_seq:
                        enquire_seq = None
                    if ended:
                        return ended
        except Dead as exc:
            return str(exc)
        except OSError as exc:
            return f"connection error: {exc}"

    def _wait_time(self, now: float, last_rx: float, last_enquire: float, enquire_seq: int | None) -> float:
        cfg = self.config
        due = [last_rx + 2 * cfg.enquire_link, last_enquire + cfg.enquire_link]
        if enquire_seq is not None:
            due.append(last_enquire + cfg.response_timeout)
        due += [sent + cfg.response_timeout for _, sent in self._inflight.values()]
        if self._has_work() and len(self._inflight) < cfg.window:
            due.append(max(self._next_send, self._pause_until))
        if self._stop.is_set():
            due.append(now + 0.05)
        return max(0.0, min(due) - now)

    def _has_work(self) -> bool:
        return bool(self._ready) or not self._inbox.empty()

    def _next_job(self) -> Job | None:
        while True:
            if self._ready:
                job = self._ready.popleft()
            else:
                try:
                    job = self._inbox.get_nowait()
                except queue.Empty:
                    return None
            if not job.abandoned:
                return job

    def _submit_ready(self, client: Client, sock: socket.socket, now: float) -> None:
        interval = 1.0 / self.config.rate
        while len(self._inflight) < self.config.window and now >= self._pause_until and now >= self._next_send:
            job = self._next_job()
            if job is None:
                return
            p = smpplib.smpp.make_pdu("submit_sm", client=client, short_message=job.parts[len(job.ids)],
                                      **job.fields)
            p.sequence = client.next_sequence()
            self._inflight[p.sequence] = (job, now)
            self._write(sock, p.generate())
            # even spacing rather than a bucket: never more than `rate` submits in any one-second span
            self._next_send = now + interval

    def _expire(self, now: float) -> None:
        late = [seq for seq, (_, sent) in self._inflight.items() if now - sent > self.config.response_timeout]
        for seq in late:
            job, _ = self._inflight.pop(seq)
            job.done(job, "no_response", None)

    def _frames(self, sock: socket.socket, wait: float) -> list[bytes]:
        """The frames readable now (waiting at most `wait` s for the first); a partial frame is fatal."""
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if not pending:
            readable, _, _ = select.select([sock, self._wake_r], [], [], wait)
            if self._wake_r in readable:
                self._wake_r.recv(4096)
            if sock not in readable:
                return []
        header = self._recv(sock, 4)
        (length,) = struct.unpack(">I", header)
        if not 16 <= length <= MAX_PDU:
            raise Dead(f"bad command_length {length}")
        return [header + self._recv(sock, length - 4)]

    def _recv(self, sock: socket.socket, size: int) -> bytes:
        chunks, got = [], 0
        while got < size:
            try:
                chunk = sock.recv(size - got)
            except TimeoutError:
                raise Dead("PDU cut short (timeout mid-PDU)") from None
            if not chunk:
                raise Dead("connection closed by the SMSC")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _write(self, sock: socket.socket, data: bytes) -> None:
        try:
            sock.sendall(data)
        except OSError as exc:
            raise Dead(f"write failed: {exc}") from None

    def _handle(self, sock: socket.socket, frame: bytes) -> str:
        """Act on one frame; a non-empty return ends the session with that reason."""
        _, command, status, seq = HEADER.unpack_from(frame)
        if command in (SUBMIT_SM_RESP, GENERIC_NACK):
            entry = self._inflight.pop(seq, None)
            if entry is None:
                if command == SUBMIT_SM_RESP:
                    log.debug("smpp bind %d: late submit_sm_resp %d ignored", self.number, seq)
                return ""
            self._on_submit_resp(entry[0], status, frame[16:], nack=command == GENERIC_NACK)
        elif command == DELIVER_SM:
            answer = self._on_deliver(frame[16:])
            self._write(sock, HEADER.pack(17, DELIVER_SM_RESP, answer, seq) + b"\0")
        elif command == ENQUIRE_LINK:
            self._write(sock, HEADER.pack(16, ENQUIRE_LINK_RESP, 0, seq))
        elif command == UNBIND:
            self._write(sock, HEADER.pack(16, UNBIND_RESP, 0, seq))
            return "the SMSC unbound"
        elif not command & RESP:
            self._write(sock, HEADER.pack(16, GENERIC_NACK, ESME_RINVCMDID, seq))
        return ""

    def _on_submit_resp(self, job: Job, status: int, body: bytes, nack: bool) -> None:
        if status in THROTTLING:
            self._backoff = min(2.0, max(0.05, self._backoff * 2))
            self._pause_until = time.monotonic() + self._backoff
            self._ready.appendleft(job)  # the same part again: parts stay in order
            log.debug("smpp bind %d: %s, pausing %.2f s", self.number, status_name(status), self._backoff)
            return
        self._backoff = self._backoff / 2 if self._backoff > 0.05 else 0.0  # recovers as answers come
        if status != ESME_ROK or nack:
            job.done(job, "refused", status)
            return
        job.ids.append(body.split(b"\0", 1)[0].decode("ascii", "replace").strip().lower())
        if len(job.ids) < len(job.parts):
            if job.abandoned:
                job.done(job, "in_doubt", None)
            else:
                self._ready.appendleft(job)
        else:
            job.done(job, "ok", None)

    def _unbind(self, client: Client, sock: socket.socket) -> None:
        try:
            self._write(sock, HEADER.pack(16, UNBIND, 0, client.next_sequence()))
            deadline = time.monotonic() + min(1.0, self.config.response_timeout)
            while (left := deadline - time.monotonic()) > 0:
                for frame in self._frames(sock, left):
                    if HEADER.unpack_from(frame)[1] == UNBIND_RESP:
                        return
                    self._handle(sock, frame)
        except (Dead, OSError):
            pass

    def _drain_ready(self, reason: str) -> None:
        while self._ready:
            job = self._ready.popleft()
            job.done(job, "in_doubt" if job.started else "not_sent", None)

    def _drain_inbox(self, reason: str) -> None:
        while True:
            try:
                job = self._inbox.get_nowait()
            except queue.Empty:
                return
            job.done(job, "not_sent", None)
