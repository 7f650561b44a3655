"""SMS text: encoding choice (GSM 03.38 7-bit with its extension table, Latin-1, UCS-2), transliteration,
part counting, data_coding and splitting into UDH-prefixed parts: the one home of how a text goes out,
used by the SMPP channel to send and by ``remessa validate`` to count.

Parts are counted by packing the text, never by division: an escape pair or a surrogate pair stays whole.
Pure functions (plus a small thread-safe reference allocator).
"""

from __future__ import annotations

import random
import re
import threading
from collections import OrderedDict
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

    encoding: str  # GSM7 | UCS2 | LATIN1
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


def measure(text: str, mode: str = "auto", transliterate: bool = False, flash: bool = False,
            sixteen_bit: bool = False) -> Measure:
    """Encoding, size and number of parts of `text` as the SMPP channel sends it for a profile's `mode`
    and `transliterate` (see ``choose``); raises ValueError for an unknown mode."""
    encoding, sent = choose(text, mode, transliterate, flash)
    size = units(sent, encoding)
    single, _ = LIMITS[encoding]
    parts = 1 if size <= single else len(cut(sent, encoding, per_part=_PER_PART[sixteen_bit][encoding]))
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


__all__ = [
    "GSM7", "LATIN1", "UCS2", "MAX_PARTS", "MODES", "ESM_CLASS_UDHI", "References",
    "choose", "data_coding", "decode", "encode", "split", "transliterate",
]

MAX_PARTS = 255  # the UDH total and sequence fields are one octet each
#: esm_class bit to set on every submit_sm whose short_message starts with a UDH.
ESM_CLASS_UDHI = 0x40
#: data_coding per encoding, as this provider defines it (SMPP 3.4 would say 3 for Latin-1; they say 1).
_DATA_CODING = {GSM7: 0x00, LATIN1: 0x01, UCS2: 0x08}
#: Flash (class 0) data_coding: the DCS "message class" group only has GSM7 (0x10) and UCS2 (0x18) alphabets.
_FLASH_DATA_CODING = {GSM7: 0x10, UCS2: 0x18}
#: Octets a short_message carries with a UDH: 140 minus the header; GSM7 counts septets (the SMSC packs them,
#: and the header plus its fill bits take 7 or 8 septets of the 160).
_PER_PART = {
    False: {GSM7: 153, UCS2: 67, LATIN1: 134},
    True: {GSM7: 152, UCS2: 66, LATIN1: 133},
}
_GSM7_CODE = {char: code for code, char in enumerate(GSM7_BASIC) if char != "\x1b"}
_GSM7_CHAR = {code: char for char, code in _GSM7_CODE.items()}
_GSM7_EXT_CHAR = {code: char for char, code in GSM7_EXTENSION.items()}

# Letters and punctuation outside GSM 03.38 mapped to ones inside it. Characters GSM7 has (é è à ù ì ò ä ö ü
# ñ Ç É Ä Ö Ü Ñ Ø Å …) are deliberately absent: they stay as they are.
_TRANSLITERATION = str.maketrans({
    "á": "a", "â": "a", "ã": "a", "Á": "A", "À": "A", "Â": "A", "Ã": "A",
    "ê": "e", "ë": "e", "Ê": "E", "È": "E", "Ë": "E",
    "í": "i", "î": "i", "ï": "i", "Í": "I", "Ì": "I", "Î": "I", "Ï": "I",
    "ó": "o", "ô": "o", "õ": "o", "Ó": "O", "Ò": "O", "Ô": "O", "Õ": "O",
    "ú": "u", "û": "u", "Ú": "U", "Ù": "U", "Û": "U",
    "ç": "c", "ý": "y", "Ý": "Y", "º": "o", "ª": "a",
    "‘": "'", "’": "'", "‚": "'", "′": "'", "`": "'", "´": "'",
    "“": '"', "”": '"', "„": '"', "″": '"', "«": '"', "»": '"',
    "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-",
    "…": "...", "\u00a0": " ", "\u202f": " ", "\u2009": " ", "•": "-",
})


def transliterate(text: str) -> str:
    """`text` with accented letters and typographic punctuation GSM 03.38 lacks replaced (ã→a, ç→c, “→")."""
    return text.translate(_TRANSLITERATION)


_transliterate = transliterate  # choose() takes a flag of the same name


def _is_latin1(text: str) -> bool:
    return all(ord(char) < 0x100 for char in text)


