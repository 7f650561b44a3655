"""One SMPP bind: a thread that alone owns its socket (connect, bind, submit, read, enquire_link, reconnect).

smpplib connects and binds; after that this thread frames the stream itself (smpp_wire), reading only when
select() (or the TLS buffer) says data is there. Binds take jobs from the pool's shared queue when their window
and rate allow, so a slow or dropped bind leaves its share to the others; a job's parts stay on the bind that
took it, in order. The thread never waits on the database: the deliver_sm PDUs read together are handed
over together and answered once persisted (on the channel's hand-off thread); an answered submission keeps its
window slot until its outcome is committed, so what can be in doubt after a crash never exceeds the window.
Response timeouts are judged after reading what the socket holds; a bind whose submits go unanswered is
dropped, says so at WARNING, and binds again after a pause that grows while the silence lasts.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable

from smpplib.client import Client

from remessa.backoff import Backoff
from remessa.channels.smpp.job import Job
from remessa.channels.smpp.pacing import Pacer, PoolRate
from remessa.channels.smpp.session import BindConfig, BindRefused, close_session, open_session
from remessa.channels.smpp.wire import (
    DELIVER_SM,
    DELIVER_SM_RESP,
    ENQUIRE_LINK,
    ENQUIRE_LINK_RESP,
    ESME_RINVCMDID,
    ESME_ROK,
    GENERIC_NACK,
    HEADER,
    RESP,
    SUBMIT_SM_RESP,
    THROTTLING,
    UNBIND,
    UNBIND_RESP,
    BadFrame,
    Frames,
    header,
    submit_sm,
)

log = logging.getLogger(__name__)

RECV_SIZE = 256 * 1024


class Dead(Exception):
    """The connection is unusable; the bind reconnects."""


class Silent(Dead):
    """The SMSC stopped answering submits on this bind: it reconnects after a back-off that grows while the
    silence lasts (the other binds carry on)."""


class Bind:
    """A bind worker over the pool's `work` queue; `wake()` after adding work, `stop()` winds it down."""

    def __init__(self, number: int, config: BindConfig, work: deque[Job],
                 on_deliver: Callable[[list[bytes], Callable[[list[int]], None]], None],
                 pool: PoolRate | None = None) -> None:
        self.number = number
        self.config = config
        self._work = work  # shared by the pool's binds; deque.popleft is atomic
        self._on_deliver = on_deliver  # (deliver_sm bodies, reply): reply(statuses) once they are persisted
        self._answers: deque[tuple[int, bytes]] = deque()  # (session, deliver_sm_resp PDUs), by other threads
        self._session_number = 0  # answers made for an earlier connection are dropped
        self._settled: deque[int] = deque()  # answered slots whose outcome is committed (appended by others)
        self._unsettled = 0  # answered submissions whose outcome is not committed yet: they hold the window
        self._ready: deque[Job] = deque()  # owned by the thread: next parts and throttled retries first
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_w.setblocking(False)
        self._woken = False  # a wake-up byte is on its way: no need for another
        self._stop = threading.Event()
        self.bound = threading.Event()
        self.attempted = threading.Event()  # set after the first connection attempt, whatever its result
        self.last_error: BindRefused | None = None
        self._thread = threading.Thread(target=self._run, name=f"smpp-bind-{number}", daemon=True)
        self._client: Client | None = None
        self._inflight: dict[int, tuple[Job, float]] = {}
        self._pacer = Pacer(config.rate)
        self._pool = pool or PoolRate(config.rate)  # the account's rate, shared by the pool's binds
        self._silent = False  # the last session ended because the SMSC stopped answering submits
        self._answered = False  # the last session had a submit answered

    # --- other threads ----------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        if self._woken:  # one byte is enough until the thread has seen it (a syscall per answer was not)
            return
        self._woken = True
        try:
            self._wake_w.send(b"\0")
        except OSError:  # buffer full (already woken) or closed
            pass

    def settle_one(self) -> None:
        """An answer this bind read is committed: its window slot is free again (any thread)."""
        self._settled.append(1)
        self.wake()

    def stop(self, wait: float) -> None:
        """Stop taking work, let outstanding responses arrive (at most `wait` s), unbind, join."""
        self._stop.set()
        self.wake()
        self._thread.join(wait + self.config.response_timeout + 2.0)
        self._wake_r.close()
        self._wake_w.close()

    # --- the thread -------------------------------------------------------------------------------------
    def _run(self) -> None:
        # binds refused together do not retry together: pauses spread over 0.5-1.5 times the back-off
        backoff = Backoff(self.config.reconnect_min, self.config.reconnect_max, jitter=0.5)
        silence = Backoff(max(self.config.reconnect_min, self.config.response_timeout),
                          max(self.config.reconnect_max, 60.0), jitter=0.5)
        while not self._stop.is_set():
            try:
                self._connect()
            except BindRefused as exc:
                self.last_error = exc
                self.attempted.set()
                pause = backoff.failed()
                log.warning("smpp bind %d to %s:%d failed: %s; retrying in %.1f s",
                            self.number, self.config.host, self.config.port, exc, pause)
                self._stop.wait(pause)
                continue
            self.last_error = None
            backoff.succeeded()
            self.bound.set()
            self.attempted.set()
            self._answered = False
            reason = self._session()
            self.bound.clear()
            self._disconnect(reason)  # leaves nothing behind: in doubt, or back in the pool's queue
            if self._silent:
                pause = silence.failed()
                log.warning("smpp bind %d to %s:%d: no more submits on it for %.1f s, then binding again",
                            self.number, self.config.host, self.config.port, pause)
                self._stop.wait(pause)
            elif self._answered:
                silence.succeeded()

    def _connect(self) -> None:
        self._client = open_session(self.config, f"{__name__}.client")
        log.info("smpp bind %d bound to %s:%d", self.number, self.config.host, self.config.port)

    def _disconnect(self, reason: str) -> None:
        """Answers that can no longer come are in doubt; messages not started go back to the pool."""
        for job, _ in self._inflight.values():
            job.done(job, "in_doubt", None)
        self._inflight.clear()
        while self._ready:  # a message with parts accepted cannot continue on another connection
            job = self._ready.pop()
            if job.started:
                job.done(job, "in_doubt", None)
            else:
                self._work.appendleft(job)
        if self._client is not None:
            close_session(self._client)
            self._client = None
        if not self._stop.is_set():
            log.warning("smpp bind %d: %s; reconnecting", self.number, reason)

    def _session(self) -> str:
        """Serve one bound connection; return why it ended."""
        client = self._client
        assert client is not None
        sock: socket.socket = client._socket  # noqa: SLF001 - we read frames ourselves, see module doc
        cfg = self.config
        frames = Frames()
        self._session_number += 1
        self._silent = False
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
                        self._unbind(client, sock, frames)
                        return "closed"
                self._take_back(sock)
                if now - last_rx > 2 * cfg.enquire_link:
                    raise Dead(f"nothing received for {now - last_rx:.0f} s")
                if enquire_seq is not None and now - last_enquire > cfg.response_timeout:
                    raise Dead("enquire_link not answered")
                if enquire_seq is None and now - last_enquire >= cfg.enquire_link:
                    enquire_seq = client.next_sequence()
                    self._write(sock, header(ENQUIRE_LINK, enquire_seq))
                    last_enquire = now
                if stop_at is None:
                    self._submit_ready(client, sock, now)
                received = self._read(sock, frames, self._wait_time(now, last_rx, last_enquire, enquire_seq))
                if received:
                    last_rx = time.monotonic()
                    if enquire_seq is not None and any(
                            HEADER.unpack_from(f)[1] & RESP and HEADER.unpack_from(f)[3] == enquire_seq
                            for f in received):
                        enquire_seq = None
                    ended = self._handle(sock, received)
                    if ended:
                        return ended
                self._expire(time.monotonic())  # after reading: an answer that came is never timed out
        except Dead as exc:
            self._silent = isinstance(exc, Silent)
            return str(exc)
        except OSError as exc:
            return f"connection error: {exc}"

    def _take_back(self, sock: socket.socket) -> None:
        """Slots freed and deliver_sm answers made ready by the hand-off thread."""
        while self._settled:
            self._unsettled -= self._settled.popleft()
        answers = []
        while self._answers:
            number, answer = self._answers.popleft()
            if number == self._session_number:  # an answer for a lost connection: the SMSC sends it again
                answers.append(answer)
        if answers:
            self._write(sock, b"".join(answers))

    def _room(self) -> int:
        return self.config.window - len(self._inflight) - self._unsettled

    def _wait_time(self, now: float, last_rx: float, last_enquire: float, enquire_seq: int | None) -> float:
        cfg = self.config
        due = [last_rx + 2 * cfg.enquire_link, last_enquire + cfg.enquire_link]
        if enquire_seq is not None:
            due.append(last_enquire + cfg.response_timeout)
        if self._inflight:
            due.append(min(sent for _, sent in self._inflight.values()) + cfg.response_timeout)
        if (self._ready or self._work) and self._room() > 0:
            due.append(max(self._pacer.ready_at(), self._pool.ready_at()))
        if self._stop.is_set():
            due.append(now + 0.05)
        return max(0.0, min(due) - now)

    def _next_job(self) -> Job | None:
        while True:
            if self._ready:
                job = self._ready.popleft()
            else:
                try:
                    job = self._work.popleft()
                except IndexError:
                    return None
            if job.claim():
                return job

    def _submit_ready(self, client: Client, sock: socket.socket, now: float) -> None:
        pacer, pool, out = self._pacer, self._pool, []
        while self._room() > 0 and now >= pacer.ready_at() and now >= pool.ready_at():
            job = self._next_job()
            if job is None:
                break
            sequence = client.next_sequence()
            self._inflight[sequence] = (job, now)
            out.append(submit_sm(job.head, job.parts[len(job.ids)], sequence))
            pacer.sent(now)
            pool.sent(now)
        if out:
            self._write(sock, b"".join(out))
            pacer.written(len(out), time.monotonic())

    def _expire(self, now: float) -> None:
        """Submits unanswered for response_timeout are in doubt, and the bind is given up: an SMSC that stops
        answering (a full queue) must not be fed a window after another."""
        timeout = self.config.response_timeout
        late = [seq for seq, (_, sent) in self._inflight.items() if now - sent > timeout]
        if not late:
            return
        unanswered = len(self._inflight)
        for job, _ in self._inflight.values():  # the later ones too: nothing is answered on this bind any more
            job.done(job, "no_response", None)
        self._inflight.clear()
        raise Silent(f"{unanswered} submit_sm unanswered, the oldest for {timeout:g} s: the SMSC stopped answering")

    def _read(self, sock: socket.socket, frames: Frames, wait: float) -> list[bytes]:
        """The whole PDUs readable now (waiting at most `wait` s for data); a PDU cut short is fatal."""
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        if not pending:
            readable, _, _ = select.select([sock, self._wake_r], [], [], wait)
            if self._wake_r in readable:
                self._wake_r.recv(4096)
                # after draining, not before: a wake() between the two would leave the flag set with no byte
                # on its way, and every later wake() would be lost. A wake() that sees the flag still set
                # changed its state before, and the loop looks at that state before it selects again.
                self._woken = False
            if sock not in readable:
                return []
        received: list[bytes] = []
        try:
            while True:
                try:
                    data = sock.recv(RECV_SIZE)
                except TimeoutError:
                    raise Dead("PDU cut short (timeout mid-PDU)") from None
                if not data:
                    raise Dead("connection closed by the SMSC")
                received += frames.feed(data)
                if not frames.partial and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
                    return received
        except BadFrame as exc:
            raise Dead(str(exc)) from None

    def _write(self, sock: socket.socket, data: bytes) -> None:
        try:
            sock.sendall(data)
        except OSError as exc:
            raise Dead(f"write failed: {exc}") from None

    def _handle(self, sock: socket.socket, received: list[bytes]) -> str:
        """Act on the PDUs read together; a non-empty return ends the session with that reason."""
        delivers: list[tuple[int, bytes]] = []
        answers: list[bytes] = []
        ended = ""
        for frame in received:
            _, command, status, seq = HEADER.unpack_from(frame)
            if command in (SUBMIT_SM_RESP, GENERIC_NACK):
                entry = self._inflight.pop(seq, None)
                if entry is not None:
                    self._on_submit_resp(*entry, status, frame[16:], nack=command == GENERIC_NACK)
                elif command == SUBMIT_SM_RESP:
                    log.debug("smpp bind %d: late submit_sm_resp %d ignored", self.number, seq)
            elif command == DELIVER_SM:
                delivers.append((seq, frame[16:]))
            elif command == ENQUIRE_LINK:
                answers.append(header(ENQUIRE_LINK_RESP, seq))
            elif command == UNBIND:
                answers.append(header(UNBIND_RESP, seq))
                ended = "the SMSC unbound"
                break
            elif not command & RESP:
                answers.append(header(GENERIC_NACK, seq, ESME_RINVCMDID))
        if delivers:  # persisted together (on the hand-off thread) before any is acknowledged
            sequences, number = [seq for seq, _ in delivers], self._session_number

            def reply(statuses: list[int]) -> None:
                self._answers.append((number, b"".join(header(DELIVER_SM_RESP, seq, status, b"\0")
                                              for seq, status in zip(sequences, statuses, strict=True))))
                self.wake()

            self._on_deliver([body for _, body in delivers], reply)
        if answers:
            self._write(sock, b"".join(answers))
        return ended

    def _on_submit_resp(self, job: Job, sent: float, status: int, body: bytes, nack: bool) -> None:
        self._answered = True
        if status in THROTTLING:  # the pool slows down; the same part goes again, first, in the order sent
            self._pool.throttled(sent, time.monotonic())
            job.pending = False
            self._ready.append(job)
            return
        self._pool.accepted(time.monotonic())
        if status != ESME_ROK or nack:
            job.pending = False
            self._hold(job)
            job.done(job, "refused", status)
            return
        job.ids.append(body.split(b"\0", 1)[0].decode("ascii", "replace").strip().lower())
        job.pending = False  # after the id: whoever looks sees it started
        if len(job.ids) < len(job.parts):
            job.done(job, "part", None)  # its receipts may come before the last part's answer
            self._ready.appendleft(job)  # claim() stops it here if send() gave up meanwhile
        else:
            self._hold(job)
            job.done(job, "ok", None)

    def _hold(self, job: Job) -> None:
        """The answer to `job` keeps its window slot until the hand-off thread has committed it."""
        self._unsettled += 1
        job.settle = self.settle_one

    def _unbind(self, client: Client, sock: socket.socket, frames: Frames) -> None:
        try:
            self._write(sock, header(UNBIND, client.next_sequence()))
            deadline = time.monotonic() + min(1.0, self.config.response_timeout)
            while (left := deadline - time.monotonic()) > 0:
                received = self._read(sock, frames, left)
                self._handle(sock, received)  # answers read together with the unbind_resp still count
                if any(HEADER.unpack_from(f)[1] == UNBIND_RESP for f in received):
                    return
        except (Dead, OSError):
            pass

