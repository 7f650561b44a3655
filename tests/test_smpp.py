"""The SMPP channel against the sandbox SMSC on a real socket: binds, windows, receipts, faults."""

from __future__ import annotations

import dataclasses
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from conftest import make_certificate, wait_for
from remessa.channels.base import Callbacks
from remessa.channels.smpp.channel import SmppChannel
from remessa.channels.smpp.settings import SmppSettings, validity_period
from remessa.channels.smpp.text import ESM_CLASS_UDHI
from remessa.channels.smpp.wire import decode_deliver
from remessa.errors import PermanentFailure, TemporaryFailure
from remessa.model import Accepted, InDoubt, OutgoingMessage, Receipt, Rejected
from remessa.simulators.smsc import pdu
from remessa.simulators.smsc.server import Smsc, SmscConfig

CONFIG = SmscConfig(system_type="MovileSMSC", sent_receipt_delay=0.02, delivery_receipt_delay=0.05,
                    redeliver_after=0.3, reject_destinations={"*0202": pdu.ESME_RINVDSTADR},
                    undeliverable_destinations=("5521*",))


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    with Smsc(CONFIG) as server:
        yield server


def settings_for(smsc: Smsc, **overrides: Any) -> SmppSettings:
    values: dict[str, Any] = dict(port=smsc.port, system_id="remessa", password="secret", source_addr="Loja",
                                  enquire_link=5.0, response_timeout=2.0, reconnect_min=0.05,
                                  reconnect_max=0.2, allow_short_timers=True)
    return SmppSettings(**{**values, **overrides})


@pytest.fixture
def channel_for(smsc: Smsc) -> Iterator[Callable[..., SmppChannel]]:
    """Build (and always close) SmppChannels on the simulator; opened with a receipt list unless told."""
    channels: list[SmppChannel] = []

    def build(receipts: list[Receipt] | None = None, open: bool = True, **overrides: Any) -> SmppChannel:
        channel = SmppChannel(settings_for(smsc, **overrides))
        channels.append(channel)
        if open:
            channel.open(Callbacks((receipts if receipts is not None else []).extend))
        return channel

    yield build
    for channel in channels:
        channel.close()


def sms(id: int, destination: str = "5511988887777", text: str = "Oi Ana") -> OutgoingMessage:
    return OutgoingMessage(id=id, batch_id=1, destination=destination, text=text, correlation_id=f"c{id}")


def test_bind_send_and_receipts_end_to_end(smsc: Smsc, channel_for: Callable[..., SmppChannel]) -> None:
    receipts: list[Receipt] = []
    channel = channel_for(receipts)

    [outcome] = channel.send([sms(1)])

    assert isinstance(outcome, Accepted) and outcome.parts == 1
    assert outcome.provider_id in smsc.messages()
    wait_for(lambda: len(receipts) == 2, timeout=5)
    sent, delivered = receipts
    assert (sent.provider_id, sent.sent_code, sent.sent_status, sent.delivered_code) == (
        outcome.provider_id, 2, "SENT_SUCCESS", None)
    assert (delivered.delivered_code, delivered.delivered_status) == (4, "DELIVERED_SUCCESS")
    binds = smsc.received("bind_transceiver")
    assert len(binds) == 4 and {(p.text("system_id"), p.text("system_type")) for p in binds} == {
        ("remessa", "MovileSMSC")}
    [submit] = smsc.received("submit_sm")
    assert (submit.text("source_addr"), submit.text("destination_addr"), submit.number("esm_class"),
            submit.number("data_coding"), submit.octets("short_message"), submit.number("registered_delivery")) == (
        "Loja", "5511988887777", 0, 0, b"Oi Ana", 1)
    assert (submit.number("source_addr_ton"), submit.number("source_addr_npi")) == (5, 0)
    assert (submit.number("dest_addr_ton"), submit.number("dest_addr_npi")) == (1, 1)
    assert submit.text("validity_period") == "000001000000000R"


