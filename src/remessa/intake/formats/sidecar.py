"""Sidecar options: ``NAME.json`` beside a batch file, with the batch-level fields of the provider's bulk API.

``read_sidecar`` checks every key (names as in the provider's JSON); ``BatchOptions.to_json`` is the
snake_case form kept in the store.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from remessa.errors import BatchFileError
from remessa.schedule.window import DATE_FORMAT
from remessa.spool import SIDECAR_MAX_BYTES, read_small

START_KEYS = ("scheduledDate", "scheduledAt", "delayedInMinutes")
EXPIRY_KEYS = ("expiresDate", "expiresAt", "expiresInMinutes")
LATEST_INSTANT = 4_102_444_800  # 2100-01-01T00:00:00Z: a later Unix time is a mistake (milliseconds?)
MOST_MINUTES = 366 * 24 * 60  # a year: a longer delay or expiry is a mistake
EARLIEST_YEAR, LATEST_YEAR = 2000, 2099


@dataclass(frozen=True)
class BatchOptions:
    """Batch-level options; None or "" means "not given" (the profile's setting applies)."""

    time_window: tuple[int, ...] | None = None  # hours 0-23, sorted, no repeats
    time_zone: str = ""  # IANA name
    scheduled_date: str = ""  # yyyy-MM-ddTHH:mm:ss in time_zone
    scheduled_at: int | None = None  # Unix time, seconds
    delayed_in_minutes: int | None = None  # from receipt of the file
    expires_date: str = ""
    expires_at: int | None = None
    expires_in_minutes: int | None = None
    campaign_alias: str = ""
    flash_sms: bool | None = None
    default_message_text: str = ""
    extra_info: str = ""

    def to_json(self) -> str:
        """The options as a JSON object with these field names (for storage)."""
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False, sort_keys=True)


def read_sidecar(path: Path) -> BatchOptions:
    """Read and check a sidecar file; raises ``BatchFileError`` ("bad_sidecar", "conflicting_options",
    "unknown_timezone") naming the file and the key."""
    name = path.name
    try:
        text = read_small(path, SIDECAR_MAX_BYTES).decode("utf-8-sig")
    except ValueError as exc:  # not a regular file, too big, not UTF-8
        raise BatchFileError("bad_sidecar", f"{name}: cannot be taken as options: {exc}") from None
    except OSError as exc:
        raise BatchFileError("bad_sidecar", f"{name}: cannot be read: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BatchFileError(
            "bad_sidecar", f"{name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", exc.lineno
        ) from None
    except RecursionError:
        raise BatchFileError("bad_sidecar", f"{name}: JSON nested too deeply to be options") from None
    return _Reader(name).options(document)


