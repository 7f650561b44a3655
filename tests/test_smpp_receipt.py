"""Delivery receipts from several SMSCs' formats become the right Receipt (codes per seed 002)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from remessa.channels.smpp import receipt as smpp_receipt
from remessa.channels.smpp.ids import IdForms
from remessa.channels.smpp.receipt import (
    is_receipt,
    parse_receipt_date,
    parse_receipt_text,
    receipt_from_deliver,
    tlv_int,
)
from remessa.channels.smpp.settings import SmppSettings
from remessa.model import Receipt, Status, status_for_delivered_code, status_for_sent_code

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
UUID = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
RECEIPT = 0x04


def provider_text(stat: str, err: str) -> bytes:
    return (
        f"id:{UUID} sub:001 dlvrd:001 submit date:2405011155 done date:2405011158 "
        f"stat:{stat} err:{err} text:Ola mundo"
    ).encode()


# ---- parse_receipt_text -------------------------------------------------------------------------

PARSE_CASES = [
    pytest.param(
        b"id:1234567890 sub:001 dlvrd:001 submit date:2405011155 done date:2405011158 stat:DELIVRD err:000"
        b" text:Hi",
        {"id": "1234567890", "sub": "001", "dlvrd": "001", "submit_date": "2405011155",
         "done_date": "2405011158", "stat": "DELIVRD", "err": "000", "text": "Hi"},
        id="kannel",
    ),
    pytest.param(
        "id:0A1B2C3D sub:001 dlvrd:000 submit date:240501115500 done date:240501115810 stat:UNDELIV err:104"
        " text:",
        {"id": "0a1b2c3d", "sub": "001", "dlvrd": "000", "submit_date": "240501115500",
         "done_date": "240501115810", "stat": "UNDELIV", "err": "104", "text": ""},
        id="jasmin-hex-empty-text",
    ),
    pytest.param(
        b"ID:abc  SUBMIT DATE:2405011155   DONE DATE:2405011158  STAT:delivrd  ERR:0 Text:hello id: x",
        {"id": "abc", "submit_date": "2405011155", "done_date": "2405011158", "stat": "DELIVRD",
         "err": "0", "text": "hello id: x"},
        id="upper-keys-extra-spaces-missing-sub-dlvrd-capital-Text",
    ),
    pytest.param(b"id:77 stat:ACCEPTD\x00", {"id": "77", "stat": "ACCEPTD"}, id="nul-terminated-minimal"),
    pytest.param(
        b"submit_date:2405011155 done_date:2405011158",
        {"submit_date": "2405011155", "done_date": "2405011158"},
        id="underscored",
    ),
    pytest.param(b"\xff\xfe garbage \x00\x01", {}, id="binary-garbage"),
    pytest.param("", {}, id="empty"),
    pytest.param("hello: world, stat is fine", {}, id="no-keys"),
    pytest.param("id:1 id:2 stat:EXPIRED", {"id": "1", "stat": "EXPIRED"}, id="first-wins"),
    pytest.param("stat:DELIVRD text:Olá ção".encode(), {"stat": "DELIVRD", "text": "Olá ção"}, id="utf8"),
    pytest.param("stat:DELIVRD text:Olá".encode("latin-1"), {"stat": "DELIVRD", "text": "Olá"}, id="latin1"),
]


@pytest.mark.parametrize(("text", "expected"), PARSE_CASES)
def test_parse_receipt_text(text: bytes | str, expected: dict[str, str]) -> None:
    assert parse_receipt_text(text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2405011158", datetime(2024, 5, 1, 11, 58, tzinfo=UTC)),
        ("240501115807", datetime(2024, 5, 1, 11, 58, 7, tzinfo=UTC)),
        ("20240501115807", datetime(2024, 5, 1, 11, 58, 7, tzinfo=UTC)),
        ("2413011158", None),  # month 13
        ("24050111", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_receipt_date(value: str, expected: datetime | None) -> None:
    assert parse_receipt_date(value) == expected


# ---- is_receipt, tlv_int, IdForms ---------------------------------------------------------------

@pytest.mark.parametrize(
    ("esm_class", "expected"),
    [(0x00, False), (0x04, True), (0x44, True), (0x84, True), (0x20, True), (0x08, False), (0x10, False),
     (0x40, False), (0x0C, False)],
)
def test_is_receipt(esm_class: int, expected: bool) -> None:
    assert is_receipt(esm_class) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(b"2", 2), (b"104\x00", 104), (b"004", 4), (b"\x02", 2), (b"\x00\x68", 104), (b"\x00\x00\x01\x2d", 301),
     (b"\x01\x00", 256), (b"\x00", 0), (b"", None), (None, None), (7, 7), ("101", 101), (b"x" * 9, None)],
)
def test_tlv_int(value: bytes | str | int | None, expected: int | None) -> None:
    assert tlv_int(value) == expected


def forms(*ids: str) -> IdForms:
    learned = IdForms()
    learned.learn(ids)
    return learned


@pytest.mark.parametrize(
    ("submitted", "receipt_id", "alias"),
    [
        # decimal ids: a decimal receipt id is read as it is, never as hex (1544 is not 0x608's receipt)
        (("608", "1543", "99999"), "1544", ""),
        (("608", "1543"), "608", ""),
        # ...but hex letters in a receipt of a decimal provider are its hex form
        (("608", "1543"), "5a4", "1444"),
        # hex ids of one width: a decimal number of another length is their decimal form, zeros kept
        (("0a1b2c3d", "0000beef"), "169552957", "0a1b2c3d"),
        (("0a1b2c3d", "0000beef"), "48879", "0000beef"),
        (("0a1b2c3d",), "1b2c3d4e", ""),  # a hex id of the provider's own form: as it is
        (("0a1b2c3d",), "12345678", ""),  # digits of the provider's own length may be a hex id: as it is
        (("a1b2c3d", "beef"), "48879", "beef"),  # widths vary: no zeros
        # UUIDs without dashes, from a UUID provider only
        ((UUID,), UUID.replace("-", ""), UUID.lower()),
        (("0a1b2c3d",), UUID.replace("-", "").lower(), ""),
        # nothing learned yet: nothing guessed
        ((), "1544", ""),
        ((), UUID.replace("-", ""), ""),
        (("608",), "not-an-id!", ""),
    ],
)
def test_a_receipt_id_is_read_in_the_form_the_provider_answered_with(
        submitted: tuple[str, ...], receipt_id: str, alias: str) -> None:
    assert forms(*submitted).alias(receipt_id) == alias


# ---- receipt_from_deliver -----------------------------------------------------------------------

VENDOR = {
    # (1403, 1404, 1405, 1406) as the provider sends them
    "DELIVRD": (b"2\x00", b"SENT_SUCCESS\x00", b"4\x00", b"DELIVERED_SUCCESS\x00"),
    "UNDELIV": (b"2", b"SENT_SUCCESS", b"104", b"NOT_DELIVERED"),
}

# stat, err → expected sent code, sent name, delivered code, delivered name, resulting row status
STAT_CASES = [
    ("ACCEPTD", "000", 2, "SENT_SUCCESS", None, "", Status.SENT),
    ("DELIVRD", "000", 2, "SENT_SUCCESS", 4, "DELIVERED_SUCCESS", Status.DELIVERED),
    ("UNDELIV", "104", 2, "SENT_SUCCESS", 104, "NOT_DELIVERED", Status.UNDELIVERED),
    ("UNDELIV", "999", 2, "SENT_SUCCESS", 104, "NOT_DELIVERED", Status.UNDELIVERED),
    ("EXPIRED", "101", 101, "EXPIRED", None, "", Status.EXPIRED),
    ("REJECTD", "102", 102, "CARRIER_COMMUNICATION_ERROR", None, "", Status.REJECTED),
    ("REJECTD", "103", 103, "REJECTED_BY_CARRIER", None, "", Status.REJECTED),
    ("REJECTD", "201", 201, "NO_CREDIT", None, "", Status.REJECTED),
    ("REJECTD", "202", 202, "INVALID_DESTINATION_NUMBER", None, "", Status.REJECTED),
    ("REJECTD", "203", 203, "BLACKLISTED", None, "", Status.REJECTED),
    ("REJECTD", "204", 204, "DESTINATION_BLOCKED_BY_OPTOUT", None, "", Status.REJECTED),
    ("REJECTD", "205", 205, "DESTINATION_MESSAGE_LIMIT_REACHED", None, "", Status.REJECTED),
    ("REJECTD", "207", 207, "INVALID_MESSAGE_TEXT", None, "", Status.REJECTED),
    ("REJECTD", "301", 301, "INTERNAL_ERROR", None, "", Status.REJECTED),
    ("REJECTD", "999", 301, "INTERNAL_ERROR", None, "", Status.REJECTED),
    ("REJECTD", "000", 301, "INTERNAL_ERROR", None, "", Status.REJECTED),
    ("REJECTD", "", 301, "INTERNAL_ERROR", None, "", Status.REJECTED),
    ("UNKNOWN", "301", 301, "INTERNAL_ERROR", None, "", Status.REJECTED),
    ("DELETED", "000", 301, "INTERNAL_ERROR", None, "", Status.REJECTED),
    ("delivrd", "0", 2, "SENT_SUCCESS", 4, "DELIVERED_SUCCESS", Status.DELIVERED),
]


def final_status(receipt: Receipt) -> Status:
    if receipt.delivered_code is not None:
        return status_for_delivered_code(receipt.delivered_code)
    assert receipt.sent_code is not None
    return status_for_sent_code(receipt.sent_code)


@pytest.mark.parametrize(
    ("stat", "err", "sent", "sent_name", "delivered", "delivered_name", "status"), STAT_CASES
)
def test_stat_mapping_from_text_alone(
    stat: str, err: str, sent: int, sent_name: str, delivered: int | None, delivered_name: str, status: Status
) -> None:
    receipt = receipt_from_deliver(RECEIPT, provider_text(stat, err), {}, NOW)
    assert receipt is not None
    assert (receipt.sent_code, receipt.sent_status) == (sent, sent_name)
    assert (receipt.delivered_code, receipt.delivered_status) == (delivered, delivered_name)
    assert final_status(receipt) is status
    assert receipt.provider_id == UUID.lower()
    assert receipt.at == datetime(2024, 5, 1, 11, 58, tzinfo=UTC)
    assert receipt.raw["stat"] == stat.upper()


@pytest.mark.parametrize("stat", ["DELIVRD", "UNDELIV"])
def test_provider_receipt_with_vendor_tlvs(stat: str) -> None:
    sent, sent_name, delivered, delivered_name = VENDOR[stat]
    tlvs = {0x001E: UUID.encode() + b"\x00", 0x0427: b"\x02" if stat == "DELIVRD" else b"\x05",
            0x1403: sent, 0x1404: sent_name, 0x1405: delivered, 0x1406: delivered_name}
    receipt = receipt_from_deliver(RECEIPT, provider_text(stat, "000"), tlvs, NOW)
    assert receipt is not None
    assert receipt.provider_id == UUID.lower()
    assert receipt.sent_code == 2 and receipt.sent_status == "SENT_SUCCESS"
    assert receipt.delivered_code == int(delivered.rstrip(b"\x00"))
    assert receipt.delivered_status == delivered_name.rstrip(b"\x00").decode()


def test_vendor_tlvs_win_over_stat_and_binary_digits_are_accepted() -> None:
    # text says DELIVRD, the provider's TLVs (binary ints, no names) say rejected 202
    tlvs = {0x1403: b"\x00\xca"}
    receipt = receipt_from_deliver(RECEIPT, provider_text("ACCEPTD", "000"), tlvs, NOW)
    assert receipt is not None
    assert (receipt.sent_code, receipt.sent_status) == (202, "INVALID_DESTINATION_NUMBER")
    assert receipt.delivered_code is None


def test_vendor_delivered_tlv_alone_completes_the_text_codes() -> None:
    receipt = receipt_from_deliver(RECEIPT, provider_text("DELIVRD", "000"), {0x1405: b"\x01\x91"}, NOW)
    assert receipt is not None
    assert (receipt.sent_code, receipt.delivered_code, receipt.delivered_status) == (2, 401, "MESSAGE_SPLIT")


def test_vendor_name_without_code_is_looked_up() -> None:
    receipt = receipt_from_deliver(RECEIPT, b"id:1 stat:ENROUTE", {0x1404: b"NO_CREDIT\x00"}, NOW)
    assert receipt is not None and receipt.sent_code == 201


@pytest.mark.parametrize(
    ("tlv_id", "expected"),
    [(UUID.encode() + b"\x00", UUID.lower()), (UUID.encode(), UUID.lower()), (b"0A1B\x00", "0a1b")],
)
def test_receipted_message_id_with_and_without_nul_wins_over_text(tlv_id: bytes, expected: str) -> None:
    text = b"id:someotherid sub:001 dlvrd:001 done date:2405011158 stat:DELIVRD err:000"
    receipt = receipt_from_deliver(RECEIPT, text, {0x001E: tlv_id}, NOW)
    assert receipt is not None
    assert receipt.provider_id == expected
    assert receipt.raw["id"] == "someotherid"


VENDOR_FORMATS = [
    pytest.param(  # Kannel: decimal id, 10-digit dates
        b"id:1234567890 sub:001 dlvrd:001 submit date:2405011155 done date:2405011158 stat:DELIVRD err:000 "
        b"text:Seu codigo e 1234",
        {}, "1234567890", 2, 4, datetime(2024, 5, 1, 11, 58, tzinfo=UTC),
        id="kannel",
    ),
    pytest.param(  # Jasmin: hex id, 12-digit dates, lower-case text:
        b"id:8F3A2B1C sub:001 dlvrd:000 submit date:240501115500 done date:240501115930 stat:UNDELIV err:104 "
        b"text:",
        {}, "8f3a2b1c", 2, 104, datetime(2024, 5, 1, 11, 59, 30, tzinfo=UTC),
        id="jasmin",
    ),
    pytest.param(  # no sub/dlvrd, capitalised Text:, no done date → now
        b"id:abc123 stat:REJECTD err:203 Text:promo", {}, "abc123", 203, None, NOW, id="missing-fields",
    ),
    pytest.param(  # unparseable done date → now
        b"id:9 done date:2499999999 stat:ACCEPTD err:000", {}, "9", 2, None, NOW, id="bad-date",
    ),
    pytest.param(  # text is garbage; everything comes from TLVs (message_state as the stat)
        b"\x00\xff\xfe", {0x001E: b"77aa\x00", 0x0427: b"\x03"}, "77aa", 101, None, NOW, id="tlvs-only",
    ),
    pytest.param(  # message_state as ASCII digit
        b"id:5", {0x0427: b"2"}, "5", 2, 4, NOW, id="message-state-ascii",
    ),
    pytest.param(  # text stat wins over message_state
        b"id:5 stat:REJECTD err:202", {0x0427: b"\x02"}, "5", 202, None, NOW,
        id="text-stat-over-message-state",
    ),
]


@pytest.mark.parametrize(("text", "tlvs", "provider_id", "sent", "delivered", "at"), VENDOR_FORMATS)
def test_vendor_formats(
    text: bytes, tlvs: dict[int, bytes], provider_id: str, sent: int, delivered: int | None, at: datetime
) -> None:
    receipt = receipt_from_deliver(RECEIPT, text, tlvs, NOW)
    assert receipt is not None
    assert (receipt.provider_id, receipt.sent_code, receipt.delivered_code, receipt.at) == (
        provider_id, sent, delivered, at
    )


@pytest.mark.parametrize(
    ("esm_class", "text", "tlvs"),
    [
        pytest.param(0x00, provider_text("DELIVRD", "000"), {}, id="mobile-originated"),
        pytest.param(0x08, provider_text("DELIVRD", "000"), {}, id="sme-ack"),
        pytest.param(RECEIPT, provider_text("ENROUTE", "000"), {}, id="enroute"),
        pytest.param(0x20, provider_text("ENROUTE", "000"), {0x0427: b"\x01"}, id="intermediate-enroute"),
        pytest.param(RECEIPT, provider_text("BUFFRED", "000"), {}, id="unknown-stat-word"),
        pytest.param(RECEIPT, b"stat:DELIVRD err:000", {}, id="no-id-anywhere"),
        pytest.param(RECEIPT, b"\xde\xad\xbe\xef", {}, id="garbage"),
        pytest.param(RECEIPT, b"id:1", {0x0427: b"\x09"}, id="unknown-message-state"),
    ],
)
def test_nothing_to_record(esm_class: int, text: bytes, tlvs: dict[int, bytes]) -> None:
    assert receipt_from_deliver(esm_class, text, tlvs, NOW) is None


def test_raw_keeps_the_parsed_fields() -> None:
    tlvs = {0x001E: b"ABC\x00", 0x0427: b"\x02"}
    receipt = receipt_from_deliver(0x04, provider_text("DELIVRD", "000"), tlvs, NOW)
    assert receipt is not None
    assert receipt.raw == {
        "id": UUID.lower(), "sub": "001", "dlvrd": "001", "submit_date": "2405011155",
        "done_date": "2405011158", "stat": "DELIVRD", "err": "000", "text": "Ola mundo",
        "esm_class": 4, "receipted_message_id": "abc", "message_state": 2,
    }


@pytest.mark.parametrize("text", [
    "id:7f3c0a2e-6b1e-4c2d-9a3f-000000000001 sub:001 dlvrd:001 submit date:2611231200 done date:2611231201"
    " stat:DELIVRD err:000 text:Seu codigo",
    "ID:AB12 SUB:001 DLVRD:000 SUBMIT DATE:261123120000 DONE DATE:261123120105 STAT:undeliv ERR:104",
    "id:99 sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:DELIVRD err:000 text: \x00",
])
def test_the_standard_layout_reads_the_same_as_the_lenient_parser(text: str) -> None:
    lenient = smpp_receipt._lenient_fields(text)
    lenient["id"], lenient["stat"] = lenient["id"].lower(), lenient["stat"].upper()
    assert parse_receipt_text(text) == lenient


@given(st.text(alphabet="0123456789", min_size=10, max_size=14))
def test_receipt_dates_read_as_strptime_reads_them(digits: str) -> None:
    formats = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S", 14: "%Y%m%d%H%M%S"}
    try:
        expected = (datetime.strptime(digits, formats[len(digits)]).replace(tzinfo=UTC)
                    if len(digits) in formats else None)
    except ValueError:
        expected = None
    assert parse_receipt_date(digits) == expected


def test_receipt_dates_are_read_on_the_smscs_clock() -> None:
    sao_paulo = ZoneInfo("America/Sao_Paulo")  # UTC-3, no summer time since 2019
    assert parse_receipt_date("2612021000", sao_paulo) == datetime(2026, 12, 2, 13, 0, tzinfo=UTC)
    assert parse_receipt_date("2612021000") == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # seed 002: UTC
    text = b"id:abc sub:001 dlvrd:001 submit date:2612020959 done date:2612021000 stat:DELIVRD err:000 text:"
    receipt = receipt_from_deliver(0x04, text, {}, datetime(2026, 12, 2, 13, 1, tzinfo=UTC), sao_paulo)
    assert receipt is not None and receipt.at == datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


def test_an_unknown_receipt_time_zone_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="receipt_time_zone: unknown time zone 'America/Sao_Pablo'"):
        SmppSettings(receipt_time_zone="America/Sao_Pablo")


@pytest.mark.parametrize(
    ("stat", "err", "vendor", "codes"),
    [
        # a classic simulator fills 0x1403 with its own number: stat decides, the TLV is kept in raw
        ("ACCEPTD", "000", {0x1403: b"4412345678"}, (2, "SENT_SUCCESS", None, "")),
        ("DELIVRD", "000", {0x1403: b"4412345678\x00"}, (2, "SENT_SUCCESS", 4, "DELIVERED_SUCCESS")),
        ("UNDELIV", "104", {0x1405: b"77", 0x1406: b"SOMETHING"}, (2, "SENT_SUCCESS", 104, "NOT_DELIVERED")),
        # known codes and names still win over stat
        ("DELIVRD", "000", {0x1405: b"104"}, (2, "SENT_SUCCESS", 104, "NOT_DELIVERED")),
        ("ACCEPTD", "000", {0x1404: b"SENT_SUCCESS", 0x1403: b""}, (2, "SENT_SUCCESS", None, "")),
        ("REJECTD", "000", {0x1403: b"203"}, (203, "BLACKLISTED", None, "")),
    ],
)
def test_vendor_tlvs_are_used_only_when_they_hold_known_codes(
        stat: str, err: str, vendor: dict[int, bytes], codes: tuple[object, ...]) -> None:
    receipt = receipt_from_deliver(RECEIPT, provider_text(stat, err), vendor, NOW)
    assert receipt is not None
    assert (receipt.sent_code, receipt.sent_status, receipt.delivered_code, receipt.delivered_status) == codes
    assert set(receipt.raw["vendor_tlvs"]) == {f"0x{tag:04X}" for tag in vendor}
