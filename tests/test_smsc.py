"""The sandbox SMSC, driven by an independent SMPP client (smpplib) and by raw bytes on a socket."""

from __future__ import annotations

import dataclasses
import re
import select
import socket
import ssl
import struct
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import smpplib.command
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp
from smpplib.client import Client

from conftest import make_certificate, wait_for
from remessa.simulators.smsc import pdu
from remessa.simulators.smsc.server import Smsc, SmscConfig

VENDOR_TLVS = {"wavy_sent_code": 0x1403, "wavy_sent_status": 0x1404,
               "wavy_delivered_code": 0x1405, "wavy_delivered_status": 0x1406}
CONFIG = SmscConfig(system_type="MovileSMSC", sent_receipt_delay=0.02, delivery_receipt_delay=0.05,
                    redeliver_after=0.3, reject_destinations={"551190000*": pdu.ESME_RINVDSTADR},
                    undeliverable_destinations=("5521*",))
RECEIPT_TEXT = re.compile(r"id:(?P<id>[0-9a-f-]{36}) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:\d{10} "
                          r"done date:\d{10} stat:(?P<stat>[A-Z]{7}) err:(?P<err>\d{3}) text:(?P<text>.*)")


@pytest.fixture(autouse=True)
def vendor_tlvs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Teach smpplib the provider's TLVs as raw octets (its tables are process-global: undone after)."""
    for name, tag in VENDOR_TLVS.items():
        monkeypatch.setitem(smpplib.consts.OPTIONAL_PARAMS, name, tag)
        param = smpplib.command.Param(type=smpplib.command.ostr, max=64)
        monkeypatch.setitem(smpplib.command.DeliverSM.params, name, param)


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    with Smsc(CONFIG) as server:
        yield server


@pytest.fixture
def connect(smsc: Smsc) -> Iterator[Callable[..., Client]]:
    """Open smpplib clients to the simulator (bound as transceivers unless told otherwise)."""
    clients: list[Client] = []

    def open_client(bind: bool = True, **credentials: str) -> Client:
        client = Client("127.0.0.1", smsc.port, timeout=5, allow_unknown_opt_params=True)
        clients.append(client)
        client.connect()
        if bind:
            client.bind_transceiver(**{"system_id": "remessa", "password": "secret",
                                       "system_type": "MovileSMSC", **credentials})
        return client

    yield open_client
    for client in clients:
        client.disconnect()


def submit(client: Client, destination: str = "5511988887777", text: str = "Oi Ana", registered: int = 1) -> int:
    p = smpplib.smpp.make_pdu("submit_sm", client=client, source_addr_ton=1, source_addr_npi=1,
                              source_addr="remessa", dest_addr_ton=1, dest_addr_npi=1, destination_addr=destination,
                              short_message=text.encode(), registered_delivery=registered)
    client.send_pdu(p)
    return int(p.sequence)


def send(client: Client, command: str, sequence: int | None = None, **fields: Any) -> int:
    p = smpplib.smpp.make_pdu(command, client=client, **fields)
    if sequence is not None:
        p.sequence = sequence  # make_pdu ignores sequence=
    client.send_pdu(p)
    return int(p.sequence)


def ack(client: Client, deliver: Any, status: int = 0) -> None:
    send(client, "deliver_sm_resp", deliver.sequence, status=status)


def nothing_to_read(client: Client, seconds: float = 0.3) -> bool:
    return not select.select([client._socket], [], [], seconds)[0]


def receipt(p: Any) -> dict[str, str]:
    match = RECEIPT_TEXT.fullmatch(p.short_message.decode())
    assert match, p.short_message
    return match.groupdict()


# --- binds ---------------------------------------------------------------------------------------------

def test_bind_with_the_configured_credentials_is_accepted(smsc: Smsc, connect: Callable[..., Client]) -> None:
    client = connect(bind=False)
    resp = client.bind_transceiver(system_id="remessa", password="secret", system_type="MovileSMSC")
    assert resp.status == 0 and resp.system_id == b"sandbox"
    assert smsc.bound() == 1 and smsc.stats().binds_accepted == 1


@pytest.mark.parametrize("credentials, fault", [
    ({"password": "wrong"}, False),
    ({"system_id": "other"}, False),
    ({"system_type": "OtherSMSC"}, False),
    ({}, True),
])
def test_bind_is_refused_with_bindfail(smsc: Smsc, connect: Callable[..., Client],
                                       credentials: dict[str, str], fault: bool) -> None:
    smsc.faults.refuse_binds = fault
    with pytest.raises(smpplib.exceptions.PDUError) as refused:
        connect(**credentials)
    assert refused.value.args[1] == pdu.ESME_RBINDFAIL
    assert smsc.stats().binds_refused == 1 and smsc.bound() == 0


