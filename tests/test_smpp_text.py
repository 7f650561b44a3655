"""SMPP text: encoding choice, transliteration, data_coding, UDH splitting and concatenation references."""

from __future__ import annotations

import random
import threading

import pytest

from remessa.channels.smpp.text import (
    GSM7,
    GSM7_BASIC,
    LATIN1,
    UCS2,
    References,
    choose,
    data_coding,
    decode,
    encode,
    encoding_for,
    measure,
    split,
    transliterate,
)

EMOJI = "\U0001F600"  # a surrogate pair in UTF-16
PT = "Promoção válida até amanhã: ônibus grátis às 9h!"


def _bodies(parts: list[bytes]) -> list[bytes]:
    return [part[1 + part[0]:] for part in parts] if len(parts) > 1 else parts


def _strict_decode(body: bytes, encoding: str) -> str:
    # strict UTF-16 raises on a lone surrogate; GSM7 decoding drops a trailing lone escape
    return body.decode("utf-16-be") if encoding == UCS2 else decode(body, encoding)


@pytest.mark.parametrize("text, encoding, sixteen_bit, sizes", [
    ("", GSM7, False, [0]),
    ("a" * 160, GSM7, False, [160]),
    ("a" * 161, GSM7, False, [153, 8]),
    ("a" * 161, GSM7, True, [152, 9]),
    ("a" * 158 + "€", GSM7, False, [160]),
    ("a" * 159 + "€", GSM7, False, [153, 8]),
    # the escape pair of € would straddle the boundary: it moves whole to the next part
    ("a" * 152 + "€" + "a" * 152, GSM7, False, [152, 153, 1]),
    ("a" * 151 + "€" + "a" * 153, GSM7, False, [153, 153]),
    ("a" * 151 + "€" + "a" * 153, GSM7, True, [151, 152, 3]),
    ("{" * 81, GSM7, False, [152, 10]),
    ("ç" * 70, UCS2, False, [140]),
    ("ç" * 71, UCS2, False, [134, 8]),
    ("ç" * 71, UCS2, True, [132, 10]),
    (EMOJI * 35, UCS2, False, [140]),
    # an emoji at the 67th code unit would split its surrogate pair: it opens part 2
    ("ç" * 66 + EMOJI + "ç" * 66, UCS2, False, [132, 134, 2]),
    ("ç" * 65 + EMOJI + "ç" * 67, UCS2, False, [134, 134]),
    ("ç" * 65 + EMOJI + "ç" * 67, UCS2, True, [130, 132, 6]),
    ("á" * 140, LATIN1, False, [140]),
    ("á" * 141, LATIN1, False, [134, 7]),
    ("á" * 141, LATIN1, True, [133, 8]),
])
def test_split_sizes_and_round_trip(text: str, encoding: str, sixteen_bit: bool, sizes: list[int]) -> None:
    parts = split(text, encoding, reference=0xABCD, sixteen_bit=sixteen_bit)
    bodies = _bodies(parts)
    assert [len(body) for body in bodies] == sizes
    assert all(bodies) or text == ""
    assert all(len(part) <= 140 for part in parts) or encoding == GSM7
    assert all(len(part) <= (7 if sixteen_bit else 6) + 160 for part in parts)
    # each part decodes on its own: no escape pair or surrogate pair is split
    assert "".join(_strict_decode(body, encoding) for body in bodies) == text
    if len(parts) > 1:
        header = 7 if sixteen_bit else 6
        assert [part[header - 1] for part in parts] == list(range(1, len(parts) + 1))
        assert {part[header - 2] for part in parts} == {len(parts)}


@pytest.mark.parametrize("text", [
    "a" * 161, "a" * 152 + "€" + "a" * 152, "{" * 200, PT * 3, "ç" * 66 + EMOJI + "ç" * 66, EMOJI * 100,
])
def test_part_count_matches_measure(text: str) -> None:
    assert len(split(text, encoding_for(text))) == measure(text).parts


@pytest.mark.parametrize("sixteen_bit, header", [
    (False, "05 00 03 cd 02 01"),
    (True, "06 08 04 ab cd 02 01"),
])
def test_udh_bytes(sixteen_bit: bool, header: str) -> None:
    first, second = split("a" * 161, GSM7, reference=0xABCD, sixteen_bit=sixteen_bit)
    assert first.hex(" ") == header + " 61" * (len(first) - len(header.split()))
    assert second[:len(header.split())].hex(" ") == header[:-2] + "02"


def test_single_part_has_no_udh() -> None:
    assert split("Olá", UCS2, reference=7) == ["Olá".encode("utf-16-be")]
    assert split("Hello", GSM7, reference=7) == [b"Hello"]


def test_at_most_255_parts() -> None:
    assert len(split("a" * 153 * 255, GSM7)) == 255
    with pytest.raises(ValueError, match="256 parts"):
        split("a" * (153 * 255 + 1), GSM7)


