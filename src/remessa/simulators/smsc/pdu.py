"""A small SMPP 3.4 PDU codec for the sandbox SMSC: the commands it speaks, their fields, TLVs and receipts.

Written independently of smpplib on purpose, so that tests which drive the simulator with smpplib check
two implementations against each other rather than one against itself.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

HEADER = struct.Struct(">IIII")
MAX_PDU_LENGTH = 64 * 1024

# command ids (responses are the request id with the high bit set)
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
RESP = 0x80000000

# command_status values used by the simulator
ESME_ROK = 0x00
ESME_RINVMSGLEN = 0x01
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RINVBNDSTS = 0x04
ESME_RALYBND = 0x05
ESME_RINVDSTADR = 0x0B
ESME_RBINDFAIL = 0x0D
ESME_RSYSERR = 0x08
ESME_RTHROTTLED = 0x58

# TLV tags
TLV_RECEIPTED_MESSAGE_ID = 0x001E
TLV_MESSAGE_STATE = 0x0427
TLV_SC_INTERFACE_VERSION = 0x0210

_BIND = ("system_id:c", "password:c", "system_type:c", "interface_version:b", "addr_ton:b", "addr_npi:b",
         "address_range:c")
_SM = ("service_type:c", "source_addr_ton:b", "source_addr_npi:b", "source_addr:c", "dest_addr_ton:b",
       "dest_addr_npi:b", "destination_addr:c", "esm_class:b", "protocol_id:b", "priority_flag:b",
       "schedule_delivery_time:c", "validity_period:c", "registered_delivery:b", "replace_if_present_flag:b",
       "data_coding:b", "sm_default_msg_id:b", "short_message:s")

# command id -> (name, mandatory fields as "name:kind"; kind c = C-string, b = byte, s = sm_length + octets)
COMMANDS: Mapping[int, tuple[str, tuple[str, ...]]] = MappingProxyType({
    GENERIC_NACK: ("generic_nack", ()),
    BIND_RECEIVER: ("bind_receiver", _BIND),
    BIND_RECEIVER | RESP: ("bind_receiver_resp", ("system_id:c",)),
    BIND_TRANSMITTER: ("bind_transmitter", _BIND),
    BIND_TRANSMITTER | RESP: ("bind_transmitter_resp", ("system_id:c",)),
    BIND_TRANSCEIVER: ("bind_transceiver", _BIND),
    BIND_TRANSCEIVER | RESP: ("bind_transceiver_resp", ("system_id:c",)),
    SUBMIT_SM: ("submit_sm", _SM),
    SUBMIT_SM | RESP: ("submit_sm_resp", ("message_id:c",)),
    DELIVER_SM: ("deliver_sm", _SM),
    DELIVER_SM | RESP: ("deliver_sm_resp", ("message_id:c",)),
    UNBIND: ("unbind", ()),
    UNBIND | RESP: ("unbind_resp", ()),
    ENQUIRE_LINK: ("enquire_link", ()),
    ENQUIRE_LINK | RESP: ("enquire_link_resp", ()),
})

Value = int | str | bytes


class PduError(ValueError):
    """A PDU that cannot be framed or decoded; `status` is the command_status to answer it with."""

    def __init__(self, reason: str, status: int = ESME_RINVCMDLEN) -> None:
        super().__init__(f"bad PDU: {reason}")
        self.status = status


@dataclass(frozen=True)
class Pdu:
    """One decoded PDU. Fields missing from `fields` encode as 0 / empty; `tlvs` maps tag -> raw value."""

    command_id: int
    sequence: int
    status: int = ESME_ROK
    fields: Mapping[str, Value] = field(default_factory=dict)
    tlvs: Mapping[int, bytes] = field(default_factory=dict)

    @property
    def command(self) -> str:
        known = COMMANDS.get(self.command_id)
        return known[0] if known else f"unknown_0x{self.command_id:08x}"

    @property
    def known(self) -> bool:
        return self.command_id in COMMANDS

    def text(self, name: str) -> str:
        value = self.fields.get(name, "")
        return value.decode("latin-1") if isinstance(value, bytes) else str(value)

    def number(self, name: str) -> int:
        value = self.fields.get(name, 0)
        return value if isinstance(value, int) else 0

    def octets(self, name: str) -> bytes:
        value = self.fields.get(name, b"")
        return value if isinstance(value, bytes) else str(value).encode("latin-1")


def encode(pdu: Pdu) -> bytes:
    """The wire form of `pdu`. Error responses carry no body, as SMPP 3.4 prescribes."""
    body = bytearray()
    layout = COMMANDS.get(pdu.command_id, ("", ()))[1]
    if pdu.status == ESME_ROK or not pdu.command_id & RESP:
        for spec in layout:
            name, kind = spec.split(":")
            value = pdu.fields.get(name)
            if kind == "b":
                body.append(int(value or 0) & 0xFF)
            elif kind == "c":
                text = value if isinstance(value, bytes) else str(value or "").encode("latin-1")
                body += text + b"\0"
            else:
                octets = value if isinstance(value, bytes) else str(value or "").encode("latin-1")
                if len(octets) > 254:
                    raise PduError("short_message over 254 octets", ESME_RINVMSGLEN)
                body.append(len(octets))
                body += octets
        for tag, raw in pdu.tlvs.items():
            body += struct.pack(">HH", tag, len(raw)) + raw
    return HEADER.pack(HEADER.size + len(body), pdu.command_id, pdu.status, pdu.sequence) + bytes(body)


def decode(data: bytes) -> Pdu:
    """Decode one complete PDU (header included). Unknown command ids decode with empty fields."""
    if len(data) < HEADER.size:
        raise PduError("shorter than a header")
    length, command_id, status, sequence = HEADER.unpack_from(data)
    if length != len(data):
        raise PduError(f"command_length {length} but {len(data)} octets")
    known = COMMANDS.get(command_id)
    if known is None:
        return Pdu(command_id, sequence, status)
    fields: dict[str, Value] = {}
    pos = HEADER.size
    try:
        for spec in known[1]:
            if pos >= length:  # an error response without a body, or a truncated optional tail
                break
            name, kind = spec.split(":")
            if kind == "b":
                fields[name] = data[pos]
                pos += 1
            elif kind == "c":
                end = data.index(b"\0", pos)
                fields[name] = data[pos:end].decode("latin-1")
                pos = end + 1
            else:
                size = data[pos]
                octets = data[pos + 1:pos + 1 + size]
                if len(octets) != size:
                    raise PduError("short_message runs past the PDU", ESME_RINVMSGLEN)
                fields[name] = octets
                pos += 1 + size
        tlvs: dict[int, bytes] = {}
        while pos < length:
            tag, size = struct.unpack_from(">HH", data, pos)
            tlvs[tag] = data[pos + 4:pos + 4 + size]
            pos += 4 + size
            if pos > length:
                raise PduError(f"TLV 0x{tag:04x} runs past the PDU")
    except PduError:
        raise
    except (ValueError, IndexError, struct.error) as exc:
        raise PduError(f"{known[0]}: {exc}") from exc
    return Pdu(command_id, sequence, status, fields, tlvs)


def read_frame(sock: socket.socket) -> bytes | None:
    """Read one whole PDU from a blocking socket; None on a clean close before a header starts."""
    head = _read_exact(sock, 4, eof_ok=True)
    if head is None:
        return None
    (length,) = struct.unpack(">I", head)
    if not HEADER.size <= length <= MAX_PDU_LENGTH:
        raise PduError(f"command_length {length}")
    rest = _read_exact(sock, length - 4, eof_ok=False)
    assert rest is not None
    return head + rest


def split_frames(buffer: bytearray) -> list[bytes]:
    """Take every whole PDU off the front of `buffer` (received octets); a partial one stays for more.

    Raises PduError for a command_length no PDU can have (the stream cannot be re-framed).
    """
    frames, start = [], 0
    while len(buffer) - start >= HEADER.size:
        (length,) = struct.unpack_from(">I", buffer, start)
        if not HEADER.size <= length <= MAX_PDU_LENGTH:
            raise PduError(f"command_length {length}")
        if start + length > len(buffer):
            break
        frames.append(bytes(buffer[start:start + length]))
        start += length
    del buffer[:start]
    return frames


def _read_exact(sock: socket.socket, size: int, *, eof_ok: bool) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        part = sock.recv(size - len(chunks))
        if not part:
            if eof_ok and not chunks:
                return None
            raise ConnectionError("peer closed the connection inside a PDU")
        chunks += part
    return bytes(chunks)


def cstring_tlv(text: str, *, nul: bool = True) -> bytes:
    """A TLV value holding `text`, NUL-terminated like SMPP's C-Octet Strings unless `nul` is False."""
    return text.encode("latin-1") + (b"\0" if nul else b"")