def choose(text: str, mode: str = "auto", transliterate: bool = False,
           flash: bool = False) -> tuple[str, str]:
    """The encoding and the (possibly transliterated) text to send for a profile's `mode`.

    auto: GSM7 when every character is in GSM 03.38 (after transliteration, if asked), else UCS2.
    gsm7 / latin1: that encoding, or UCS2 when a character cannot be represented in it, so a message is
    never refused or mangled for one emoji. latin1 with `flash` becomes UCS2: the DCS has no Latin-1 class 0.
    ucs2: always UCS2; transliteration is not applied (UCS2 carries every character).
    Raises ValueError for an unknown mode.
    """
    if mode not in MODES:
        raise ValueError(f"unknown SMS encoding mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "ucs2":
        return UCS2, text
    if mode == "latin1":
        if transliterate:
            # only what Latin-1 lacks (curly quotes, dashes); its accented letters are kept
            text = "".join(char if ord(char) < 0x100 else _transliterate(char) for char in text)
        return (LATIN1 if _is_latin1(text) and not flash else UCS2), text
    if transliterate:
        text = _transliterate(text)
    return encoding_for(text), text


def encode(text: str, encoding: str) -> bytes:
    """`text` as short_message octets: GSM7 one unpacked septet per octet (extension = 0x1B + code),
    LATIN1 ISO-8859-1, UCS2 UTF-16BE. Raises ValueError for a character the encoding cannot carry."""
    if encoding == UCS2:
        return text.encode("utf-16-be", "surrogatepass")
    if encoding == LATIN1:
        try:
            return text.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise ValueError(f"character {exc.object[exc.start]!r} is not Latin-1") from None
    if encoding != GSM7:
        raise ValueError(f"unknown encoding {encoding!r}")
    out = bytearray()
    for char in text:
        code = _GSM7_CODE.get(char)
        if code is not None:
            out.append(code)
        elif char in GSM7_EXTENSION:
            out += bytes((0x1B, GSM7_EXTENSION[char]))
        else:
            raise ValueError(f"character {char!r} is not in GSM 03.38")
    return bytes(out)


def decode(short_message: bytes, encoding: str, udh: bool = False) -> str:
    """The text of one short_message (the inverse of `split` for one part); `udh` strips the header first."""
    if udh:
        short_message = short_message[1 + short_message[0]:]
    if encoding == UCS2:
        return short_message.decode("utf-16-be", "surrogatepass")
    if encoding == LATIN1:
        return short_message.decode("latin-1")
    chars = []
    escaped = False
    for octet in short_message:
        if escaped:
            chars.append(_GSM7_EXT_CHAR.get(octet, " "))  # unknown extension: GSM 03.38 says show a space
            escaped = False
        elif octet == 0x1B:
            escaped = True
        else:
            chars.append(_GSM7_CHAR.get(octet, "?"))
    return "".join(chars)


def _udh(reference: int, total: int, sequence: int, sixteen_bit: bool) -> bytes:
    if sixteen_bit:
        return bytes((0x06, 0x08, 0x04, (reference >> 8) & 0xFF, reference & 0xFF, total, sequence))
    return bytes((0x05, 0x00, 0x03, reference & 0xFF, total, sequence))


def split(text: str, encoding: str, reference: int = 0, sixteen_bit: bool = False) -> list[bytes]:
    """The short_message of each part: one payload without UDH when the text fits one SMS, else each part
    prefixed with a concatenation UDH (IEI 0x00 8-bit or 0x08 16-bit reference; set ESM_CLASS_UDHI).

    Parts are packed by `segments.cut`, so an escape pair or a surrogate pair is never split and, with an
    8-bit reference, len(split(text, measure(text).encoding)) == measure(text).parts.
    Raises ValueError when a character cannot be encoded or the text needs more than 255 parts.
    """
    single, _ = LIMITS[encoding]
    if units(text, encoding) <= single:
        return [encode(text, encoding)]
    pieces = cut(text, encoding, per_part=_PER_PART[sixteen_bit][encoding])
    total = len(pieces)
    if total > MAX_PARTS:
        raise ValueError(f"text needs {total} parts; a concatenated SMS has at most {MAX_PARTS}")
    return [_udh(reference, total, sequence, sixteen_bit) + encode(piece, encoding)
            for sequence, piece in enumerate(pieces, start=1)]


def data_coding(encoding: str, flash: bool = False) -> int:
    """The submit_sm data_coding: GSM7 0, LATIN1 1, UCS2 8; flash (class 0) GSM7 0x10, UCS2 0x18.

    Raises ValueError for a flash Latin-1 message (there is no such DCS; `choose` sends those as UCS2).
    """
    table = _FLASH_DATA_CODING if flash else _DATA_CODING
    if encoding not in table:
        raise ValueError(f"no data_coding for {encoding!r}{' flash' if flash else ''}")
    return table[encoding]


class References:
    """Concatenation references per destination that do not repeat within 256 (8-bit) or 65536 (16-bit)
    consecutive messages to one destination: a counter per destination from a random start.

    Memory is bounded: the least recently used destination is forgotten beyond `capacity`, and starts again
    at a random offset if it comes back. Thread-safe; share one instance among the binds of a provider.
    """

    def __init__(self, capacity: int = 100_000, rng: random.Random | None = None) -> None:
        self._capacity = capacity
        self._rng = rng or random.Random()
        self._next: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Destinations currently remembered."""
        return len(self._next)

    def next(self, destination: str, sixteen_bit: bool = False) -> int:
        """The reference for the next multipart message to `destination` (0–255, or 0–65535)."""
        with self._lock:
            value = self._next.pop(destination, None)
            if value is None:
                value = self._rng.randrange(65536)
            self._next[destination] = (value + 1) % 65536
            if len(self._next) > self._capacity:
                self._next.popitem(last=False)
        return value if sixteen_bit else value % 256