def test_submit_before_bind_is_refused(connect: Callable[..., Client]) -> None:
    client = connect()
    client2 = connect(bind=False)
    client2.state = smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX  # smpplib would refuse to send it otherwise
    submit(client2)
    assert client2.read_pdu().status == pdu.ESME_RINVBNDSTS
    assert client.state == smpplib.consts.SMPP_CLIENT_STATE_BOUND_TRX


# --- submit and receipts ---------------------------------------------------------------------------------

def test_submit_gets_a_uuid_then_a_sent_and_a_delivered_receipt(smsc: Smsc, connect: Callable[..., Client]) -> None:
    client = connect()
    sequence = submit(client, "5511988887777", "Oi Ana, sua consulta")
    resp = client.read_pdu()
    assert (resp.command, resp.sequence, resp.status) == ("submit_sm_resp", sequence, 0)
    message_id = resp.message_id.decode()
    assert uuid.UUID(message_id).version == 4

    sent = client.read_pdu()
    assert sent.command == "deliver_sm" and sent.esm_class == 0x04
    assert sent.receipted_message_id == message_id.encode() and sent.message_state == 6
    assert (sent.wavy_sent_code, sent.wavy_sent_status) == (b"2", b"SENT_SUCCESS")
    assert receipt(sent) == {"id": message_id, "dlvrd": "000", "stat": "ACCEPTD", "err": "000",
                             "text": "Oi Ana, sua consulta"}
    assert sent.source_addr == b"5511988887777" and sent.destination_addr == b"remessa"
    ack(client, sent)

    delivered = client.read_pdu()
    assert delivered.esm_class == 0x04 and delivered.message_state == 2
    assert (delivered.wavy_sent_code, delivered.wavy_sent_status) == (b"2", b"SENT_SUCCESS")
    assert (delivered.wavy_delivered_code, delivered.wavy_delivered_status) == (b"4", b"DELIVERED_SUCCESS")
    assert receipt(delivered)["stat"] == "DELIVRD" and receipt(delivered)["dlvrd"] == "001"
    ack(client, delivered)

    wait_for(lambda: smsc.stats().deliver_sm_acked == 2, timeout=5)
    stats = smsc.stats()
    assert (stats.submits, stats.accepted, stats.deliveries_by_message_id[message_id]) == (1, 1, 2)
    assert smsc.messages()[message_id].destination == "5511988887777"


def test_undeliverable_destination_gets_undeliv_104(connect: Callable[..., Client]) -> None:
    client = connect()
    submit(client, "5521977776666")
    message_id = client.read_pdu().message_id.decode()
    sent = client.read_pdu()
    ack(client, sent)
    final = client.read_pdu()
    ack(client, final)
    assert receipt(sent)["stat"] == "ACCEPTD"
    assert receipt(final)["id"] == message_id
    assert (receipt(final)["stat"], receipt(final)["err"], final.message_state) == ("UNDELIV", "104", 5)
    assert (final.wavy_delivered_code, final.wavy_delivered_status) == (b"104", b"NOT_DELIVERED")


def test_rejected_destination_is_refused_at_submit(smsc: Smsc, connect: Callable[..., Client]) -> None:
    client = connect()
    submit(client, "5511900001234")
    resp = client.read_pdu()
    assert resp.status == pdu.ESME_RINVDSTADR and not resp.message_id
    assert nothing_to_read(client)
    assert smsc.stats().accepted == 0 and smsc.stats().submits == 1


def test_no_receipts_unless_registered_delivery(connect: Callable[..., Client]) -> None:
    client = connect()
    submit(client, registered=0)
    assert client.read_pdu().status == 0
    assert nothing_to_read(client)


