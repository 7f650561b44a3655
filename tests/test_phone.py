"""Phone normalisation: the sentences, and the fast path agreeing with phonenumbers on every shape."""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberType

from remessa.intake.formats import RowProblem
from remessa.intake.phone import PhoneBook, normalize, phone_book

BR_AREAS = [11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43,
            44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77,
            79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99]


def written_as_a_number(field: str) -> bool:
    """Digits, spaces, tabs, dots and parentheses, "-" between two digits, "+" only first (letters, "tel:",
    other signs are not how a number is written, whatever phonenumbers makes of them)."""
    body = field[1:] if field.startswith("+") else field
    if not all(c in "0123456789 \t().-" for c in body) or not any(c.isdigit() for c in body):
        return False
    return all(0 < i < len(body) - 1 and body[i - 1].isdigit() and body[i + 1].isdigit()
               for i, c in enumerate(body) if c == "-")


def reference(raw: str, country: str) -> str:
    """phonenumbers' answer for the stripped field: E.164 digits of a mobile number, or what is wrong."""
    if not raw.strip():
        return "empty"
    if not written_as_a_number(raw.strip()):
        return "not a phone number"
    try:
        number = phonenumbers.parse(raw.strip(), country)
    except phonenumbers.NumberParseException:
        return "not a phone number"
    kind = phonenumbers.number_type(number)
    if kind in (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    return "landline" if kind == PhoneNumberType.FIXED_LINE else "not mobile"


def outcome(answer: str | RowProblem) -> str:
    """PhoneBook's answer in reference() terms."""
    if isinstance(answer, str):
        return answer
    assert answer.code == "invalid_destination"
    for ending, name in [(" is a landline, not a mobile number", "landline"),
                         (" is not a mobile number", "not mobile"),
                         (" is not a phone number", "not a phone number")]:
        if answer.message.endswith(ending) or ending + ": " in answer.message:
            return name
    assert answer.message == "destination is empty"
    return "empty"


def shapes(national: str, code: str) -> list[str]:
    """A national number written the ways people write it."""
    area, local = national[:2], national[2:]
    head, tail = local[:-4], local[-4:]
    return [
        national, code + national, "+" + code + national, f"+{code} ({area}) {head}-{tail}",
        f"({area}) {head}-{tail}", f"{area} {local}", f"{code} {area} {head} {tail}", f" {national} ",
        f"{area}.{head}.{tail}", f"0{national}", f"0 15 {national}", f"0{area} {head}-{tail}",
        f"+{code}-{area}-{local}", f"{code}{area}{head}-{tail}",
    ]


def br_numbers(rnd: random.Random, count: int) -> list[str]:
    """Mobiles, landlines and near misses, in every written shape."""
    out = []
    for _ in range(count):
        area = rnd.choice(BR_AREAS) if rnd.random() < 0.9 else rnd.randrange(10, 100)
        local = rnd.choice([
            f"9{rnd.randrange(10**8):08}", f"{rnd.randrange(2, 6)}{rnd.randrange(10**7):07}",
            f"7{rnd.randrange(10**7):07}", f"{rnd.randrange(10**8):08}", f"9{rnd.randrange(10**7):07}",
            f"{rnd.randrange(10**9):09}",
        ])
        out += shapes(f"{area}{local}", "55")
    return out


@pytest.mark.parametrize("raw, expected", [
    ("+55 (19) 99771-2322", "5519997712322"),
    ("5519997712322", "5519997712322"),
    ("(19) 99771-2322", "5519997712322"),
    ("19 997712322", "5519997712322"),
    ("19997712322", "5519997712322"),
    ("  +55 19 99771 2322\t", "5519997712322"),
    ("019997712322", "5519997712322"),  # national trunk prefix
    ("0 15 19 99771-2322", "5519997712322"),  # carrier selection code
    ("55 99123-4567", "5555991234567"),  # 55 is an area code here, not the country
    ("+351 912 345 678", "351912345678"),  # a Portuguese mobile, on a Brazilian profile
    ("", RowProblem("invalid_destination", "destination is empty")),
    ("   ", RowProblem("invalid_destination", "destination is empty")),
    ("abc", RowProblem("invalid_destination", '"abc" is not a phone number')),
    # letters are not a keypad (phonenumbers would send this to 5511922231234), "tel:" and a leading "-" are
    # not a way of writing a number
    ("55119ABCD1234", RowProblem("invalid_destination",
                                 '"55119ABCD1234" is not a phone number: it has \'A\', \'B\', \'C\', \'D\'')),
    ("tel:5511987654321", RowProblem("invalid_destination",
                                     '"tel:5511987654321" is not a phone number: it has \'t\', \'e\', \'l\', \':\'')),
    ("-5511987650001", RowProblem("invalid_destination",
                                  '"-5511987650001" is not a phone number: "+" only first, "-" only between digits')),
    ("5511987650001-", RowProblem("invalid_destination",
                                  '"5511987650001-" is not a phone number: "+" only first, "-" only between digits')),
    ("55+11987650001", RowProblem("invalid_destination",
                                  '"55+11987650001" is not a phone number: "+" only first, "-" only between digits')),
    ("+55 11 98765.4321", "5511987654321"),
    ("2312312", RowProblem("invalid_destination", '"2312312" is not a mobile number')),
    ("1933334444", RowProblem("invalid_destination", '"1933334444" is a landline, not a mobile number')),
    (" (19) 3333-4444 ",
     RowProblem("invalid_destination", '"(19) 3333-4444" is a landline, not a mobile number')),
    ("0800 123 4567", RowProblem("invalid_destination", '"0800 123 4567" is not a mobile number')),
    ("55199977123221", RowProblem("invalid_destination", '"55199977123221" is not a mobile number')),
])
def test_normalize_br(raw: str, expected: str | RowProblem) -> None:
    assert normalize(raw) == expected
    assert PhoneBook("br").normalize(raw) == expected


@pytest.mark.parametrize("raw, country, expected", [
    ("(212) 555-0123", "US", "12125550123"),
    ("1-800-555-0123", "US", "not mobile"),  # toll free
    ("+1 201 555 0123", "US", "12015550123"),  # US fixed and mobile numbers look alike: both count
    ("912 345 678", "PT", "351912345678"),
    ("00351 912 345 678", "PT", "351912345678"),
    ("213 456 789", "PT", "landline"),
])
def test_normalize_other_countries(raw: str, country: str, expected: str) -> None:
    assert outcome(normalize(raw, country)) == expected == reference(raw, country)


def test_unknown_country_is_refused() -> None:
    with pytest.raises(ValueError, match="'XX' is not a country code"):
        PhoneBook("XX")


def test_fast_path_answers_the_common_shapes() -> None:
    book = PhoneBook("BR")
    for raw in ["5519997712322", "19997712322", "+55 (19) 99771-2322", "(19) 99771-2322", "19 997712322",
                "1933334444", "2312312", "+351 912 345 678", "55 99123-4567"]:
        assert book.fast(raw) is not None, raw


def test_fast_path_agrees_with_phonenumbers_on_generated_br_numbers() -> None:
    rnd = random.Random(20260302)
    book = PhoneBook("BR")
    answered = 0
    for raw in br_numbers(rnd, 3000):
        expected = reference(raw, "BR")
        fast = book.fast(raw.strip())
        if fast is not None:
            answered += 1
            assert outcome(fast) == expected, raw
        assert outcome(book.normalize(raw)) == expected, raw
    assert answered > 0.6 * 3000 * len(shapes("1999999999", "55"))


@pytest.mark.parametrize("country, code, nationals", [
    ("PT", "351", ["912345678", "213456789", "707123456", "800123456", "96123456", "9123456789"]),
    ("US", "1", ["2015550123", "8005550123", "9005550123", "5551234", "201555012"]),
    ("BR", "55", ["1199998888", "11999998888", "5599123456", "55991234567", "551999771232", "9012345678"]),
    ("GB", "44", ["7400123456", "2071234567", "07400123456"]),
])
def test_fast_path_agrees_with_phonenumbers_in_other_countries(country: str, code: str,
                                                               nationals: list[str]) -> None:
    book = PhoneBook(country)
    for national in nationals:
        for raw in shapes(national, code):
            fast = book.fast(raw.strip())
            expected = reference(raw, country)
            assert fast is None or outcome(fast) == expected, (raw, country)
            assert outcome(book.normalize(raw)) == expected, (raw, country)


JUNK = ["+", "++5519997712322", "55+19997712322", "+0 19997712322", "+999 123456", "+800 1234 5678",
        "00 55 19 99771 2322", "0055 19 99771 2322", "5519997712322#", "19 99771-2322 x12",
        "tel:+5519997712322",
        "５５１９９９７７１２３２２", "٥٥١٩٩٩٧٧١٢٣٢٢", "19\t99771-2322", "19/99771-2322", "1-800-FLOWERS",
        "55", "5", "12", "1 2", "+55", "+551", "+5519", "(19)", "5519997712322abc", "abc5519997712322",
        "1" * 17, "1" * 18, "55" + "9" * 15, "+" + "5" * 18, "0" * 13, "9" * 250 + "1",
        " " * 300 + "19997712322"]


@pytest.mark.parametrize("raw", JUNK)
def test_junk_gets_phonenumbers_answer(raw: str) -> None:
    book = PhoneBook("BR")
    fast = book.fast(raw.strip())
    assert fast is None or outcome(fast) == reference(raw, "BR")
    assert outcome(book.normalize(raw)) == reference(raw, "BR")


@settings(max_examples=400, deadline=None, database=None)
@given(st.text(alphabet="0123456789 ()-.+", max_size=20), st.sampled_from(["BR", "PT", "US", "AR"]))
def test_any_digits_and_punctuation_agree_with_phonenumbers(raw: str, country: str) -> None:
    assert outcome(phone_book(country).normalize(raw)) == reference(raw, country)


@settings(max_examples=400, deadline=None, database=None)
@given(st.sampled_from(BR_AREAS + [10, 20, 23, 55, 90]), st.integers(0, 10**9 - 1),
       st.integers(6, 11), st.sampled_from(range(len(shapes("1999999999", "55")))))
def test_br_shaped_numbers_agree_with_phonenumbers(area: int, local: int, size: int, shape: int) -> None:
    national = f"{area}{local:09}"[:size]
    raw = shapes(national.ljust(4, "1"), "55")[shape]
    assert outcome(phone_book("BR").normalize(raw)) == reference(raw, "BR")