@pytest.mark.parametrize(("encoding", "transliterate", "coding", "sent"), [
    ("", None, 8, "Promoção até sábado".encode("utf-16-be")),  # the channel's auto: not all GSM7
    ("", True, 0, b"Promocao at\x05 sabado"),  # the profile folds accents GSM7 lacks (é is GSM7 0x05)
    ("latin1", None, 1, "Promoção até sábado".encode("latin-1")),
    ("ucs2", False, 8, "Promoção até sábado".encode("utf-16-be")),
])
def test_the_profile_chooses_the_coding_of_its_messages(smsc: Smsc, channel_for: Callable[..., SmppChannel],
                                                        encoding: str, transliterate: bool | None, coding: int,
                                                        sent: bytes) -> None:
    channel = channel_for()  # the provider says auto, no transliteration
    message = dataclasses.replace(sms(1, text="Promoção até sábado"), encoding=encoding, transliterate=transliterate)

    [outcome] = channel.send([message])

    assert isinstance(outcome, Accepted)
    [submit] = smsc.received("submit_sm")
    assert (submit.number("data_coding"), submit.octets("short_message")) == (coding, sent)


@pytest.mark.parametrize(("text", "coding", "parts"), [("Promoção " * 20, 8, 3), ("x" * 400, 0, 3)])
def test_a_long_text_goes_as_ordered_parts_on_one_bind(smsc: Smsc, channel_for: Callable[..., SmppChannel],
                                                        text: str, coding: int, parts: int) -> None:
    channel = channel_for()

    [outcome] = channel.send([sms(1, text=text)])

    assert isinstance(outcome, Accepted) and outcome.parts == parts
    submits = smsc.received("submit_sm")
    assert len(submits) == parts
    bodies = [p.octets("short_message") for p in submits]
    assert [b[:3] for b in bodies] == [b"\x05\x00\x03"] * parts
    assert len({b[3] for b in bodies}) == 1  # one reference
    assert [(b[4], b[5]) for b in bodies] == [(parts, n) for n in range(1, parts + 1)]
    assert all(p.number("esm_class") & ESM_CLASS_UDHI and p.number("data_coding") == coding for p in submits)
    assert len({p.sequence for p in submits}) == parts
    first = smsc.messages()[outcome.provider_id]
    assert first.short_message == bodies[0]


def test_messages_spread_across_four_binds_and_the_window_holds(
        smsc: Smsc, channel_for: Callable[..., SmppChannel]) -> None:
    smsc.faults.response_delay = 0.05
    channel = channel_for(window=3)

    outcomes = channel.send([sms(i, f"55119{i:08d}") for i in range(1, 61)])

    assert all(isinstance(o, Accepted) for o in outcomes)
    stats = smsc.stats()
    assert len(stats.max_outstanding) == 4
    assert all(1 <= w <= 3 for w in stats.max_outstanding.values()), stats.max_outstanding


def test_a_throttling_storm_recovers_without_duplicates(channel_for: Callable[..., SmppChannel]) -> None:
    with Smsc(dataclasses.replace(CONFIG, max_submits_per_second=10)) as slow:
        channel = SmppChannel(settings_for(slow, binds=1, rate=40.0))
        channel.open(Callbacks(lambda r: None))
        try:
            outcomes = channel.send([sms(i, f"55119{i:08d}") for i in range(30)])
        finally:
            channel.close()
        stats = slow.stats()
    assert all(isinstance(o, Accepted) for o in outcomes)
    assert stats.throttled > 0
    assert stats.accepted == 30
    assert stats.submits - stats.throttled == 30  # only throttled submits were sent again


def test_a_refused_destination_is_rejected(channel_for: Callable[..., SmppChannel]) -> None:
    channel = channel_for()

    refused, ok = channel.send([sms(1, "5511900000202"), sms(2)])

    assert refused == Rejected(1, "202 INVALID_DESTINATION_NUMBER", permanent=True, code=202)
    assert isinstance(ok, Accepted)


def test_a_wrong_password_is_a_permanent_failure(channel_for: Callable[..., SmppChannel]) -> None:
    channel = channel_for(open=False, password="wrong")

    with pytest.raises(PermanentFailure, match="ESME_RBINDFAIL"):
        channel.open(Callbacks(lambda r: None))


def test_no_server_is_a_temporary_failure(smsc: Smsc) -> None:
    channel = SmppChannel(settings_for(smsc, port=1, binds=2))

    with pytest.raises(TemporaryFailure, match="cannot connect"):
        channel.open(Callbacks(lambda r: None))
    channel.close()


