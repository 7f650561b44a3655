"""The contract every delivery channel passes, written against the Channel protocol only.

Each entry of RIGS builds a channel with the provider (or simulator) behind it; add one per channel type.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import make_certificate, wait_for
from node_smsc import NodeSmsc
from remessa.channels.base import Channel
from remessa.channels.embedded import SandboxChannel, SandboxSettings
from remessa.channels.http.settings import WavySmsHttpSettings
from remessa.channels.http.wavy_sms import WavySmsHttpChannel
from remessa.channels.smpp.channel import SmppChannel
from remessa.channels.smpp.settings import SmppSettings
from remessa.errors import TemporaryFailure
from remessa.model import Accepted, Inbound, OutgoingMessage, Receipt, Rejected
from remessa.simulators.http.server import HttpSimulator, HttpSimulatorConfig
from remessa.simulators.smsc import pdu
from remessa.simulators.smsc.server import Smsc, SmscConfig


@dataclass
class Rig:
    """A channel under test plus what the test needs to know about, and do to, the provider behind it."""

    channel: Channel
    refused: str  # a destination the provider refuses at submit...
    refused_code: int  # ...with this sent status code
    failing: str  # a destination accepted but not delivered...
    failing_code: int  # ...with this delivered status code
    settle: Callable[[], None]  # let every receipt due so far reach on_receipt, then return
    refuses_at_submit: bool = True  # False: the provider takes every message and refuses some by receipt (HTTP)


@contextlib.contextmanager
def sandbox_rig(tmp_path: Path) -> Iterator[Rig]:
    clock = [datetime(2026, 3, 2, 12, 0, tzinfo=UTC)]
    settings = SandboxSettings(pump_interval=0)  # no thread: the test drives receipts
    channel = SandboxChannel(settings, spool=tmp_path, clock=lambda: clock[0])

    def settle() -> None:
        clock[0] += timedelta(seconds=settings.sent_delay + settings.delivered_delay + 1)
        channel.pump()

    try:
        yield Rig(channel, "5511999990202", 202, "5511999990104", 104, settle)
    finally:
        channel.close()


@contextlib.contextmanager
def smpp_rig(tmp_path: Path) -> Iterator[Rig]:
    # SMPP refuses at submit with a command_status: ESME_RINVDSTADR, which the channel reports as 202.
    # The sent receipt is redelivered (0.1 s) before the delivery receipt is due (0.3 s), so order holds.
    config = SmscConfig(system_type="MovileSMSC", sent_receipt_delay=0.02, delivery_receipt_delay=0.3,
                        redeliver_after=0.1, reject_destinations={"5511999990202": pdu.ESME_RINVDSTADR},
                        undeliverable_destinations=("5511999990104",))
    with Smsc(config) as smsc:
        settings = SmppSettings(port=smsc.port, system_id="remessa", password="secret", source_addr="Loja",
                                enquire_link=5.0, response_timeout=2.0, allow_short_timers=True)
        channel = SmppChannel(settings, spool=tmp_path)

        def settle() -> None:  # every receipt of every accepted message acknowledged (so handed over)
            wait_for(lambda: smsc.stats().deliver_sm_acked >= 2 * smsc.stats().accepted, timeout=10)

        try:
            yield Rig(channel, "5511999990202", 202, "5511999990104", 104, settle)
        finally:
            channel.close()


@contextlib.contextmanager
def node_smsc(tmp_path: Path, tls: bool) -> Iterator[Rig]:
    env = {"SMSC_SYSTEM_ID": "remessa", "SMSC_PASSWORD": "secret", "SMSC_REFUSE": "^5511999990202$",
           "SMSC_UNDELIVERABLE": "^5511999990104$", "SMSC_SENT_DELAY_MS": "20", "SMSC_DELIVERED_DELAY_MS": "50",
           "SMSC_REDELIVER_MS": "100"}
    tls_settings: dict[str, object] = {}
    if tls:
        cert, key = make_certificate(tmp_path, san="IP:127.0.0.1")
        env |= {"SMSC_TLS_CERT": str(cert), "SMSC_TLS_KEY": str(key)}
        tls_settings = {"tls": True, "ca_file": str(cert)}
    smsc = NodeSmsc(tmp_path, **env)
    try:
        settings = SmppSettings(port=smsc.port, system_id="remessa", password="secret", source_addr="Loja",
                                enquire_link=5.0, response_timeout=2.0, allow_short_timers=True,
                                **tls_settings)  # type: ignore[arg-type]
        channel = SmppChannel(settings, spool=tmp_path)

        def settle() -> None:  # every receipt of every accepted message acknowledged (so handed over)
            def done() -> bool:
                stats = smsc.stats()
                return stats["deliver_sm_acked"] >= 2 * stats["accepted"]
            wait_for(done, timeout=10)

        try:
            yield Rig(channel, "5511999990202", 202, "5511999990104", 104, settle)
        finally:
            channel.close()
    finally:
        smsc.close()


def npm_smpp_rig(tmp_path: Path) -> contextlib.AbstractContextManager[Rig]:
    """The SMPP channel against an SMSC on the npm `smpp` package: our PDUs through a codec we did not write."""
    return node_smsc(tmp_path, tls=False)


def npm_smpp_tls_rig(tmp_path: Path) -> contextlib.AbstractContextManager[Rig]:
    """As npm_smpp_rig, over TLS, the channel verifying the server's certificate against its own CA file."""
    return node_smsc(tmp_path, tls=True)


