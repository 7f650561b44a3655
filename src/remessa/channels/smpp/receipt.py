"""Turn an SMPP delivery receipt (deliver_sm fields already decoded by the SMPP client) into a `Receipt`.

Pure functions: the receipt text of SMPP 3.4 Appendix B, the standard and vendor TLVs, and the provider's
stat/err → status code table (seed 002). No smpplib import; the SMPP channel hands in plain values.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, tzinfo
from typing import Any

from remessa.model import DELIVERED_CODES, SENT_CODES, Receipt

log = logging.getLogger(__name__)

#: TLV tags read from a deliver_sm.
RECEIPTED_MESSAGE_ID = 0x001E
MESSAGE_STATE = 0x0427
SENT_CODE_TLV = 0x1403  # provider: sent status code
SENT_NAME_TLV = 0x1404  # provider: sent status name
DELIVERED_CODE_TLV = 0x1405  # provider: delivered status code
DELIVERED_NAME_TLV = 0x1406  # provider: delivered status name
VENDOR_TLVS = (SENT_CODE_TLV, SENT_NAME_TLV, DELIVERED_CODE_TLV, DELIVERED_NAME_TLV)

#: esm_class bits 5..2 (mask 0x3C): message type.
_ESM_TYPE_MASK = 0x3C
_SMSC_DELIVERY_RECEIPT = 0x04
_INTERMEDIATE_NOTIFICATION = 0x20

#: message_state (0x0427) → the stat word it stands for.
MESSAGE_STATES = {
    1: "ENROUTE", 2: "DELIVRD", 3: "EXPIRED", 4: "DELETED",
    5: "UNDELIV", 6: "ACCEPTD", 7: "UNKNOWN", 8: "REJECTD",
}

_SENT_SUCCESS = 2
_DELIVERED_SUCCESS = 4
_NOT_DELIVERED = 104
_EXPIRED = 101
_INTERNAL_ERROR = 301

# A key is a known word followed by ':'; not preceded by a letter/digit so "sub" does not match inside "xsub".
_KEY = re.compile(
    r"(?<![A-Za-z0-9_])(id|sub|dlvrd|submit[\s_]*date|done[\s_]*date|stat|err|text)\s*:",
    re.IGNORECASE,
)
#: the text as SMPP 3.4 Appendix B writes it (most SMSCs, the provider's included): read in one match.
_STANDARD = re.compile(
    r"id:(\S*) sub:(\S*) dlvrd:(\S*) submit date:(\d*) done date:(\d*) stat:(\S*) err:(\S*)(?: text:(.*))?",
    re.IGNORECASE | re.DOTALL,
)
_STANDARD_KEYS = ("id", "sub", "dlvrd", "submit_date", "done_date", "stat", "err", "text")
_SEPARATORS = re.compile(r"[\s_]+")


def _text(value: bytes | str) -> str:
    if isinstance(value, str):
        return value
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")  # never fails: every byte is a character


def _clean(value: bytes | str) -> str:
    return _text(value).strip().strip("\x00").strip()


def parse_receipt_text(text: bytes | str) -> dict[str, str]:
    """Fields of a receipt text `id:… sub:… dlvrd:… submit date:… done date:… stat:… err:… text:…`.

    Lenient: keys in any case and order (``text`` runs to the end), missing fields left out, first
    occurrence wins, garbage gives what could be found (possibly ``{}``); never raises. Keys returned:
    id (lower-case), sub, dlvrd, submit_date, done_date, stat (upper-case), err, text. Values are strings.
    """
    source = _text(text) if isinstance(text, (bytes, str)) else ""
    standard = _STANDARD.fullmatch(source.rstrip("\x00"))
    if standard:
        fields = {key: value for key, value in zip(_STANDARD_KEYS, standard.groups(), strict=True) if value is not None}
        if "text" in fields:
            fields["text"] = fields["text"].lstrip(" ")
    else:
        fields = _lenient_fields(source)
    if "id" in fields:
        fields["id"] = fields["id"].lower()
    if "stat" in fields:
        fields["stat"] = fields["stat"].upper()
    return fields


def _lenient_fields(source: str) -> dict[str, str]:
    """parse_receipt_text for any other layout: keys found wherever they are, values up to the next key."""
    fields: dict[str, str] = {}
    matches = list(_KEY.finditer(source))
    for i, match in enumerate(matches):
        key = _SEPARATORS.sub("_", match.group(1).lower())
        if key == "text":
            end = len(source)
        else:
            end = matches[i + 1].start() if i + 1 < len(matches) else len(source)
        if key not in fields:
            value = source[match.end():end]
            fields[key] = value.lstrip(" ").rstrip("\x00") if key == "text" else _clean(value)
        if key == "text":
            break
    return fields


def parse_receipt_date(value: str, zone: tzinfo = UTC) -> datetime | None:
    """A receipt date `YYMMDDhhmm`, `YYMMDDhhmmss` or `YYYYMMDDhhmmss`, read on the SMSC's clock in `zone`
    (UTC by default: seed 002's servers run in UTC), as an aware UTC datetime; else None."""
    digits = value.strip()
    if not digits.isascii() or not digits.isdigit() or len(digits) not in (10, 12, 14):
        return None
    if len(digits) == 14:
        year, digits = int(digits[:4]), digits[4:]
    else:
        year, digits = 2000 + int(digits[:2]), digits[2:]  # as strptime's %y: 00-68 → 20xx
        if year > 2068:
            year -= 100
    try:
        local = datetime(year, int(digits[0:2]), int(digits[2:4]), int(digits[4:6]), int(digits[6:8]),
                         int(digits[8:10] or 0), tzinfo=zone)
        return local.astimezone(UTC)
    except ValueError:
        return None


def is_receipt(esm_class: int) -> bool:
    """True if a deliver_sm with this esm_class is a delivery receipt rather than a mobile-originated message.

    Message type is esm_class bits 5..2: 0x04 SMSC delivery receipt, 0x20 intermediate delivery notification
    (both carry a status for one of our messages, so both count; an intermediate one usually says ENROUTE
    and yields no Receipt). 0x08 (SME delivery acknowledgement) and 0x10 (user acknowledgement) come from the
    handset's application, not the SMSC, and are not receipts.
    """
    return (esm_class & _ESM_TYPE_MASK) in (_SMSC_DELIVERY_RECEIPT, _INTERMEDIATE_NOTIFICATION)


def tlv_int(value: bytes | str | int | None) -> int | None:
    """An integer TLV sent as ASCII digits (NUL-terminated or not) or as a big-endian binary integer.

    Bytes that are all ASCII digits are read as decimal, so a one-byte binary 0x30..0x39 (48..57) reads as a
    digit; no status code or message_state lies in that range.
    """
    if value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        value = value.encode("latin-1", "replace")
    digits = value.rstrip(b"\x00").strip()
    if digits.isdigit():
        return int(digits)
    if 0 < len(value) <= 8:
        return int.from_bytes(value, "big")
    return None


def tlv_str(value: bytes | str | None) -> str:
    """A C-string TLV (trailing NUL optional) as text."""
    return "" if value is None else _clean(value)


def codes_for_stat(stat: str, err: str = "") -> tuple[int | None, int | None]:
    """(sent code, delivered code) for a receipt's stat and err words, per the provider's table (seed 002).

    ACCEPTD → 2; DELIVRD → 2 + 4; UNDELIV → 2 + 104 whatever err says; EXPIRED → 101; REJECTD → err when it is
    a known failure code, else 301; UNKNOWN and DELETED → 301. ENROUTE and unrecognised words → (None, None):
    nothing to record.
    """
    stat = stat.strip().upper()
    error = int(err) if err.strip().isdigit() else None
    if stat == "ACCEPTD":
        return _SENT_SUCCESS, None
    if stat == "DELIVRD":
        return _SENT_SUCCESS, _DELIVERED_SUCCESS
    if stat == "UNDELIV":
        return _SENT_SUCCESS, _NOT_DELIVERED
    if stat == "EXPIRED":
        return _EXPIRED, None
    if stat == "REJECTD":
        known = error is not None and error in SENT_CODES and error != _SENT_SUCCESS
        return (error if known else _INTERNAL_ERROR), None
    if stat in ("UNKNOWN", "DELETED"):
        return _INTERNAL_ERROR, None
    return None, None


def _vendor(tlvs: dict[int, Any], code_tag: int, name_tag: int,
            names: dict[int, str]) -> tuple[int, str] | None:
    """The provider's code and name from its TLVs, only when they hold one of its known codes (or names);
    other content (a simulator's own numbers) is ignored and stat/err decide."""
    code = tlv_int(tlvs.get(code_tag))
    name = tlv_str(tlvs.get(name_tag)).upper()
    if code is not None and code in names:
        return code, name if name in names.values() else names[code]
    if code is None and name:
        return next(((c, n) for c, n in names.items() if n == name), None)
    return None


def _named(code: int | None, names: dict[int, str]) -> tuple[int | None, str]:
    """A code derived from stat/err, with its name."""
    return (None, "") if code is None else (code, names.get(code, ""))


def receipt_from_deliver(
    esm_class: int, short_message: bytes, tlvs: dict[int, Any], now: datetime, zone: tzinfo = UTC
) -> Receipt | None:
    """The Receipt a deliver_sm carries, or None when there is nothing to record.

    None for a mobile-originated message, a receipt without any id, and a receipt with no status change
    (ENROUTE, an unknown stat word, garbage). The receipted_message_id TLV wins over the text's id; the
    provider's TLVs 0x1403–0x1406 win over codes derived from stat/err, field by field, when they hold
    one of its known codes (other content is kept in `raw` and ignored); the text's stat wins
    over message_state, which is used only when the text has no stat. `at` is the done date (read in `zone`,
the SMSC's clock) or `now`.
    """
    if not is_receipt(esm_class):
        return None
    fields = parse_receipt_text(short_message)
    raw: dict[str, Any] = dict(fields)
    raw["esm_class"] = esm_class
    tlv_id = tlv_str(tlvs.get(RECEIPTED_MESSAGE_ID)).lower()
    if tlv_id:
        raw["receipted_message_id"] = tlv_id
    provider_id = tlv_id or fields.get("id", "")
    if not provider_id:
        log.debug("receipt without an id ignored: %r", raw)
        return None

    stat = fields.get("stat", "")
    state = tlv_int(tlvs.get(MESSAGE_STATE))
    if state is not None:
        raw["message_state"] = state
        if not stat:
            stat = MESSAGE_STATES.get(state, "")
    stat_sent, stat_delivered = codes_for_stat(stat, fields.get("err", ""))

    vendor = {f"0x{tag:04X}": tlv_str(tlvs[tag]) for tag in VENDOR_TLVS if tlvs.get(tag) is not None}
    if vendor:
        raw["vendor_tlvs"] = vendor  # kept as they came, whether or not they were used
    sent_code, sent_status = (_vendor(tlvs, SENT_CODE_TLV, SENT_NAME_TLV, SENT_CODES)
                              or _named(stat_sent, SENT_CODES))
    delivered_code, delivered_status = (_vendor(tlvs, DELIVERED_CODE_TLV, DELIVERED_NAME_TLV, DELIVERED_CODES)
                                        or _named(stat_delivered, DELIVERED_CODES))
    if sent_code is None and delivered_code is None:
        log.debug("receipt for %s with no status change (stat %r)", provider_id, stat)
        return None

    done = parse_receipt_date(fields.get("done_date", ""), zone)
    return Receipt(
        provider_id=provider_id,
        at=done or now,
        sent_code=sent_code,
        sent_status=sent_status,
        delivered_code=delivered_code,
        delivered_status=delivered_status,
        raw=raw,
    )
