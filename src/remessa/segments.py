"""SMS encoding and segment count: GSM 03.38 (7-bit, with its extension table), UCS-2 (UTF-16) or Latin-1.

Parts are counted by packing the text, never by division: an escape pair or a surrogate pair stays whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GSM7, UCS2, LATIN1 = "GSM7", "UCS2", "LATIN1"
MODES = ("auto", "gsm7", "latin1", "ucs2")  # the SMS text codings a profile or provider may ask for
#: The GSM 03.38 basic table, in septet order (0x1B is the escape to the extension table, not a character).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
#: The extension table: each character is sent as escape + septet, so it counts as two septets.
GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
                  "]": 0x3E, "|": 0x40, "€": 0x65}
#: Units (septets, UTF-16 code units or octets) in a single message, and in each part of a concatenated one
#: with an 8-bit reference (a 16-bit reference takes one octet more: 152 septets, 66 code units, 133 octets).
LIMITS = {GSM7: (160, 153), UCS2: (70, 67), LATIN1: (140, 134)}

_NOT_GSM7 = re.compile("[^" + re.escape(GSM7_BASIC.replace("\x1b", "") + "".join(GSM7_EXTENSION)) + "]")
_EXTENDED = re.compile("[" + re.escape("".join(GSM7_EXTENSION)) + "]")


@dataclass(frozen=True)
class Measure:
    """How a text goes out as SMS."""

    encoding: str  # GSM7 | UCS2 (measure never picks LATIN1)
    units: int  # septets for GSM7, UTF-16 code units for UCS2, octets for LATIN1
    parts: int  # messages on the handset side (1 for an empty text: it is still one message)


def encoding_for(text: str) -> str:
    """GSM7 when every character is in the GSM 03.38 tables, else UCS2."""
    return GSM7 if _NOT_GSM7.search(text) is None else UCS2


def units(text: str, encoding: str) -> int:
    """Septets (GSM7), UTF-16 code units (UCS2) or octets (LATIN1) that `text` takes."""
    if encoding == GSM7:
        return len(text) + len(_EXTENDED.findall(text))
    if encoding == LATIN1:
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def measure(text: str) -> Measure:
    """Encoding, size and number of parts of `text` sent as one SMS."""
    encoding = encoding_for(text)
    size = units(text, encoding)
    single, _ = LIMITS[encoding]
    parts = 1 if size <= single else len(cut(text, encoding))
    return Measure(encoding, size, parts)


def cut(text: str, encoding: str | None = None, per_part: int | None = None) -> list[str]:
    """The text of each part, packed greedily; what a later SMPP split encodes and prefixes with a UDH.

    A character never straddles two parts: a GSM7 extension character (two septets) or a UCS2 character
    outside the BMP (a surrogate pair, e.g. most emoji) moves whole to the next part. `per_part` overrides
    the units per part of a concatenated message (a 16-bit reference leaves one octet less).
    """
    encoding = encoding or encoding_for(text)
    single, default_per_part = LIMITS[encoding]
    per_part = per_part or default_per_part
    if units(text, encoding) <= single:
        return [text]
    pieces = []
    start = used = 0
    for index, char in enumerate(text):
        if encoding == GSM7:
            size = 2 if char in GSM7_EXTENSION else 1
        else:
            size = 2 if encoding == UCS2 and char > "\uffff" else 1
        if used + size > per_part:
            pieces.append(text[start:index])
            start, used = index, 0
        used += size
    pieces.append(text[start:])
    return pieces
