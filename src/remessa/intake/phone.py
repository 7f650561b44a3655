"""Destinations normalised to country code + digits and checked as mobile numbers, as phonenumbers says.

Fast path: phonenumbers' metadata compiled into one regex per length; the rest goes to phonenumbers.parse.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumberDesc, PhoneNumberType

from remessa.intake.formats import RowProblem

INVALID = "invalid_destination"
EMPTY = RowProblem(INVALID, "destination is empty")

_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' bounds on a national number's length (else it raises)
_MAX_INPUT = 250  # phonenumbers refuses longer input
_PUNCTUATION = b" ()-."  # deleted by the fast path; anything else goes to phonenumbers
# How a number may be written: digits, spaces, dots and parentheses, dashes between digits, a leading "+".
# Letters are refused, not read as a keypad (phonenumbers would turn 9ABCD into 92223), and so are "tel:"
# and a leading "-".
_WRITTEN = re.compile(r"\+?[ \t().]*(?:[0-9](?:-(?=[0-9]))?[ \t().]*)+", re.ASCII).fullmatch
_CALLING_CODES = {str(code): regions for code, regions in COUNTRY_CODE_TO_REGION_CODE.items()}
# The size of the calling code that starts any three digits (phonenumbers takes the shortest that exists).
_CODE_SIZES = {
    f"{n:03}": size for n in range(1000) for size in (3, 2, 1) if f"{n:03}"[:size] in _CALLING_CODES
}
_OTHER_TYPES = (  # checked before fixed line and mobile, in phonenumbers' order
    "premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail",
)
_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
# Regex group names start with the outcome: M mobile, L landline, U not mobile, S not sure (ask phonenumbers).
_Table = dict[int, Callable[[str], re.Match[str] | None]]  # number of digits → a pattern's fullmatch


class PhoneBook:
    """Normalises destinations for one default country (ISO 3166 alpha-2, e.g. "BR")."""

    def __init__(self, country: str = "BR", cache_size: int = 1 << 16) -> None:
        self.country = country.upper()
        self._cc = str(_metadata(self.country).country_code)
        # Default-country shapes (no "+"), indexed by the number of digits; empty when the calling code is
        # shared by several countries (+1, +7, +44...), since the type then depends on the other countries.
        self._national = _national_table(self.country) if _single(self._cc) else {}
        self._slow = functools.lru_cache(maxsize=cache_size)(self._parse)

    def normalize(self, raw: str) -> str | RowProblem:
        """Country code + digits of a mobile number written any way, or the problem with it."""
        fullmatch = self._national.get(len(raw))
        if fullmatch is not None:  # the common case: the field is only digits
            match = fullmatch(raw)
            if match is not None:
                group = match.lastgroup
                if group == "M1":
                    return raw
                if group == "M0":
                    return self._cc + raw
        written = raw.strip()
        if not written:
            return EMPTY
        if _WRITTEN(written) is None:
            return _unwritable(written)
        answer = self.fast(written)
        return self._slow(written) if answer is None else answer

    def fast(self, written: str) -> str | RowProblem | None:
        """What ``normalize`` answers for a stripped field, or None where only phonenumbers can tell."""
        if len(written) > _MAX_INPUT or not written.isascii():
            return None
        digits = written.encode().translate(None, _PUNCTUATION).decode()
        if digits[:1] == "+":  # calling code, then the national number
            digits = digits[1:]
            size = _CODE_SIZES.get(digits[:3], 0)
            fullmatch = _international_table(digits[:size]).get(len(digits) - size) if size else None
            match = fullmatch(digits[size:]) if fullmatch is not None else None
        else:
            fullmatch = self._national.get(len(digits))
            match = fullmatch(digits) if fullmatch is not None else None
        if match is None:
            return None
        group = match.lastgroup or "S"
        if group[0] == "M":
            return digits if group == "M1" else self._cc + digits
        return None if group[0] == "S" else _problem(group[0], written)

    def _parse(self, written: str) -> str | RowProblem:
        """phonenumbers' own answer (the slow path, cached by the caller)."""
        try:
            number = phonenumbers.parse(written, self.country)
        except phonenumbers.NumberParseException:
            return RowProblem(INVALID, f'"{written}" is not a phone number')
        kind = phonenumbers.number_type(number)
        if kind in _MOBILE_TYPES:
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
        return _problem("L" if kind == PhoneNumberType.FIXED_LINE else "U", written)


def phone_book(country: str = "BR") -> PhoneBook:
    """The PhoneBook of a country, shared by the whole process (its compiled tables and cache)."""
    return _phone_book(country.upper())


def normalize(raw: str, country: str = "BR") -> str | RowProblem:
    """Country code + digits of a mobile number, numbers without one taking `country`; or the problem."""
    return phone_book(country).normalize(raw)


@functools.cache
def _phone_book(country: str) -> PhoneBook:
    return PhoneBook(country)


