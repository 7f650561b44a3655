"""The SMPP 3.4 channel: a pool of transceiver binds (seed 002, "API SMPP"), each its own thread (smpp_bind).

send() encodes and splits each message (smpp_text), puts it on the pool's queue, which every bound bind takes
from, and waits for every outcome. Each outcome is reported (persisted) as it arrives, on the channel's hand-off
thread, and send() returns once all are; receipts and MO messages from deliver_sm go to the sink on that thread
too, and are acknowledged to the SMSC only after. No bind thread waits on the database.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from remessa.channels.base import ReceiptSink, Report
from remessa.channels.handoff import Handoff
from remessa.channels.smpp import text as smpp_text
from remessa.channels.smpp.bind import Bind
from remessa.channels.smpp.ids import IdForms
from remessa.channels.smpp.job import Job
from remessa.channels.smpp.pacing import PoolRate
from remessa.channels.smpp.receipt import RECEIPTED_MESSAGE_ID, is_receipt, receipt_from_deliver, tlv_str
from remessa.channels.smpp.session import BindConfig
from remessa.channels.smpp.settings import SmppSettings, validity_period
from remessa.channels.smpp.wire import (
    ESME_RINVCMDLEN,
    ESME_ROK,
    ESME_RSYSERR,
    Deliver,
    decode_deliver,
    status_name,
    submit_head,
)
from remessa.errors import PermanentFailure, TemporaryFailure
from remessa.model import SENT_CODES, Accepted, Inbound, InDoubt, Outcome, OutgoingMessage, Receipt, Rejected

log = logging.getLogger(__name__)

#: submit-time statuses that name the same fault as one of the provider's sent codes (so reports agree
#: whichever channel refused the message).
PROVIDER_CODES = {0x0B: 202}  # ESME_RINVDSTADR -> 202 INVALID_DESTINATION_NUMBER
#: submit-time statuses that may succeed if the message is sent again later.
TEMPORARY_STATUSES = {0x04, 0x08, 0x14, 0x58, 0x64}  # RINVBNDSTS RSYSERR RMSGQFUL RTHROTTLED RX_T_APPN


def refusal(message_id: int, status: int) -> Rejected:
    """The Rejected for a submit_sm_resp error `status`."""
    code = PROVIDER_CODES.get(status)
    if code is not None:
        return Rejected(message_id, f"{code} {SENT_CODES[code]}", permanent=True, code=code)
    return Rejected(message_id, status_name(status), permanent=status not in TEMPORARY_STATUSES)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class _Call:
    """The jobs of one send() call and a condition to wait for their outcomes."""

    def __init__(self, count: int, report: Report | None) -> None:
        self.outcomes: dict[int, Outcome] = {}  # by position in the call
        self.count = count
        self.report = report
        self.stored = 0  # outcomes the hand-off thread has persisted
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)

    def one_stored(self) -> None:
        with self.changed:
            self.stored += 1
            self.changed.notify_all()


class _Answer:
    """The deliver_sm_resp statuses of PDUs read together, replied once every write they wait for is over."""

    def __init__(self, statuses: list[int], writes: int, reply: Callable[[list[int]], None]) -> None:
        self._statuses, self._writes, self._reply = statuses, writes, reply
        self._lock = threading.Lock()
        if not writes:
            reply(statuses)

    def heard(self, positions: list[int], stored: bool) -> None:
        """The write of the PDUs at `positions` is over; a refused one asks the SMSC to send it again."""
        with self._lock:
            for n in positions:
                if not stored:
                    self._statuses[n] = ESME_RSYSERR
            self._writes -= 1
            last = self._writes == 0
        if last:
            self._reply(self._statuses)


OPEN_GRACE = 0.5  # s: once one bind is up, how long open() waits for the others' first answer


class SmppChannel:
    """A Channel over a pool of SMPP transceiver binds; see SmppSettings."""

    def __init__(self, settings: SmppSettings, *, spool: Path | None = None,
                 clock: Callable[[], datetime] = _utc_now) -> None:
        self.settings = settings
        self._clock = clock
        self._zone = settings.zone()  # of the dates in receipt texts
        self._binds: list[Bind] = []
        self._handoff: Handoff | None = None
        self._references = smpp_text.References()
        self._ids = IdForms()  # the form of this provider's ids, to read the ids its receipts carry
        self._work: deque[Job] = deque()  # taken by whichever bind has room: see smpp_bind
        self._state = "new"  # new | open | closed

    # --- Channel ------------------------------------------------------------------------------------------
    def open(self, sink: ReceiptSink) -> None:
        """Start the binds; return after each has tried once, if at least one is bound.

        Raises PermanentFailure when every bind is refused for good (credentials, TLS certificate),
        TemporaryFailure when none could bind within response_timeout (refused connection, no answer).
        """
        if self._state != "new":
            raise RuntimeError("an SMPP channel is opened once")
        self._handoff = Handoff(sink, "smpp")
        self._state = "open"
        config = self._bind_config()
        where = f"smpp {self.settings.host}:{self.settings.port}"
        pool = PoolRate(self.settings.rate * self.settings.binds, where)  # the account's quota, learned
        self._binds = [Bind(n, config, self._work, self._deliver, pool) for n in range(1, self.settings.binds + 1)]
        for bind in self._binds:
            bind.start()
        deadline = time.monotonic() + self.settings.response_timeout + 1.0
        # until every bind has tried once, or some are bound and the rest are slow to answer: those join
        # when they bind (work goes to whichever bind has room), the others need not wait for them
        grace: float | None = None
        while not all(b.attempted.is_set() for b in self._binds) and time.monotonic() < deadline:
            if grace is None and any(b.bound.is_set() for b in self._binds):
                grace = time.monotonic() + OPEN_GRACE
            if grace is not None and time.monotonic() >= grace:
                break
            time.sleep(0.01)
        if not any(b.bound.is_set() for b in self._binds):
            errors = [b.last_error for b in self._binds if b.last_error is not None]
            self.close()
            if errors and all(e.permanent for e in errors):
                raise PermanentFailure(f"SMPP provider {self.settings.host}:{self.settings.port}: {errors[0]}")
            detail = errors[0] if errors else "no bind_transceiver_resp in time"
            raise TemporaryFailure(f"SMPP provider {self.settings.host}:{self.settings.port}: {detail}")
        bound = sum(b.bound.is_set() for b in self._binds)
        log.info("smpp channel open to %s:%d: %d of %d binds bound", self.settings.host, self.settings.port,
                 bound, len(self._binds))

    def send(self, messages: Sequence[OutgoingMessage], report: Report | None = None) -> list[Outcome]:
        """Submit `messages` over the bound binds; one Outcome per message, in order, each handed to
        `report` as it arrives (in groups); returns once every outcome is reported.

        Raises TemporaryFailure when closed or when no bind is up within response_timeout,
        PermanentFailure when every bind is refused for good.
        """
        if self._state != "open":
            raise TemporaryFailure(f"SMPP channel is {'closed' if self._state == 'closed' else 'not open'}")
        if not messages:
            return []
        self._live_binds()
        call = _Call(len(messages), report)
        jobs = [self._job(message, call, position) for position, message in enumerate(messages)]
        self._work.extend(job for job in jobs if job is not None)
        for bind in self._binds:
            bind.wake()
        self._wait(call, jobs, messages)
        with call.changed:  # a database that stalls holds us here; the binds stop at their windows
            while call.stored < call.count:
                call.changed.wait()
        return [call.outcomes[i] for i in range(len(messages))]

    def close(self) -> None:
        """Stop taking work, wait (at most response_timeout) for outstanding answers, unbind; idempotent."""
        if self._state == "closed":
            return
        self._state = "closed"
        stoppers = [threading.Thread(target=b.stop, args=(self.settings.response_timeout,), name="smpp-close")
                    for b in self._binds]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join()
        while self._work:
            job = self._work.popleft()
            job.done(job, "not_sent", None)
        if self._handoff is not None:
            self._handoff.close(self.settings.response_timeout)
        log.info("smpp channel to %s:%d closed", self.settings.host, self.settings.port)

    # --- sending ------------------------------------------------------------------------------------------
    def _bind_config(self) -> BindConfig:
        s = self.settings
        context = None
        if s.tls:
            context = ssl.create_default_context(cafile=s.ca_file or None)
        return BindConfig(s.host, s.port, s.system_id, s.password, s.system_type, s.window, s.rate,
                          s.enquire_link, s.response_timeout, s.reconnect_min, s.reconnect_max, context)

    def _live_binds(self) -> list[Bind]:
        """The bound binds, waiting up to response_timeout for one; raises as send() says."""
        deadline = time.monotonic() + self.settings.response_timeout
        while True:
            live = [b for b in self._binds if b.bound.is_set()]
            if live:
                return live
            errors = [b.last_error for b in self._binds if b.last_error is not None]
            if errors and len(errors) == len(self._binds) and all(e.permanent for e in errors):
                raise PermanentFailure(f"SMPP provider {self.settings.host}:{self.settings.port}: {errors[0]}")
            if time.monotonic() > deadline:
                raise TemporaryFailure(f"SMPP provider {self.settings.host}:{self.settings.port}: no bind up"
                                       f" ({errors[0] if errors else 'reconnecting'})")
            time.sleep(0.01)

    def _job(self, message: OutgoingMessage, call: _Call, position: int) -> Job | None:
        """The Job for `message`, or None after recording its Rejected (it cannot go over SMPP)."""
        s = self.settings
        if message.kind != "sms":
            call.outcomes[position] = Rejected(message.id, f"SMPP carries SMS only, not {message.kind}")
            return None
        try:
            transliterate = s.transliterate if message.transliterate is None else message.transliterate
            encoding, text = smpp_text.choose(message.text, message.encoding or s.encoding, transliterate,
                                              message.flash)
            parts = smpp_text.split(text, encoding, 0, s.sixteen_bit_reference)
            if len(parts) > 1:
                reference = self._references.next(message.destination, s.sixteen_bit_reference)
                parts = smpp_text.split(text, encoding, reference, s.sixteen_bit_reference)
            coding = smpp_text.data_coding(encoding, message.flash)
        except ValueError as exc:
            call.outcomes[position] = Rejected(message.id, f"text cannot be sent: {exc}")
            return None
        ton, npi = s.source()
        try:
            head = submit_head({
                "source_addr_ton": ton, "source_addr_npi": npi, "source_addr": s.source_addr,
                "dest_addr_ton": s.dest_ton, "dest_addr_npi": s.dest_npi, "destination_addr": message.destination,
                "esm_class": smpp_text.ESM_CLASS_UDHI if len(parts) > 1 else 0, "data_coding": coding,
                "validity_period": validity_period(s.validity_hours),
                "registered_delivery": 1 if s.registered_delivery else 0,
            })
        except ValueError as exc:
            call.outcomes[position] = Rejected(message.id, f"cannot be addressed over SMPP: {exc}")
            return None

        def done(job: Job, kind: str, status: int | None) -> None:
            self._finish(call, position, message, job, kind, status)

        return Job(message.id, head, parts, done, call.lock)

    def _finish(self, call: _Call, position: int, message: OutgoingMessage, job: Job, kind: str,
                status: int | None) -> None:
        """Record the outcome of one job (first report wins); called on bind threads and by _wait."""
        if kind == "part":  # every part's id is stored with the message's outcome (receipts match in the store)
            return
        where = f"{self.settings.host}:{self.settings.port}"
        if kind == "ok":
            ids = tuple(job.ids)
            self._ids.learn(ids)
            outcome: Outcome = Accepted(message.id, ids[0], parts=len(ids), part_ids=ids if len(ids) > 1 else ())
        elif kind == "refused" and status is not None:
            outcome = refusal(message.id, status)
            if job.started:  # a later part refused after earlier ones went: they may be delivered alone
                outcome = InDoubt(message.id, f"part {len(job.ids) + 1} refused ({status_name(status)})"
                                              f" after {len(job.ids)} accepted")
        elif kind == "not_sent":
            outcome = Rejected(message.id, f"not submitted: SMPP channel to {where} closed", permanent=False)
        elif kind == "no_response":
            outcome = InDoubt(message.id, f"no submit_sm_resp from {where} within"
                                          f" {self.settings.response_timeout:g} s")
        else:
            outcome = InDoubt(message.id, f"connection to {where} lost before submit_sm_resp")
        settle, job.settle = job.settle, None
        with call.changed:
            first = position not in call.outcomes
            if first:
                call.outcomes[position] = outcome
                job.abandoned = True
                call.changed.notify_all()
        if not first:  # decided already (given up on): nothing to store, the slot is free
            if settle is not None:
                settle()
            return
        log.debug("smpp: message %d -> %s", message.id, outcome)

        def stored() -> None:
            if settle is not None:
                settle()
            call.one_stored()

        assert self._handoff is not None
        self._handoff.outcome(call.report, outcome, stored)

    def _wait(self, call: _Call, jobs: list[Job | None], messages: Sequence[OutgoingMessage]) -> None:
        """Until every message has an outcome, or nothing progressed for response_timeout (while no answer
        waits for its commit): then the rest are InDoubt (on the wire) or not submitted."""
        patience = self.settings.response_timeout + 1.0
        with call.changed:
            seen, deadline = len(call.outcomes), time.monotonic() + patience
            while len(call.outcomes) < call.count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                call.changed.wait(left)
                # while answers wait for their commit the binds are held by the store, not the provider
                if len(call.outcomes) > seen or call.stored < len(call.outcomes):
                    seen, deadline = len(call.outcomes), time.monotonic() + patience
        with call.lock:  # decided together with Job.claim: a job either went out or never will
            late = {position: "no_response" if job.started or job.pending else "not_sent"
                    for position, job in enumerate(jobs) if job is not None and position not in call.outcomes}
            for position in late:
                jobs[position].abandoned = True  # type: ignore[union-attr]
        for position, kind in late.items():
            self._finish(call, position, messages[position], jobs[position], kind, None)  # type: ignore[arg-type]

    # --- receiving ----------------------------------------------------------------------------------------
    def _deliver(self, bodies: list[bytes], reply: Callable[[list[int]], None]) -> None:
        """Hand the deliver_sm bodies one bind read together to the hand-off thread; `reply` gets their
        deliver_sm_resp statuses once they are persisted (receipts together, MO messages one by one)."""
        handoff = self._handoff
        assert handoff is not None
        statuses = [ESME_ROK] * len(bodies)
        receipts: list[tuple[int, Receipt]] = []
        inbound: list[tuple[int, Inbound]] = []
        now = self._clock()
        for n, body in enumerate(bodies):
            try:
                pdu = decode_deliver(body)
            except (IndexError, ValueError):
                log.warning("smpp: malformed deliver_sm answered with ESME_RINVCMDLEN")
                statuses[n] = ESME_RINVCMDLEN
                continue
            if not is_receipt(pdu.esm_class):
                inbound.append((n, self._inbound(pdu)))
                continue
            receipt = receipt_from_deliver(pdu.esm_class, pdu.short_message, pdu.tlvs, now, self._zone)
            if receipt is not None:
                alias = self._ids.alias(receipt.provider_id)
                receipts.append((n, dataclasses.replace(receipt, alias=alias) if alias else receipt))
        answer = _Answer(statuses, bool(receipts) + len(inbound), reply)
        if receipts:
            positions = [n for n, _ in receipts]
            handoff.receipts([r for _, r in receipts], lambda stored: answer.heard(positions, stored))
        for n, message in inbound:
            handoff.inbound(message, functools.partial(answer.heard, [n]))

    def _inbound(self, pdu: Deliver) -> Inbound:
        """An MO message, to be persisted before it is acknowledged."""
        replied = tlv_str(pdu.tlvs.get(RECEIPTED_MESSAGE_ID)).lower()
        return Inbound(
            source=pdu.source, destination=pdu.destination, text=inbound_text(pdu.short_message, pdu.data_coding),
            at=self._clock(), message_id=replied, raw={"data_coding": pdu.data_coding, "esm_class": pdu.esm_class},
        )


def inbound_text(short_message: bytes, data_coding: int) -> str:
    """Decode an MO message's text by its data_coding (GSM7 unpacked, UCS2, else Latin-1)."""
    coding = data_coding & 0x0F if data_coding & 0xF0 in (0x00, 0x10) else data_coding
    try:
        if coding == 8:
            return short_message.decode("utf-16-be", errors="replace")
        if coding == 0:
            return smpp_text.decode(short_message, smpp_text.GSM7)
    except ValueError:
        pass
    return short_message.decode("latin-1")