def test_receipt_not_acknowledged_with_rok_is_redelivered(smsc: Smsc, connect: Callable[..., Client]) -> None:
    client = connect()
    submit(client)
    message_id = client.read_pdu().message_id
    refused = client.read_pdu()
    ack(client, refused, status=pdu.ESME_RSYSERR)  # the first receipt is refused, the second left unanswered
    ignored, *again = [client.read_pdu() for _ in range(3)]
    for p in again:  # both come back after redeliver_after, and are acknowledged this time
        ack(client, p)
    assert [receipt(p)["stat"] for p in (refused, ignored, *again)] == ["ACCEPTD", "DELIVRD", "ACCEPTD", "DELIVRD"]
    assert {p.receipted_message_id for p in (refused, ignored, *again)} == {message_id}
    wait_for(lambda: smsc.stats().deliver_sm_acked == 2, timeout=5)
    assert nothing_to_read(client, CONFIG.redeliver_after * 2)
    assert smsc.stats().deliveries_by_message_id[message_id.decode()] == 4


def test_same_message_submitted_twice_is_counted_by_content(smsc: Smsc, connect: Callable[..., Client]) -> None:
    client = connect()
    for _ in range(2):
        submit(client, "5511988887777", "Lembrete", registered=0)
        client.read_pdu()
    stats = smsc.stats()
    assert stats.submits_by_content[("5511988887777", b"Lembrete")] == 2
    assert len(smsc.messages()) == 2


# --- window and rate --------------------------------------------------------------------------------------

def test_outstanding_submits_are_counted_per_bind(smsc: Smsc, connect: Callable[..., Client]) -> None:
    client = connect()
    smsc.faults.response_delay = 0.3
    sequences = [submit(client, registered=0) for _ in range(10)]
    wait_for(lambda: smsc.stats().submits == 10, timeout=5)
    resps = [client.read_pdu() for _ in range(10)]
    assert sorted(r.sequence for r in resps) == sequences
    assert smsc.stats().max_window == 10


def test_submits_above_the_rate_are_throttled() -> None:
    now = [1000.0]
    with Smsc(SmscConfig(max_submits_per_second=5), clock=lambda: now[0]) as smsc:
        client = Client("127.0.0.1", smsc.port, timeout=5, allow_unknown_opt_params=True)
        client.connect()
        try:
            client.bind_transmitter(system_id="remessa", password="secret")
            for _ in range(8):
                submit(client, registered=0)
            statuses = [client.read_pdu().status for _ in range(8)]
            now[0] += 1.0  # a second later the bind may send again
            submit(client, registered=0)
            statuses.append(client.read_pdu().status)
        finally:
            client.disconnect()
        assert statuses == [0] * 5 + [pdu.ESME_RTHROTTLED] * 3 + [0]
        assert smsc.stats().throttled == 3 and smsc.stats().accepted == 6


# --- other commands ---------------------------------------------------------------------------------------

def test_enquire_link_is_answered(smsc: Smsc, connect: Callable[..., Client]) -> None:
    client = connect()
    sequence = send(client, "enquire_link")
    resp = client.read_pdu()
    assert (resp.command, resp.sequence, resp.status) == ("enquire_link_resp", sequence, 0)
    assert smsc.stats().enquire_links == 1


def test_unknown_command_gets_generic_nack(smsc: Smsc) -> None:
    with socket.create_connection(("127.0.0.1", smsc.port), timeout=5) as sock:
        sock.sendall(struct.pack(">IIII", 16, 0x00000099, 0, 77))
        header = sock.recv(16)
    assert struct.unpack(">IIII", header) == (16, 0x80000000, pdu.ESME_RINVCMDID, 77)


def test_mo_is_pushed_to_a_bound_receiver(smsc: Smsc, connect: Callable[..., Client]) -> None:
    client = connect()
    smsc.send_mo("remessa", "SIM quero", source="5511977776666")
    mo = client.read_pdu()
    assert (mo.command, mo.esm_class, mo.short_message) == ("deliver_sm", 0, b"SIM quero")
    assert (mo.source_addr, mo.destination_addr) == (b"5511977776666", b"remessa")
    ack(client, mo)
    wait_for(lambda: smsc.stats().deliver_sm_acked == 1, timeout=5)


# --- faults -----------------------------------------------------------------------------------------------

def test_connection_is_dropped_after_n_pdus(smsc: Smsc, connect: Callable[..., Client]) -> None:
    smsc.faults.drop_after_pdus = 3
    client = connect()  # PDU 1
    send(client, "enquire_link")  # PDU 2
    assert client.read_pdu().command == "enquire_link_resp"
    send(client, "enquire_link")  # PDU 3: not answered, the socket closes
    with pytest.raises(smpplib.exceptions.ConnectionError):
        client.read_pdu()
    wait_for(lambda: smsc.bound() == 0, timeout=5)


