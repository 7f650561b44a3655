"""An SMPP 3.4 SMSC simulator that behaves like the provider's (binds, window, rate, receipts, faults).

Threads: one acceptor, one I/O thread per connection (it alone reads and writes its socket, so TLS is
safe) and one timer thread for delayed responses, receipts and redeliveries; they meet through queues.
Its settings, counters and per-connection records are in remessa.sandbox.smsc_state.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import heapq
import itertools
import logging
import queue
import select
import socket
import ssl
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from types import TracebackType

from remessa.simulators.smsc import pdu
from remessa.simulators.smsc.pdu import Pdu
from remessa.simulators.smsc.state import CLOSE, Delivery, Faults, Session, SmscConfig, Stats, Submitted

__all__ = ["Faults", "Smsc", "SmscConfig", "Stats", "Submitted"]

log = logging.getLogger(__name__)

POLL_SECONDS = 0.01
READ_SIZE = 256 * 1024
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python names it from 3.12 on
RECEIVERS = (pdu.BIND_RECEIVER, pdu.BIND_TRANSCEIVER)
TRANSMITTERS = (pdu.BIND_TRANSMITTER, pdu.BIND_TRANSCEIVER)


class Smsc:
    """The simulator: `with Smsc(SmscConfig()) as smsc:` then connect to `smsc.port`."""

    def __init__(self, config: SmscConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.faults = Faults()
        self._clock = clock
        # arrival times from the kernel (see _receive) when rating submits on the real clock
        self._kernel_times = clock is time.monotonic and (config.max_submits_per_second is not None
                                                           or config.account_rate is not None)
        self._lock = threading.Lock()
        self._stats = Stats()
        self._messages: dict[str, Submitted] = {}
        self._received: deque[Pdu] = deque(maxlen=10_000)
        self._sessions: dict[int, Session] = {}
        self._numbers = itertools.count(1)
        self._ids = itertools.count(1)  # decimal and hex message_ids
        self._account_last = float("-inf")  # when the last submit_sm was accepted (account_rate)
        self._spread = itertools.count()  # which bound receiver gets the next deliver_sm
        self._stopping = threading.Event()
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._timer_ready = threading.Condition(self._lock)
        self._threads: list[threading.Thread] = []
        self._listener: socket.socket | None = None
        self.port = 0

    # --- life cycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        listener = socket.create_server((self.config.host, self.config.port))
        listener.settimeout(POLL_SECONDS * 10)
        self._listener, self.port = listener, listener.getsockname()[1]
        for name, target in (("smsc-accept", self._accept_loop), ("smsc-timer", self._timer_loop)):
            self._spawn(name, target)
        log.info("sandbox SMSC listening on %s:%d", self.config.host, self.port)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            self._timer_ready.notify_all()
            sessions = list(self._sessions.values())
        for s in sessions:
            _shutdown(s.sock)
        for thread in self._threads:
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        log.info("sandbox SMSC on port %d stopped", self.port)

    def __enter__(self) -> Smsc:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # --- what tests look at and do --------------------------------------------------------------------
    def stats(self) -> Stats:
        with self._lock:
            return copy.deepcopy(self._stats)

    def messages(self) -> dict[str, Submitted]:
        with self._lock:
            return dict(self._messages)

    def received(self, command: str | None = None) -> list[Pdu]:
        """The PDUs clients sent, oldest first (the last 10,000), optionally of one command."""
        with self._lock:
            return [p for p in self._received if command is None or p.command == command]

    def bound(self) -> int:
        with self._lock:
            return sum(1 for s in self._sessions.values() if s.mode is not None and not s.unbinding)

    def send_mo(self, destination: str, text: str, source: str = "5511999990000") -> None:
        """Push a mobile-originated deliver_sm (esm_class 0) to a bound receiver, redelivered until acked."""
        try:
            body, coding = text.encode("latin-1"), 0
        except UnicodeEncodeError:
            body, coding = text.encode("utf-16-be"), 8
        fields: dict[str, pdu.Value] = {
            "source_addr_ton": 1, "source_addr_npi": 1, "source_addr": source, "dest_addr_ton": 1,
            "dest_addr_npi": 1, "destination_addr": destination, "data_coding": coding, "short_message": body}
        self._schedule(0, lambda: self._deliver(Delivery(fields, {})))

    def push_receipt(self, message_id: str, destination: str, stat: str = "DELIVRD") -> None:
        """Send a receipt for `message_id` as if this SMSC had accepted it (to replay or flood receipts)."""
        message = Submitted(message_id, "", destination, b"", 0, datetime.now(UTC))
        self._deliver(self._receipt(message, stat))

    def unbind_all(self) -> None:
        """Send an unbind to every bound client; each connection closes when its unbind_resp arrives."""
        with self._lock:
            sessions = [s for s in self._sessions.values() if s.mode is not None]
        for s in sessions:
            s.unbinding = True
            s.post(Pdu(pdu.UNBIND, next(s.sequence)))

    def send_command(self, command_id: int) -> None:
        """Send a bodiless PDU with `command_id` (e.g. one no SMPP 3.4 client knows) to every bound client."""
        with self._lock:
            sessions = [s for s in self._sessions.values() if s.mode is not None]
        for s in sessions:
            s.post(Pdu(command_id, next(s.sequence)))

    # --- threads ------------------------------------------------------------------------------------
    def _spawn(self, name: str, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, peer = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # answers go out as they are made
            if self._kernel_times:
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            s = Session(next(self._numbers), sock)
            with self._lock:
                self._sessions[s.number] = s
            log.debug("connection %d from %s:%d", s.number, *peer)
            self._spawn(f"smsc-conn-{s.number}", self._serve, s)

    def _timer_loop(self) -> None:
        while True:
            with self._lock:
                while not self._stopping.is_set():
                    wait = self._timers[0][0] - self._clock() if self._timers else None
                    if wait is not None and wait <= 0:
                        break
                    self._timer_ready.wait(wait)
                if self._stopping.is_set():
                    return
                _, _, action = heapq.heappop(self._timers)
            try:
                action()
            except Exception:
                log.exception("sandbox SMSC timer action failed")

    def _schedule(self, delay: float, action: Callable[[], None]) -> None:
        with self._lock:
            entry = (self._clock() + delay, next(self._numbers), action)
            heapq.heappush(self._timers, entry)
            if self._timers[0] is entry:  # the timer thread sleeps until the earliest; wake it only if earlier
                self._timer_ready.notify()

    def _serve(self, s: Session) -> None:
        try:
            s.sock.settimeout(5.0)
            if self.config.ssl_context is not None:
                s.sock = self.config.ssl_context.wrap_socket(s.sock, server_side=True)
            buffer = bytearray()
            while not self._stopping.is_set() and self._flush(s):
                pending = isinstance(s.sock, ssl.SSLSocket) and s.sock.pending() > 0
                if not pending:
                    readable = select.select([s.sock, s.wake_r], [], [], POLL_SECONDS * 10)[0]
                    if s.wake_r in readable:
                        s.wake_r.recv(4096)
                    if s.sock not in readable:
                        continue
                data, at = self._receive(s, buffer)
                if not data:
                    break
                buffer += data
                if not all(self._handle(s, frame, at) for frame in pdu.split_frames(buffer)):
                    break
        except pdu.PduError as exc:  # the stream cannot be re-framed: nack and hang up
            log.warning("connection %d: %s", s.number, exc)
            with contextlib.suppress(OSError):
                self._write(s, Pdu(pdu.GENERIC_NACK, 0, exc.status))
        except OSError as exc:
            log.debug("connection %d: %s", s.number, exc)
        finally:
            with self._lock:
                self._sessions.pop(s.number, None)
            s.sock.close()
            s.wake_r.close()
            s.wake_w.close()
            log.debug("connection %d closed", s.number)

    def _receive(self, s: Session, buffer: bytearray) -> tuple[bytes, float | None]:
        """Octets from the client, and when they reached this host (None: now).

        To enforce the rate the simulator must time arrivals, not its own reading, which a busy interpreter
        does tens of milliseconds late: on plain TCP it asks the kernel for each read's arrival time, and
        reads one PDU at a time so that a read never spans submits that arrived far apart.
        """
        if not self._kernel_times or isinstance(s.sock, ssl.SSLSocket):
            return s.sock.recv(READ_SIZE), None
        if len(buffer) < 4:
            want = 4 - len(buffer)
        else:
            want = max(1, struct.unpack_from(">I", buffer)[0] - len(buffer))
        data, ancillary, _, _ = s.sock.recvmsg(min(want, READ_SIZE), socket.CMSG_SPACE(16))
        for level, kind, raw in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(raw) >= 16:
                seconds, nanoseconds = struct.unpack_from("qq", raw)
                return data, self._clock() - (time.time() - (seconds + nanoseconds / 1e9))
        return data, None

    def _flush(self, s: Session) -> bool:
        """Write what other threads queued for this connection (in one write); False once it should close."""
        out: list[Pdu] = []
        open_ = True
        while open_:
            try:
                item = s.outbox.get_nowait()
            except queue.Empty:
                break
            open_ = item is not CLOSE
            if open_:
                assert isinstance(item, Pdu)
                out.append(item)
        self._write(s, *out)
        return open_

    def _write(self, s: Session, *pdus: Pdu) -> None:
        s.outstanding -= sum(1 for p in pdus if p.command_id == pdu.SUBMIT_SM | pdu.RESP)
        if pdus and not self.faults.black_hole:
            s.sock.sendall(b"".join(pdu.encode(p) for p in pdus))

    # --- protocol -----------------------------------------------------------------------------------
    def _handle(self, s: Session, frame: bytes, at: float | None = None) -> bool:
        """Act on one PDU from the client; False to close the connection."""
        try:
            p = pdu.decode(frame)
        except pdu.PduError as exc:
            log.warning("connection %d: %s", s.number, exc)
            s.post(Pdu(pdu.GENERIC_NACK, pdu.HEADER.unpack_from(frame)[3], exc.status))
            return True
        s.received += 1
        with self._lock:
            self._received.append(p)
        drop = self.faults.drop_after_pdus
        if drop is not None and s.received >= drop:
            log.info("connection %d: dropped after %d PDUs (fault)", s.number, s.received)
            return False
        if self.faults.black_hole:
            return True
        if p.command_id in (pdu.BIND_RECEIVER, pdu.BIND_TRANSMITTER, pdu.BIND_TRANSCEIVER):
            self._on_bind(s, p)
        elif p.command_id == pdu.SUBMIT_SM:
            self._on_submit(s, p, self._clock() if at is None else at)
        elif p.command_id == pdu.DELIVER_SM | pdu.RESP:
            self._on_deliver_resp(s, p)
        elif p.command_id == pdu.ENQUIRE_LINK:
            with self._lock:
                self._stats.enquire_links += 1
            self._respond(s, p)
        elif p.command_id == pdu.UNBIND:
            s.post(Pdu(pdu.UNBIND | pdu.RESP, p.sequence))
            s.post(CLOSE)
        elif p.command_id == pdu.UNBIND | pdu.RESP:
            return False
        elif p.command_id not in (pdu.ENQUIRE_LINK | pdu.RESP, pdu.GENERIC_NACK):
            self._respond(s, p, pdu.ESME_RINVCMDID, command_id=pdu.GENERIC_NACK)
        return True

    def _respond(self, s: Session, request: Pdu, status: int = pdu.ESME_ROK, *, command_id: int | None = None,
                 fields: Mapping[str, pdu.Value] | None = None, tlvs: Mapping[int, bytes] | None = None) -> None:
        resp = Pdu(command_id or request.command_id | pdu.RESP, request.sequence, status, fields or {}, tlvs or {})
        delay = self.faults.response_delay
        if delay > 0:
            self._schedule(delay, lambda: s.post(resp))
        else:
            s.post(resp)

    def _on_bind(self, s: Session, p: Pdu) -> None:
        cfg = self.config
        with self._lock:
            if self.faults.unanswered_binds > 0:
                self.faults.unanswered_binds -= 1
                return
        if s.mode is not None:
            status = pdu.ESME_RALYBND
        elif (self.faults.refuse_binds or p.text("system_id") != cfg.system_id or p.text("password") != cfg.password
              or (cfg.system_type is not None and p.text("system_type") != cfg.system_type)):
            status = pdu.ESME_RBINDFAIL
        else:
            status = pdu.ESME_ROK
        log.info("connection %d: %s as %r %s", s.number, p.command, p.text("system_id"),
                 "accepted" if status == pdu.ESME_ROK else f"refused (0x{status:02X})")
        resp = Pdu(p.command_id | pdu.RESP, p.sequence, status, {"system_id": cfg.smsc_id},
                   {pdu.TLV_SC_INTERFACE_VERSION: b"\x34"})
        with self._lock:  # bound and answered at once: a receipt (chosen under the lock) never precedes the answer
            if status == pdu.ESME_ROK:
                s.mode = p.command_id
                self._stats.binds_accepted += 1
                self._stats.max_outstanding[s.number] = 0
            else:
                self._stats.binds_refused += 1
            s.post(resp)

    def _on_submit(self, s: Session, p: Pdu, now: float) -> None:
        destination, text = p.text("destination_addr"), p.octets("short_message")
        s.outstanding += 1
        with self._lock:
            self._stats.submits += 1
            self._stats.submits_by_content[(destination, text)] += 1
            if s.number in self._stats.max_outstanding:
                self._stats.max_outstanding[s.number] = max(s.outstanding, self._stats.max_outstanding[s.number])
        if s.mode not in TRANSMITTERS:
            return self._respond(s, p, pdu.ESME_RINVBNDSTS)
        if self.faults.nack_submits is not None:
            return self._respond(s, p, self.faults.nack_submits, command_id=pdu.GENERIC_NACK)
        while s.recent and s.recent[0] <= now - (1.0 - self.config.rate_tolerance):
            s.recent.popleft()
        rate = self.config.max_submits_per_second
        if rate is not None and len(s.recent) >= rate:
            with self._lock:
                self._stats.throttled += 1
            return self._respond(s, p, pdu.ESME_RTHROTTLED)
        s.recent.append(now)
        for pattern, status in self.config.reject_destinations.items():
            if fnmatchcase(destination, pattern):
                return self._respond(s, p, status)
        with self._lock:
            if self.config.silent_after is not None and self._stats.accepted >= self.config.silent_after:
                return None  # the queue is full: it says nothing, as some SMSCs do
            spacing = 1.0 / self.config.account_rate if self.config.account_rate else 0.0
            if spacing and now < self._account_last + spacing - self.config.rate_tolerance / 10:
                self._stats.throttled += 1
                throttled = True
            else:
                throttled, self._account_last = False, now
                self._stats.accepted += 1
                message = Submitted(self._new_id(), p.text("source_addr"), destination, text,
                                    p.number("data_coding"), datetime.now(UTC))
                self._messages[message.message_id] = message
        if throttled:
            return self._respond(s, p, pdu.ESME_RTHROTTLED)
        log.log(self.config.submit_log_level, "connection %d: submit_sm to %s accepted as %s", s.number, destination,
                message.message_id)
        if not self.config.receipts_first:
            self._respond(s, p, fields={"message_id": message.message_id})
        if p.number("registered_delivery") & 0x03:
            final = "UNDELIV" if any(fnmatchcase(destination, pat) for pat in
                                     self.config.undeliverable_destinations) else "DELIVRD"
            for delay, stat in ((self.config.sent_receipt_delay, "ACCEPTD"),
                                (self.config.delivery_receipt_delay, final)):
                if self.config.receipts_first:
                    self._deliver(self._receipt(message, stat))
                else:
                    self._schedule(delay, functools.partial(self._deliver, self._receipt(message, stat)))
        if self.config.receipts_first:
            self._respond(s, p, fields={"message_id": message.message_id})
        return None

    def _new_id(self) -> str:
        """A message_id in the configured form (called under the lock)."""
        if self.config.ids == "uuid":
            return str(uuid.uuid4())
        number = next(self._ids)
        return str(number) if self.config.ids == "decimal" else f"{number:08x}"

    def _receipt(self, message: Submitted, stat: str) -> Delivery:
        sample = message.short_message[:20] if message.data_coding in (0, 1, 3) else b""
        fields, tlvs = pdu.receipt(message.message_id, stat, message.submitted_at, datetime.now(UTC),
                                   handset=message.destination, sender=message.source, sample=sample,
                                   vendor_nul=self.config.vendor_tlv_nul,
                                   vendor_value=self.config.vendor_tlv_value)
        return Delivery(fields, tlvs, message.message_id)

    def _deliver(self, d: Delivery) -> None:
        """Send `d` to a bound receiver (on the timer thread) and come back later to resend it unless acked."""
        if d.acked or self._stopping.is_set():
            return
        with self._lock:
            targets = [s for s in self._sessions.values() if s.mode in RECEIVERS and not s.unbinding]
            if targets:  # spread over the bound receivers, as the provider does
                s = targets[next(self._spread) % len(targets)]
                sequence = next(s.sequence)
                s.awaiting[sequence] = d
                self._stats.deliver_sm_sent += 1
                if d.message_id is not None:
                    self._stats.deliveries_by_message_id[d.message_id] += 1
        if targets:
            s.post(Pdu(pdu.DELIVER_SM, sequence, pdu.ESME_ROK, d.fields, d.tlvs))
        self._schedule(self.config.redeliver_after, lambda: self._deliver(d))

    def _on_deliver_resp(self, s: Session, p: Pdu) -> None:
        with self._lock:
            d = s.awaiting.pop(p.sequence, None)
            if d is not None and p.status == pdu.ESME_ROK and not d.acked:
                d.acked = True
                self._stats.deliver_sm_acked += 1


def _shutdown(sock: socket.socket) -> None:
    """Wake the thread blocked on `sock`; that thread closes it."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