# stat -> (message_state, err, dlvrd, vendor TLVs 0x1403-0x1406), from the provider's status tables
RECEIPTS: Mapping[str, tuple[int, int, int, Mapping[int, str]]] = MappingProxyType({
    "ACCEPTD": (6, 0, 0, {0x1403: "2", 0x1404: "SENT_SUCCESS"}),
    "DELIVRD": (2, 0, 1, {0x1403: "2", 0x1404: "SENT_SUCCESS", 0x1405: "4", 0x1406: "DELIVERED_SUCCESS"}),
    "UNDELIV": (5, 104, 0, {0x1403: "2", 0x1404: "SENT_SUCCESS", 0x1405: "104", 0x1406: "NOT_DELIVERED"}),
})


def receipt(message_id: str, stat: str, submitted: datetime, done: datetime, *, handset: str, sender: str,
            sample: bytes, vendor_nul: bool,
            vendor_value: str | None = None) -> tuple[dict[str, Value], dict[int, bytes]]:
    """Fields and TLVs of a deliver_sm receipt (esm_class 0x04) in the provider's form; dates as given (UTC).
    `vendor_value` replaces the sent code of TLV 0x1403 (as a classic simulator fills it with its own content)."""
    state, err, dlvrd, vendor = RECEIPTS[stat]
    if vendor_value is not None:
        vendor = {0x1403: vendor_value}
    text = (f"id:{message_id} sub:001 dlvrd:{dlvrd:03d} submit date:{submitted:%y%m%d%H%M}"
            f" done date:{done:%y%m%d%H%M} stat:{stat} err:{err:03d} text:").encode("ascii") + sample
    fields: dict[str, Value] = {
        "source_addr_ton": 1, "source_addr_npi": 1, "source_addr": handset, "dest_addr_ton": 1,
        "dest_addr_npi": 1, "destination_addr": sender, "esm_class": 0x04, "short_message": text}
    tlvs = {TLV_RECEIPTED_MESSAGE_ID: cstring_tlv(message_id), TLV_MESSAGE_STATE: bytes([state])}
    tlvs.update({tag: cstring_tlv(value, nul=vendor_nul) for tag, value in vendor.items()})
    return fields, tlvs