@pytest.mark.parametrize("text, encoding, octets", [
    ("@£$", GSM7, "00 01 02"),
    ("A€{}", GSM7, "41 1b 65 1b 28 1b 29"),
    ("\f^\\[~]|", GSM7, "1b 0a 1b 14 1b 2f 1b 3c 1b 3d 1b 3e 1b 40"),
    ("é", LATIN1, "e9"),
    ("é" + EMOJI, UCS2, "00 e9 d8 3d de 00"),
])
def test_encode(text: str, encoding: str, octets: str) -> None:
    assert encode(text, encoding).hex(" ") == octets
    assert decode(encode(text, encoding), encoding) == text


@pytest.mark.parametrize("text, encoding", [("ç", GSM7), ("a\x1bb", GSM7), (EMOJI, LATIN1), ("x", "UTF8")])
def test_encode_refuses_what_the_encoding_cannot_carry(text: str, encoding: str) -> None:
    with pytest.raises(ValueError):
        encode(text, encoding)


def test_gsm7_basic_table_round_trips() -> None:
    assert len(GSM7_BASIC) == 128
    text = GSM7_BASIC.replace("\x1b", "")
    assert encode(text, GSM7) == bytes(code for code in range(128) if code != 0x1B)
    assert decode(encode(text, GSM7), GSM7) == text


@pytest.mark.parametrize("text, mode, translit, flash, expected", [
    (PT, "auto", False, False, (UCS2, PT)),
    (PT, "auto", True, False, (GSM7, "Promocao valida até amanha: onibus gratis às 9h!")),
    ("Olá " + EMOJI, "auto", True, False, (UCS2, "Ola " + EMOJI)),
    ("Preço: 10€", "gsm7", False, False, (UCS2, "Preço: 10€")),  # gsm7 falls back to UCS2
    ("Preço: 10€", "gsm7", True, False, (GSM7, "Preco: 10€")),
    ("Promoção", "latin1", False, False, (LATIN1, "Promoção")),
    ("Promoção “já”", "latin1", False, False, (UCS2, "Promoção “já”")),  # latin1 falls back to UCS2
    ("Promoção “já”", "latin1", True, False, (LATIN1, 'Promoção "já"')),
    ("Promoção", "latin1", False, True, (UCS2, "Promoção")),  # no Latin-1 flash DCS
    ("Promoção", "ucs2", True, False, (UCS2, "Promoção")),
    ("hello", "ucs2", False, False, (UCS2, "hello")),
    ("ÀÉÍÓÚ çÇ ñ ü º – … ‘x’", "auto", True, False, (GSM7, "AÉIOU cÇ ñ ü o - ... 'x'")),
])
def test_choose(text: str, mode: str, translit: bool, flash: bool, expected: tuple[str, str]) -> None:
    assert choose(text, mode, transliterate=translit, flash=flash) == expected


def test_choose_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="utf8"):
        choose("x", "utf8")


def test_transliteration_keeps_gsm7_letters_and_yields_only_gsm7() -> None:
    kept = GSM7_BASIC.replace("\x1b", "")
    assert transliterate(kept) == kept
    replaced = "áâãÁÀÂÃêëÊÈËíîïÍÌÎÏóôõÓÒÔÕúûÚÙÛçýÝºª‘’‚′`´“”„″«»–—‐‑−…\u00a0\u202f\u2009•"
    assert encoding_for(transliterate(replaced)) == GSM7


@pytest.mark.parametrize("encoding, flash, expected", [
    (GSM7, False, 0x00), (LATIN1, False, 0x01), (UCS2, False, 0x08), (GSM7, True, 0x10), (UCS2, True, 0x18),
])
def test_data_coding(encoding: str, flash: bool, expected: int) -> None:
    assert data_coding(encoding, flash) == expected


def test_latin1_flash_has_no_data_coding() -> None:
    with pytest.raises(ValueError):
        data_coding(LATIN1, flash=True)


@pytest.mark.parametrize("sixteen_bit, span", [(False, 256), (True, 65536)])
def test_references_do_not_repeat_soon_per_destination(sixteen_bit: bool, span: int) -> None:
    refs = References(rng=random.Random(1))
    window = [refs.next("5511999990001", sixteen_bit) for _ in range(span)]
    assert len(set(window)) == span
    assert all(0 <= ref < span for ref in window)
    assert refs.next("5511999990001", sixteen_bit) == window[0]  # only after a full cycle


class _FixedStart(random.Random):
    def randrange(self, *args: object, **kwargs: object) -> int:  # type: ignore[override]
        return 100


def test_references_are_per_destination_and_bounded() -> None:
    refs = References(capacity=2, rng=_FixedStart())
    assert [refs.next("A") for _ in range(3)] == [100, 101, 102]
    assert refs.next("B") == 100
    assert refs.next("A") == 103  # B did not advance A's counter
    refs.next("C")  # B is the least recently used: forgotten
    assert len(refs) == 2
    assert refs.next("A") == 104
    assert refs.next("B") == 100  # restarts from a (here fixed) random offset


def test_references_are_thread_safe() -> None:
    refs = References(rng=random.Random(3))
    seen: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        mine = [refs.next("5511999990001", sixteen_bit=True) for _ in range(500)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 4000
