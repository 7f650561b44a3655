"""SMS encoding and segment count: GSM7 and UCS2 limits, parts counted by packing."""

from __future__ import annotations

import pytest

from remessa.channels.smpp.text import GSM7, UCS2, Measure, cut, encoding_for, measure, units

EMOJI = "\U0001F600"  # two UTF-16 code units


@pytest.mark.parametrize("text, expected", [
    ("", Measure(GSM7, 0, 1)),
    ("a" * 160, Measure(GSM7, 160, 1)),
    ("a" * 161, Measure(GSM7, 161, 2)),
    ("a" * 306, Measure(GSM7, 306, 2)),
    ("a" * 307, Measure(GSM7, 307, 3)),
    ("a" * 158 + "€", Measure(GSM7, 160, 1)),
    ("a" * 159 + "€", Measure(GSM7, 161, 2)),
    # the escape pair of € does not fit in the 153rd septet: it opens part 2, which then overflows
    ("a" * 152 + "€" + "a" * 152, Measure(GSM7, 306, 3)),
    ("a" * 151 + "€" + "a" * 153, Measure(GSM7, 306, 2)),
    ("{}[]~|^\\\f€", Measure(GSM7, 20, 1)),
    ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ!\"#¤%&'()*+,-./:;<=>?¡ÄÖÑÜ§¿äöñüà\r\n", Measure(GSM7, 64, 1)),
    ("Promoção", Measure(UCS2, 8, 1)),
    ("ç" * 70, Measure(UCS2, 70, 1)),
    ("ç" * 71, Measure(UCS2, 71, 2)),
    ("ç" * 134, Measure(UCS2, 134, 2)),
    (EMOJI * 35, Measure(UCS2, 70, 1)),
    # an emoji does not fit in the 67th unit: it opens part 2, which then overflows
    ("ç" * 66 + EMOJI + "ç" * 66, Measure(UCS2, 134, 3)),
    ("ç" * 65 + EMOJI + "ç" * 67, Measure(UCS2, 134, 2)),
    ("a\x1bb", Measure(UCS2, 3, 1)),  # a raw escape character is not text GSM7 can carry
])
def test_measure(text: str, expected: Measure) -> None:
    assert measure(text) == expected


@pytest.mark.parametrize("text, encoding, sizes", [
    ("a" * 161, GSM7, [153, 8]),
    ("a" * 152 + "€" + "a" * 152, GSM7, [152, 153, 1]),
    ("ç" * 66 + EMOJI + "ç" * 66, UCS2, [66, 67, 1]),
    ("Olá", UCS2, [3]),
    ("", GSM7, [0]),
])
def test_cut_packs_whole_characters(text: str, encoding: str, sizes: list[int]) -> None:
    pieces = cut(text)
    assert "".join(pieces) == text
    assert [units(piece, encoding) for piece in pieces] == sizes
    assert encoding_for(text) == encoding


def test_cut_can_force_an_encoding() -> None:
    assert [units(piece, UCS2) for piece in cut("a" * 71, UCS2)] == [67, 4]
