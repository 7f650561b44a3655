"""The SMPP 3.4 octets the channel writes and reads itself: headers, submit_sm, deliver_sm, status names.

smpplib still connects and binds; after that the bind thread frames the stream here. Building submit_sm with
smpplib's make_pdu costs more than the rest of a submit together, and its process-global TLV tables drop or
truncate the provider's vendor TLVs on deliver_sm, so both are done here with plain struct packing.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

import smpplib.consts

HEADER = struct.Struct(">IIII")  # command_length, command_id, command_status, sequence_number
RESP = 0x80000000
GENERIC_NACK = 0x80000000
SUBMIT_SM = 0x00000004
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


class BadFrame(ValueError):
    """The stream cannot be framed (a command_length out of range): the connection is unusable."""


def _cstring(value: str, limit: int, name: str) -> bytes:
    raw = value.encode("latin-1")
    if len(raw) >= limit or b"\0" in raw:
        raise ValueError(f"{name} {value!r} does not fit SMPP's {limit - 1} characters")
    return raw + b"\0"


def submit_head(fields: Mapping[str, Any]) -> bytes:
    """submit_sm octets of every field before sm_length, shared by all parts of a message.

    Raises ValueError when an address or time does not fit its SMPP field.
    """
    head = b"".join((
        _cstring(fields.get("service_type", ""), 6, "service_type"),
        bytes((fields["source_addr_ton"], fields["source_addr_npi"])),
        _cstring(fields["source_addr"], 21, "source_addr"),
        bytes((fields["dest_addr_ton"], fields["dest_addr_npi"])),
        _cstring(fields["destination_addr"], 21, "destination_addr"),
        bytes((fields["esm_class"], fields.get("protocol_id", 0), fields.get("priority_flag", 0))),
        _cstring(fields.get("schedule_delivery_time", ""), 17, "schedule_delivery_time"),
        _cstring(fields["validity_period"], 17, "validity_period"),
        bytes((fields["registered_delivery"], 0, fields["data_coding"], 0)),
    ))
    return head


def submit_sm(head: bytes, short_message: bytes, sequence: int) -> bytes:
    """One complete submit_sm PDU: `head` from submit_head, then sm_length and the part's octets."""
    if len(short_message) > 254:
        raise ValueError("short_message longer than 254 octets")
    length = 16 + len(head) + 1 + len(short_message)
    return b"".join((HEADER.pack(length, SUBMIT_SM, 0, sequence), head, bytes((len(short_message),)),
                     short_message))


def header(command: int, sequence: int, status: int = 0, body: bytes = b"") -> bytes:
    """A PDU with `body` (already encoded) after its header."""
    return HEADER.pack(16 + len(body), command, status, sequence) + body


class Frames:
    """Splits a byte stream into whole PDUs; a partial PDU waits in the buffer for the rest."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add received octets; return every PDU now complete, in order. Raises BadFrame."""
        buffer = self._buffer
        buffer += data
        out: list[bytes] = []
        start = 0
        while len(buffer) - start >= 4:
            (length,) = struct.unpack_from(">I", buffer, start)
            if not 16 <= length <= MAX_PDU:
                raise BadFrame(f"bad command_length {length}")
            if len(buffer) - start < length:
                break
            out.append(bytes(buffer[start:start + length]))
            start += length
        del buffer[:start]
        return out

    @property
    def partial(self) -> bool:
        """Whether part of a PDU is waiting for the rest."""
        return bool(self._buffer)


class Deliver(NamedTuple):
    """The parts of a deliver_sm body remessa uses."""

    esm_class: int
    short_message: bytes
    tlvs: dict[int, bytes]  # raw octets, vendor TLVs included
    source: str
    destination: str
    data_coding: int


def decode_deliver(body: bytes) -> Deliver:
    """The fields of a deliver_sm body, TLVs as raw octets. Raises ValueError/IndexError."""
    start = _skip_cstring(body, 0) + 2  # service_type, source_addr_ton, _npi
    pos = _skip_cstring(body, start)
    source = body[start:pos - 1].decode("latin-1")
    start = pos + 2  # dest_addr_ton, _npi
    pos = _skip_cstring(body, start)
    destination = body[start:pos - 1].decode("latin-1")
    esm_class = body[pos]
    pos = _skip_cstring(body, pos + 3)  # esm_class, protocol_id, priority_flag, schedule_delivery_time
    pos = _skip_cstring(body, pos)  # validity_period
    data_coding = body[pos + 2]  # registered_delivery, replace_if_present, data_coding
    length = body[pos + 4]  # sm_default_msg_id, sm_length
    pos += 5
    short_message = body[pos:pos + length]
    if len(short_message) != length:
        raise ValueError("short_message cut short")
    pos += length
    tlvs: dict[int, bytes] = {}
    while pos + 4 <= len(body):
        tag, size = int.from_bytes(body[pos:pos + 2]), int.from_bytes(body[pos + 2:pos + 4])
        tlvs[tag] = body[pos + 4:pos + 4 + size]
        pos += 4 + size
    return Deliver(esm_class, short_message, tlvs, source, destination, data_coding)


def _skip_cstring(body: bytes, pos: int) -> int:
    return body.index(b"\0", pos) + 1