def _problem(outcome: str, written: str) -> RowProblem:
    if outcome == "L":
        return RowProblem(INVALID, f'"{written}" is a landline, not a mobile number')
    return RowProblem(INVALID, f'"{written}" is not a mobile number')


def _unwritable(written: str) -> RowProblem:
    """The problem with a destination written with characters a phone number does not have."""
    if not any(c.isdigit() for c in written):
        return RowProblem(INVALID, f'"{written}" is not a phone number')
    odd = list(dict.fromkeys(c for c in written if not (c.isascii() and (c.isdigit() or c in " \t().-+"))))
    if odd:
        shown = ", ".join(repr(c) for c in odd[:5])
        return RowProblem(INVALID, f'"{written}" is not a phone number: it has {shown}')
    return RowProblem(INVALID, f'"{written}" is not a phone number: "+" only first, "-" only between digits')


def _single(code: str) -> bool:
    """Whether a calling code belongs to one country (then the number's type needs only its metadata)."""
    regions = _CALLING_CODES.get(code, ())
    return len(regions) == 1 and regions[0] != "001"


def _metadata(region: str) -> PhoneMetadata:
    meta = PhoneMetadata.metadata_for_region(region, None)
    if meta is None or meta.general_desc is None:
        raise ValueError(f"{region!r} is not a country code like BR")
    return meta


def _pattern(desc: PhoneNumberDesc | None, length: int) -> str | None:
    """A type's pattern, if a number of `length` digits may be of that type (phonenumbers' length check)."""
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return desc.national_number_pattern


def _classify(meta: PhoneMetadata, length: int, tag: str) -> str:
    """Alternatives classifying a national number of `length` digits like phonenumbers' number_type.

    First a national prefix (phonenumbers would strip it: not sure), then the general description, then
    the types in phonenumbers' order; a catch-all makes each alternative final once entered.
    """
    parts = []
    if meta.national_prefix_for_parsing:
        parts.append(rf"(?P<S{tag}>(?:{meta.national_prefix_for_parsing})\d*)")
    general = _pattern(meta.general_desc, length)
    if general is not None:
        others = [p for p in (_pattern(getattr(meta, name), length) for name in _OTHER_TYPES) if p]
        types = [f"(?P<U{tag}o>(?:{')|(?:'.join(others)}))"] if others else []
        # Mobile whether or not it also matches fixed line; landline if only fixed line. When both patterns
        # are the same, a fixed-line match is "fixed line or mobile" and the mobile pattern is not looked at.
        mobile, fixed = _pattern(meta.mobile, length), _pattern(meta.fixed_line, length)
        if meta.same_mobile_and_fixed_line_pattern:
            mobile, fixed = fixed, None
        if mobile:
            types.append(f"(?P<M{tag}>{mobile})")
        if fixed:
            types.append(f"(?P<L{tag}>{fixed})")
        types.append(rf"(?P<U{tag}t>\d*)")
        parts.append(rf"(?=(?:{general})\Z)(?:{'|'.join(types)})")
    parts.append(rf"(?P<U{tag}>\d*)")
    return "|".join(parts)


@functools.cache
def _international_table(code: str) -> _Table:
    """Per length, a regex for the national number that follows "+<calling code>" (none if shared)."""
    if not _single(code):
        return {}
    meta = _metadata(_CALLING_CODES[code][0])
    # Tag 1: the digits matched are preceded by the calling code, as for a stripped national table entry.
    return {n: re.compile(_classify(meta, n, "1"), re.ASCII).fullmatch for n in range(_MIN_NSN, _MAX_NSN + 1)}


def _national_table(region: str) -> _Table:
    """Per length, a regex for digits written without "+" (with or without the calling code).

    Mirrors phonenumbers' _maybe_extract_country_code: an international prefix is not sure; a leading
    calling code is dropped when the whole is too long, or when only the rest is a possible number.
    """
    meta = _metadata(region)
    general = meta.general_desc
    assert general is not None and general.national_number_pattern  # checked by _metadata
    code = str(meta.country_code)
    table: _Table = {}
    for length in range(3, _MAX_NSN + 1):
        parts = []
        if meta.international_prefix:
            parts.append(rf"(?P<Si>(?:{meta.international_prefix})\d*)")
        rest = length - len(code)
        if rest < _MIN_NSN:
            parts.append(rf"(?P<Sc>{code}\d*)")
        else:
            if meta.national_prefix_for_parsing:
                parts.append(rf"{code}(?P<Sp>(?:{meta.national_prefix_for_parsing})\d*)")
            too_long = (length > max(general.possible_length)
                        and length not in general.possible_length_local_only)
            pattern = general.national_number_pattern
            entry = code if too_long else rf"(?={code})(?!(?:{pattern})\Z){code}(?=(?:{pattern})\Z)"
            parts.append(f"{entry}(?:{_classify(meta, rest, '1')})")
        parts.append(_classify(meta, length, "0"))
        table[length] = re.compile("|".join(parts), re.ASCII).fullmatch
    return table
