"""Row validation: one verdict per parsed row (QUEUED, INVALID or BLOCKED), with a stable reason code.

Cheap enough for a million rows: PhoneBook's fast path, and one int per number for de-duplication.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

from remessa.config import ProfileSettings
from remessa.errors import ConfigError
from remessa.intake.formats import Row
from remessa.intake.phone import phone_book
from remessa.model import Status

log = logging.getLogger(__name__)

#: The longest text, in characters, per kind of batch (WhatsApp: free text; template rows carry none).
TEXT_LIMITS = {"sms": 1280, "whatsapp": 1000}
CORRELATION_ID_LIMIT = 64
EXTRA_INFO_LIMIT = 255

_QUEUED, _INVALID, _BLOCKED = Status.QUEUED, Status.INVALID, Status.BLOCKED
_new = tuple.__new__


class Verdict(NamedTuple):
    """What validation decided for one row.

    Immutable; a NamedTuple rather than a frozen dataclass: one is built per row, and a frozen dataclass
    costs several times as much to build.
    """

    status: Status  # QUEUED, INVALID or BLOCKED
    destination: str  # country code + digits when the number is valid, else the field as written
    reason: str = ""  # "" or "code: sentence"


class Validator:
    """Checks the rows of one batch, in file order.

    Checks, first failure wins: the row's own parse problem, destination, blocklist, duplicate, text,
    correlationId, extraInfo. Only rows that pass count as seen for de-duplication, so a number whose
    first row is invalid still gets the message of a later valid row.
    """

    def __init__(self, profile: ProfileSettings, kind: str = "sms", blocklist: Iterable[str] = ()) -> None:
        if kind not in TEXT_LIMITS:
            raise ValueError(f"kind must be one of {', '.join(TEXT_LIMITS)}, not {kind!r}")
        self.kind = kind
        self._normalize = phone_book(profile.country).normalize
        self._sms = kind == "sms"
        self._text_limit = TEXT_LIMITS[kind]
        self._blocked = read_blocklist(profile, blocklist)
        self._seen: dict[int, int] | None = {} if profile.dedupe else None  # number → line

    def check(self, row: Row) -> Verdict:
        """The verdict on one row; a row that passes is remembered for de-duplication."""
        if row.problem is not None:
            return Verdict(_INVALID, row.destination.strip(), str(row.problem))
        destination = self._normalize(row.destination)
        if destination.__class__ is not str:
            return Verdict(_INVALID, row.destination.strip(), str(destination))
        if destination in self._blocked:
            return Verdict(_BLOCKED, destination, f"blocked: {destination} is on the blocklist")
        seen = self._seen
        if seen is not None:
            number = int(destination)
            first = seen.setdefault(number, row.line)
            if first != row.line:
                return Verdict(_INVALID, destination,
                               f"duplicate_destination: {destination} already appears on line {first}")
        text = row.text
        # WhatsApp template rows carry parameters, not text (a template may have no parameters at all).
        if self._sms and (not text or text.isspace()):
            reason = "empty_text: text is empty"
        elif len(text) > self._text_limit and (self._sms or not row.params):
            reason = _too_long("text_too_long", "text", text, self._text_limit)
        elif len(row.correlation_id) > CORRELATION_ID_LIMIT:
            reason = _too_long("correlation_id_too_long", "correlationId", row.correlation_id,
                               CORRELATION_ID_LIMIT)
        elif len(row.extra_info) > EXTRA_INFO_LIMIT:
            reason = _too_long("extra_info_too_long", "extraInfo", row.extra_info, EXTRA_INFO_LIMIT)
        else:
            return _new(Verdict, (_QUEUED, destination, ""))  # NamedTuple's own __new__ costs twice as much
        if seen is not None:
            del seen[number]  # only rows that pass count as seen
        return Verdict(_INVALID, destination, reason)

    def remember(self, destination: str, line: int) -> None:
        """Count a destination as already seen on `line` (resuming a batch stored before a restart)."""
        if self._seen is not None and destination.isascii() and destination.isdigit():
            self._seen.setdefault(int(destination), line)


def read_blocklist(profile: ProfileSettings, extra: Iterable[str] = ()) -> frozenset[str]:
    """The profile's blocked destinations (its list, its file, and `extra`), normalised.

    Raises ConfigError when the file cannot be read: sending to an opted-out number is worse than not
    sending. Entries that are not mobile numbers could never match a destination; they are logged.
    """
    entries = [*profile.blocklist, *extra]
    if profile.blocklist_file:
        path = Path(profile.blocklist_file)
        try:
            text = path.read_text(encoding="utf-8", errors="replace")  # comments may be Windows-1252
        except OSError as exc:
            raise ConfigError(
                [f"profiles.{profile.name}.blocklist_file: cannot read {path}: {exc.strerror}"]
            ) from None
        entries += (line.split("#", 1)[0] for line in text.splitlines())
    normalize = phone_book(profile.country).normalize
    numbers = set()
    ignored = []
    for entry in entries:
        if entry.strip():
            number = normalize(entry)
            if isinstance(number, str):
                numbers.add(number)
            else:
                ignored.append(number.message)
    if ignored:
        log.warning("profile %s: %d blocklist entries ignored, e.g. %s",
                    profile.name, len(ignored), ignored[0])
    return frozenset(numbers)


def _too_long(code: str, field: str, value: str, limit: int) -> str:
    return f"{code}: {field} has {len(value)} characters, the limit is {limit}"