def test_a_drop_mid_window_leaves_the_unanswered_in_doubt_and_reconnects(
        smsc: Smsc, channel_for: Callable[..., SmppChannel]) -> None:
    channel = channel_for(binds=1)
    smsc.faults.response_delay = 0.3
    smsc.faults.drop_after_pdus = 4  # bind + 3 submits, the third kills the connection

    outcomes = channel.send([sms(i, f"55119{i:08d}") for i in range(3)])

    assert all(isinstance(o, InDoubt) and "lost" in o.reason for o in outcomes)
    smsc.faults.drop_after_pdus = None
    smsc.faults.response_delay = 0.0
    wait_for(lambda: smsc.stats().binds_accepted == 2, timeout=5)
    assert all(isinstance(o, Accepted) for o in channel.send([sms(9)]))


def test_an_unbind_from_the_smsc_is_answered_and_the_bind_comes_back(
        smsc: Smsc, channel_for: Callable[..., SmppChannel]) -> None:
    channel = channel_for(binds=2)

    smsc.unbind_all()

    wait_for(lambda: smsc.stats().binds_accepted == 4 and smsc.bound() == 2, timeout=5)
    assert len(smsc.received("unbind_resp")) == 2
    assert all(isinstance(o, Accepted) for o in channel.send([sms(1), sms(2)]))


def test_a_black_hole_makes_submits_in_doubt_after_the_response_timeout(
        smsc: Smsc, channel_for: Callable[..., SmppChannel]) -> None:
    channel = channel_for(binds=1, response_timeout=0.5)
    smsc.faults.black_hole = True

    outcomes = channel.send([sms(1), sms(2)])

    assert all(isinstance(o, InDoubt) and "no submit_sm_resp" in o.reason for o in outcomes)