@contextlib.contextmanager
def wavy_sms_http_rig(tmp_path: Path) -> Iterator[Rig]:
    """The bulk SMS HTTPS API against its simulator, receipts by polling (the channel alone, no listener).
    The API takes every message and refuses a destination in its sent-status callback (202)."""
    config = HttpSimulatorConfig(sent_delay=0.02, delivered_delay=0.3, refuse={"5511999990202": 202},
                                 undeliverable={"5511999990104": 104})
    with HttpSimulator(config) as simulator:
        settings = WavySmsHttpSettings(url=simulator.url, username="remessa", token="secret", receipts="poll",
                                       poll_interval=0.05, backoff_min=0.01, backoff_max=0.05)
        channel = WavySmsHttpChannel(settings)

        def settle() -> None:  # every status of every message taken has been polled, then handed over: the
            def done() -> bool:  # channel polls again only once what it fetched is persisted
                stats = simulator.stats()
                refused = sum(1 for destination, _, _ in simulator.messages().values()
                              if destination == "5511999990202")
                return stats.events_polled >= 2 * stats.accepted - refused
            wait_for(done, timeout=10)
            polls = simulator.stats().polls
            wait_for(lambda: simulator.stats().polls > polls + 1, timeout=10)

        try:
            yield Rig(channel, "5511999990202", 202, "5511999990104", 104, settle, refuses_at_submit=False)
        finally:
            channel.close()


RIGS: list[Callable[[Path], contextlib.AbstractContextManager[Rig]]] = [
    sandbox_rig, smpp_rig, npm_smpp_rig, npm_smpp_tls_rig, wavy_sms_http_rig]


@pytest.fixture(params=RIGS, ids=lambda factory: factory.__name__.removesuffix("_rig"))
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    with request.param(tmp_path) as built:
        yield built


@dataclass
class Inbox:
    """A receipt sink that keeps what it took; it raises for its first `refusals` calls."""

    refusals: int = 0
    taken: list[Receipt] = field(default_factory=list)
    refused: list[Receipt] = field(default_factory=list)
    inbound_messages: list[Inbound] = field(default_factory=list)

    def receipts(self, receipts: Sequence[Receipt]) -> None:
        if self.refusals:  # a refused call refuses every receipt handed over together
            self.refusals -= 1
            self.refused.extend(receipts)
            raise RuntimeError("store unavailable")
        self.taken.extend(receipts)

    def inbound(self, message: Inbound) -> None:
        self.inbound_messages.append(message)

    def of(self, provider_id: str) -> list[Receipt]:
        return [r for r in self.taken if r.provider_id == provider_id]


def message(id: int, destination: str, kind: str = "sms") -> OutgoingMessage:
    return OutgoingMessage(id=id, batch_id=7, destination=destination, text=f"Olá {id}",
                           correlation_id=f"corr-{id}", kind=kind)


def ok(n: int) -> str:
    return f"55119{n:08d}"


def test_one_outcome_per_message_in_order(rig: Rig) -> None:
    rig.channel.open(Inbox())
    messages = [message(1, ok(1)), message(2, rig.refused), message(3, ok(3)),
                message(4, rig.failing), message(5, ok(5))]

    outcomes = rig.channel.send(messages)

    assert [o.message_id for o in outcomes] == [1, 2, 3, 4, 5]
    refused = Rejected if rig.refuses_at_submit else Accepted
    assert [type(o) for o in outcomes] == [Accepted, refused, Accepted, Accepted, Accepted]