def test_server_unbinds_clients(smsc: Smsc, connect: Callable[..., Client]) -> None:
    client = connect()
    smsc.unbind_all()
    unbind = client.read_pdu()
    assert unbind.command == "unbind"
    send(client, "unbind_resp", unbind.sequence)
    with pytest.raises(smpplib.exceptions.ConnectionError):
        client.read_pdu()
    assert smsc.bound() == 0


def test_black_hole_stops_answering_until_lifted(smsc: Smsc, connect: Callable[..., Client]) -> None:
    client = connect()
    smsc.faults.black_hole = True
    send(client, "enquire_link")
    assert nothing_to_read(client)
    smsc.faults.black_hole = False
    sequence = send(client, "enquire_link")
    assert client.read_pdu().sequence == sequence


def test_stop_closes_client_connections_promptly(connect: Callable[..., Client], smsc: Smsc) -> None:
    client = connect()
    smsc.stop()
    with pytest.raises(smpplib.exceptions.ConnectionError):
        client.read_pdu()


class TlsClient(Client):  # type: ignore[misc]
    """smpplib wraps without server_hostname, which a verifying context refuses (see LIBRARIES.md)."""

    def _create_socket(self) -> socket.socket:
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.settimeout(self.timeout)
        return self._ssl_context.wrap_socket(raw, server_hostname="localhost")  # type: ignore[no-any-return]


def test_smpp_over_tls(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=str(cert))
    with Smsc(dataclasses.replace(CONFIG, ssl_context=server_context)) as smsc:
        client = TlsClient("127.0.0.1", smsc.port, timeout=5, ssl_context=client_context,
                           allow_unknown_opt_params=True)
        client.connect()
        try:
            client.bind_transceiver(system_id="remessa", password="secret", system_type="MovileSMSC")
            submit(client)
            message_id = client.read_pdu().message_id
            for _ in range(2):
                deliver = client.read_pdu()
                assert deliver.receipted_message_id == message_id
                ack(client, deliver)
            wait_for(lambda: smsc.stats().deliver_sm_acked == 2, timeout=5)
        finally:
            client.disconnect()


# --- codec ------------------------------------------------------------------------------------------------

def test_codec_reads_what_smpplib_writes() -> None:
    client = Client("127.0.0.1", 1, allow_unknown_opt_params=True)
    p = smpplib.smpp.make_pdu("submit_sm", client=client, source_addr_ton=1, source_addr_npi=1, source_addr="remessa",
                              dest_addr_ton=1, dest_addr_npi=1, destination_addr="5511988887777",
                              short_message="olá".encode("utf-16-be"), data_coding=8, registered_delivery=1,
                              user_message_reference=7)
    decoded = pdu.decode(p.generate())
    assert decoded.command == "submit_sm" and decoded.sequence == p.sequence
    assert decoded.text("destination_addr") == "5511988887777"
    assert decoded.octets("short_message").decode("utf-16-be") == "olá"
    assert (decoded.number("data_coding"), decoded.number("registered_delivery")) == (8, 1)
    assert decoded.tlvs == {0x0204: b"\x00\x07"}


@pytest.mark.parametrize("p", [
    pdu.Pdu(pdu.DELIVER_SM, 9, fields={"source_addr": "5511", "esm_class": 4, "short_message": b"id:x"},
            tlvs={pdu.TLV_MESSAGE_STATE: b"\x02", 0x1404: b"SENT_SUCCESS"}),
    pdu.Pdu(pdu.SUBMIT_SM | pdu.RESP, 3, fields={"message_id": "abc"}),
    pdu.Pdu(pdu.ENQUIRE_LINK, 2**31 - 1),
])
def test_codec_round_trip(p: pdu.Pdu) -> None:
    again = pdu.decode(pdu.encode(p))
    assert (again.command_id, again.sequence, dict(again.tlvs)) == (p.command_id, p.sequence, dict(p.tlvs))
    assert {k: v for k, v in again.fields.items() if k in p.fields} == dict(p.fields)


def test_codec_error_response_has_no_body_and_bad_pdus_raise() -> None:
    assert len(pdu.encode(pdu.Pdu(pdu.SUBMIT_SM | pdu.RESP, 1, pdu.ESME_RTHROTTLED, {"message_id": "x"}))) == 16
    with pytest.raises(pdu.PduError):
        pdu.decode(struct.pack(">IIII", 20, pdu.SUBMIT_SM, 0, 1))
    with pytest.raises(pdu.PduError):
        pdu.decode(struct.pack(">IIII", 17, pdu.SUBMIT_SM, 0, 1) + b"x")