class _Reader:
    """Checks one sidecar document; every error names the file and the key."""

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, key: str, must: str) -> BatchFileError:
        return BatchFileError("bad_sidecar", f'{self.name}: "{key}" must be {must}')

    def options(self, document: Any) -> BatchOptions:
        if not isinstance(document, dict):
            raise BatchFileError("bad_sidecar", f"{self.name}: must be a JSON object")
        self._refuse_unknown(document, _ROOT_KEYS, "")
        defaults = document.get("defaultValues") or {}
        if not isinstance(defaults, dict):
            raise self.fail("defaultValues", "an object")
        self._refuse_unknown(defaults, _DEFAULTS, "defaultValues.")
        # null is "not given"; flashSMS and extraInfo may also sit in defaultValues, as in the provider's examples.
        given = {key: (key, value) for key, value in document.items() if value is not None and key != "defaultValues"}
        for key, value in defaults.items():
            if value is not None and key in given:
                self._conflict([key, f"defaultValues.{key}"], "give it once")
            if value is not None:
                given[key] = (f"defaultValues.{key}", value)
        for group, what in ((START_KEYS, "one start option"), (EXPIRY_KEYS, "one expiry option")):
            present = [key for key in group if key in given]
            if len(present) > 1:
                self._conflict(present, f"use {what}")
        fields: dict[str, Any] = {}
        for key, (where, value) in given.items():
            field, check = _CHECKS[key]
            fields[field] = check(self, where, value)
        return BatchOptions(**fields)

    def _refuse_unknown(self, values: Mapping[str, Any], known: Sequence[str], prefix: str) -> None:
        for key in values:
            if key not in known:
                raise BatchFileError(
                    "bad_sidecar", f'{self.name}: unknown key "{prefix}{key}" (known: {", ".join(known)})'
                )

    def _conflict(self, keys: list[str], advice: str) -> NoReturn:
        listed = " and ".join(f'"{key}"' for key in keys)
        raise BatchFileError("conflicting_options", f"{self.name}: {listed} cannot be used together; {advice}")

    def text(self, key: str, value: Any) -> str:
        if not isinstance(value, str):
            raise self.fail(key, "a string")
        return value

    def count(self, key: str, value: Any, most: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(key, "a whole number, 0 or more")
        if value > most:
            raise self.fail(key, f"at most {most}, not {value}")
        return value

    def instant(self, key: str, value: Any) -> int:
        """A Unix time in seconds."""
        if isinstance(value, int) and not isinstance(value, bool) and value > LATEST_INSTANT:
            raise self.fail(key, f"a Unix time in seconds before the year 2100, not {value} (milliseconds?)")
        return self.count(key, value, LATEST_INSTANT)

    def minutes(self, key: str, value: Any) -> int:
        return self.count(key, value, MOST_MINUTES)

    def flag(self, key: str, value: Any) -> bool:
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"  # the provider's own examples send "true"
        if not isinstance(value, bool):
            raise self.fail(key, "true or false")
        return value

    def window(self, key: str, value: Any) -> tuple[int, ...]:
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(hour, int) and not isinstance(hour, bool) and 0 <= hour <= 23 for hour in value)
        ):
            raise self.fail(key, "a list of hours 0-23")
        return tuple(sorted(set(value)))

    def zone(self, key: str, value: Any) -> str:
        name = self.text(key, value)
        if not name:
            return name  # not given: the profile's zone applies
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise BatchFileError(
                "unknown_timezone", f'{self.name}: "{key}" is not a known time zone: "{name}"'
            ) from None
        return name

    def local_time(self, key: str, value: Any) -> str:
        text = self.text(key, value)
        try:
            datetime.datetime.strptime(text, DATE_FORMAT)
        except ValueError:
            raise self.fail(key, f'a date and time yyyy-MM-ddTHH:mm:ss, not "{text}"') from None
        if not EARLIEST_YEAR <= int(text[:4]) <= LATEST_YEAR:
            raise self.fail(key, f'a date between the years {EARLIEST_YEAR} and {LATEST_YEAR}, not "{text}"')
        return text


_Check = Callable[[_Reader, str, Any], Any]
_CHECKS: dict[str, tuple[str, _Check]] = {
    "timeWindow": ("time_window", _Reader.window),
    "timeZone": ("time_zone", _Reader.zone),
    "scheduledDate": ("scheduled_date", _Reader.local_time),
    "scheduledAt": ("scheduled_at", _Reader.instant),
    "delayedInMinutes": ("delayed_in_minutes", _Reader.minutes),
    "expiresDate": ("expires_date", _Reader.local_time),
    "expiresAt": ("expires_at", _Reader.instant),
    "expiresInMinutes": ("expires_in_minutes", _Reader.minutes),
    "campaignAlias": ("campaign_alias", _Reader.text),
    "flashSMS": ("flash_sms", _Reader.flag),
    "extraInfo": ("extra_info", _Reader.text),
    "messageText": ("default_message_text", _Reader.text),
}
_ROOT_KEYS = (*(key for key in _CHECKS if key != "messageText"), "defaultValues")
_DEFAULTS = ("messageText", "flashSMS", "extraInfo")