def test_an_empty_chunk_gives_no_outcomes(rig: Rig) -> None:
    rig.channel.open(Inbox())

    assert rig.channel.send([]) == []


def test_provider_ids_are_distinct_across_calls(rig: Rig) -> None:
    rig.channel.open(Inbox())

    outcomes = rig.channel.send([message(i, ok(i)) for i in range(40)])
    outcomes += rig.channel.send([message(i, ok(i)) for i in range(40, 80)])

    ids = [o.provider_id for o in outcomes if isinstance(o, Accepted)]
    assert len(ids) == 80 and all(ids) and len(set(ids)) == 80


def test_a_refused_destination_is_rejected_with_the_provider_code_and_name(rig: Rig) -> None:
    inbox = Inbox()
    rig.channel.open(inbox)

    [outcome] = rig.channel.send([message(1, rig.refused)])

    if not rig.refuses_at_submit:  # taken, then refused by its sent-status receipt, with no delivery after
        assert isinstance(outcome, Accepted)
        rig.settle()
        [refusal] = inbox.of(outcome.provider_id)
        assert (refusal.sent_code, refusal.sent_status) == (rig.refused_code, "INVALID_DESTINATION_NUMBER")
        assert refusal.delivered_code is None
        return
    assert isinstance(outcome, Rejected)
    assert outcome.code == rig.refused_code
    assert outcome.reason == "202 INVALID_DESTINATION_NUMBER"
    assert outcome.permanent


def test_every_accepted_message_gets_a_sent_then_a_delivered_receipt(rig: Rig) -> None:
    inbox = Inbox()
    rig.channel.open(inbox)
    outcomes = rig.channel.send([message(i, ok(i)) for i in range(10)] + [message(10, rig.refused)])

    rig.settle()

    accepted = [o for o in outcomes if isinstance(o, Accepted) and o.message_id != 10]
    assert len(accepted) == 10 and isinstance(outcomes[10], Rejected) == rig.refuses_at_submit
    for outcome in accepted:
        sent, delivered = inbox.of(outcome.provider_id)
        assert (sent.sent_code, sent.sent_status, sent.delivered_code) == (2, "SENT_SUCCESS", None)
        assert (delivered.delivered_code, delivered.delivered_status) == (4, "DELIVERED_SUCCESS")
        # an HTTP provider echoes the correlation id; an SMPP receipt names only the provider's id, which
        # the store matches (every part's id included), so the channel need not remember anything
        assert sent.correlation_id == delivered.correlation_id in ("", f"corr-{outcome.message_id}")
        assert sent.at <= delivered.at
    assert {r.provider_id for r in inbox.taken} == {o.provider_id for o in outcomes if isinstance(o, Accepted)}


def test_a_failing_destination_gets_its_delivery_failure_code(rig: Rig) -> None:
    inbox = Inbox()
    rig.channel.open(inbox)
    [outcome] = rig.channel.send([message(1, rig.failing)])

    rig.settle()

    assert isinstance(outcome, Accepted)
    sent, delivered = inbox.of(outcome.provider_id)
    assert sent.sent_code == 2
    assert (delivered.delivered_code, delivered.delivered_status) == (rig.failing_code, "NOT_DELIVERED")


def test_a_receipt_whose_handler_raised_is_delivered_again_and_others_only_once(rig: Rig) -> None:
    inbox = Inbox(refusals=1)
    rig.channel.open(inbox)
    outcomes = rig.channel.send([message(i, ok(i)) for i in range(3)])

    rig.settle()
    rig.settle()

    assert inbox.refused
    for refused in inbox.refused:
        again = [r for r in inbox.taken
                 if (r.provider_id, r.delivered_code) == (refused.provider_id, refused.delivered_code)]
        assert len(again) == 1
        sent, delivered = inbox.of(refused.provider_id)
        assert sent.delivered_code is None and delivered.delivered_code == 4  # order kept on redelivery
    levels = sorted((r.provider_id, r.delivered_code or 0) for r in inbox.taken)
    expected = sorted((o.provider_id, level) for o in outcomes if isinstance(o, Accepted) for level in (0, 4))
    assert levels == expected  # every receipt taken exactly once


def test_close_is_idempotent_and_nothing_is_sent_afterwards(rig: Rig) -> None:
    rig.channel.open(Inbox())
    rig.channel.close()
    rig.channel.close()

    with pytest.raises(TemporaryFailure):  # the messages stay queued for the next run
        rig.channel.send([message(1, ok(1))])