def test_a_receipt_whose_handler_raises_is_refused_and_redelivered(
        smsc: Smsc, channel_for: Callable[..., SmppChannel]) -> None:
    taken: list[Receipt] = []
    failures = [1]

    def handler(receipts: Sequence[Receipt]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("store down")
        taken.extend(receipts)

    channel = SmppChannel(settings_for(smsc))
    channel.open(Callbacks(handler))
    try:
        [outcome] = channel.send([sms(1)])
        wait_for(lambda: len(taken) == 2, timeout=5)
    finally:
        channel.close()
    assert isinstance(outcome, Accepted)
    assert smsc.stats().deliver_sm_sent == 3


def test_settings_enforce_the_provider_ranges() -> None:
    with pytest.raises(ValueError, match="enquire_link"):
        SmppSettings(enquire_link=5)
    assert SmppSettings(source_addr="5511999990000").source() == (1, 1)
    assert SmppSettings(source_addr="Loja").source() == (5, 0)
    assert validity_period(24) == "000001000000000R" and validity_period(0) == ""


def test_decode_deliver_keeps_vendor_tlvs_as_raw_octets() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    fields, tlvs = pdu.receipt("ab-1", "DELIVRD", at, at,
                               handset="55", sender="x", sample=b"", vendor_nul=False)
    body = pdu.encode(pdu.Pdu(pdu.DELIVER_SM, 1, 0, fields, tlvs))[16:]

    esm_class, text, raw = decode_deliver(body)[:3]

    assert esm_class == 0x04 and text.startswith(b"id:ab-1")
    assert raw[0x001E] == b"ab-1\0" and raw[0x1405] == b"4"


def test_tls_binds_with_a_trusted_certificate_and_refuses_an_untrusted_one(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    with Smsc(dataclasses.replace(CONFIG, ssl_context=server_context)) as smsc:
        trusted = SmppChannel(settings_for(smsc, host="localhost", tls=True, ca_file=str(cert), binds=1))
        trusted.open(Callbacks(lambda r: None))
        try:
            assert all(isinstance(o, Accepted) for o in trusted.send([sms(1)]))
        finally:
            trusted.close()
        untrusted = SmppChannel(settings_for(smsc, host="localhost", tls=True, binds=1))
        with pytest.raises(PermanentFailure, match="TLS certificate of localhost not trusted"):
            untrusted.open(Callbacks(lambda r: None))


def test_an_mo_message_reaches_on_inbound_decoded_before_it_is_acknowledged(smsc: Smsc) -> None:
    got: list = []
    channel = SmppChannel(settings_for(smsc, binds=1))
    channel.open(Callbacks(lambda receipt: None, got.append))
    try:
        smsc.send_mo("Loja", "Sair", source="5511987654321")
        smsc.send_mo("Loja", "Não quero mais 🙏", source="5511987654322")
        deadline = time.monotonic() + 10
        while len(got) < 2 or smsc.stats().deliver_sm_acked < 2:
            assert time.monotonic() < deadline, "MO not delivered"
            time.sleep(0.02)
    finally:
        channel.close()
    assert [(m.source, m.destination, m.text) for m in got] == [
        ("5511987654321", "Loja", "Sair"), ("5511987654322", "Loja", "Não quero mais 🙏"),
    ]


def test_a_generic_nack_maps_back_to_its_submit(smsc: Smsc, channel_for: Callable[..., SmppChannel]) -> None:
    channel = channel_for(binds=1)
    smsc.faults.nack_submits = pdu.ESME_RINVCMDLEN

    outcomes = channel.send([sms(1), sms(2)])

    assert [(type(o), o.message_id, o.reason, o.permanent) for o in outcomes] == [  # type: ignore[union-attr]
        (Rejected, 1, "ESME_RINVCMDLEN", True), (Rejected, 2, "ESME_RINVCMDLEN", True)]
    smsc.faults.nack_submits = None
    assert isinstance(channel.send([sms(3)])[0], Accepted)  # the bind is still fine


def test_an_unknown_command_from_the_smsc_gets_generic_nack(smsc: Smsc,
                                                            channel_for: Callable[..., SmppChannel]) -> None:
    channel = channel_for(binds=1)

    smsc.send_command(0x00000077)

    wait_for(lambda: smsc.received("generic_nack"), timeout=5)
    [nack] = smsc.received("generic_nack")
    assert nack.status == pdu.ESME_RINVCMDID
    assert isinstance(channel.send([sms(1)])[0], Accepted)


def test_close_waits_for_outstanding_answers_then_unbinds(smsc: Smsc,
                                                          channel_for: Callable[..., SmppChannel]) -> None:
    channel = channel_for(binds=2)
    smsc.faults.response_delay = 0.3
    outcomes: list[Any] = []
    sender = threading.Thread(target=lambda: outcomes.extend(channel.send([sms(n) for n in range(1, 6)])))
    sender.start()
    wait_for(lambda: smsc.stats().submits == 5, timeout=5)

    channel.close()  # while all five wait for their answers

    sender.join(timeout=5)
    assert all(isinstance(o, Accepted) for o in outcomes) and len(outcomes) == 5
    assert len(smsc.received("unbind")) == 2  # each bind said goodbye once it had its answers
    with pytest.raises(TemporaryFailure):
        channel.send([sms(6)])


def test_a_bind_that_never_answers_does_not_hold_up_the_others(
        smsc: Smsc, channel_for: Callable[..., SmppChannel], caplog: pytest.LogCaptureFixture) -> None:
    smsc.faults.unanswered_binds = 1
    caplog.set_level(logging.INFO, "remessa.channels.smpp.channel")

    channel = channel_for(binds=3)

    # open() returned with the two that answered, the third still waiting for its bind_transceiver_resp
    opened = [r.getMessage() for r in caplog.records if "smpp channel open" in r.getMessage()]
    assert opened == [f"smpp channel open to 127.0.0.1:{smsc.port}: 2 of 3 binds bound"]
    assert all(isinstance(o, Accepted) for o in channel.send([sms(i, f"55119{i:08d}") for i in range(10)]))
    caplog.set_level(logging.WARNING, "remessa.channels.smpp.bind")

    def failed() -> list[str]:
        return [r.getMessage() for r in caplog.records if "no bind_transceiver_resp" in r.getMessage()]

    wait_for(lambda: bool(failed()), timeout=10)
    assert "()" not in failed()[0] and failed()[0].startswith("smpp bind ")
