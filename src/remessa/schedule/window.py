"""When a batch may send: its time window, start and expiry, reasoned about in the batch's time zone.

Pure arithmetic: every function is given the instant it reasons about; nothing here reads the clock.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

UTC = dt.UTC
HORIZON_DAYS = 400  # how far ahead (local days) openings are looked for before giving up
MILLISECONDS_FROM = 10**11  # epoch values above this are milliseconds (10**11 s is the year 5138)
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S"  # the provider's yyyy-MM-dd'T'HH:mm:ss, local to the batch's zone

Span = tuple[dt.datetime, dt.datetime | None]  # [start, end) in UTC; end None = never closes

_HOUR = dt.timedelta(hours=1)
_DAY = dt.timedelta(days=1)
_MIDNIGHT = dt.time(0)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"(?:[01]\d|2[0-3]):[0-5]\d")


class StartAndExpiry(Protocol):
    """The provider's start and expiry fields, three mutually exclusive forms each (a sidecar's options)."""

    @property
    def scheduled_date(self) -> str: ...
    @property
    def scheduled_at(self) -> int | None: ...
    @property
    def delayed_in_minutes(self) -> int | None: ...
    @property
    def expires_date(self) -> str: ...
    @property
    def expires_at(self) -> int | None: ...
    @property
    def expires_in_minutes(self) -> int | None: ...


@dataclass(frozen=True)
class Window:
    """When sending is allowed in local time: hours of the day, or the WhatsApp header's date and start/end.

    ``hours`` is the provider's ``timeWindow``: ``(11, 18)`` allows 11:00-11:59:59.999 and 18:00-18:59:59.999;
    empty (or all 24) means no restriction; on DST days an hour the clock skips is skipped and one it repeats
    counts once (its first run). Otherwise ``date``/``start``/``end`` (end exclusive): end < start runs past
    midnight; no end, or end == start, means "from start on" (with a date: never closes; without a date: until
    midnight, every day); a date alone is that whole day; times alone repeat every day. Their wall times
    resolve as ``local_instant`` does.
    """

    hours: tuple[int, ...] = ()
    date: dt.date | None = None
    start: dt.time | None = None
    end: dt.time | None = None

    def __post_init__(self) -> None:
        if any(isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23 for hour in self.hours):
            raise ValueError(f"window hours must be whole numbers 0-23, not {list(self.hours)}")
        if self.hours and self.is_span:
            raise ValueError("a window has either hours or a date/start/end, not both")
        object.__setattr__(self, "hours", tuple(sorted(set(self.hours))))

    @classmethod
    def from_hours(cls, hours: Iterable[int] | None) -> Window:
        """The provider's ``timeWindow`` (None or empty: no restriction); raises ValueError for hours not 0-23."""
        return cls(hours=tuple(hours or ()))

    @classmethod
    def from_whatsapp(cls, date: str, start: str, end: str) -> Window:
        """The WhatsApp header's fields as written ("" / "YYYY-MM-DD" / "HH:MM"); raises ValueError if malformed."""
        date, start, end = date.strip(), start.strip(), end.strip()
        day = None
        if date:
            try:
                day = dt.date.fromisoformat(date) if _DATE.fullmatch(date) else None
            except ValueError:
                day = None
            if day is None:
                raise ValueError(f'window date must be a date YYYY-MM-DD, not "{date}"')
        times = []
        for field, text in (("start", start), ("end", end)):
            if text and not _TIME.fullmatch(text):
                raise ValueError(f'window {field} must be a time HH:MM (00:00-23:59), not "{text}"')
            times.append(dt.time.fromisoformat(text) if text else None)
        return cls(date=day, start=times[0], end=times[1])

    @property
    def is_span(self) -> bool:
        """True for the date/start/end form."""
        return self.date is not None or self.start is not None or self.end is not None

    @property
    def unrestricted(self) -> bool:
        """True when the window allows every instant."""
        if not self.is_span:
            return len(self.hours) in (0, 24)
        return self.date is None and self.start in (None, _MIDNIGHT) and self.end in (None, _MIDNIGHT)


@dataclass(frozen=True)
class Plan:
    """A batch's sending plan: its window in ``zone``, not before ``not_before``, and only before ``expires``.

    Instants in are timezone-aware datetimes (naive ones raise ValueError); instants out are in UTC.
    """

    zone: ZoneInfo
    window: Window = Window()
    not_before: dt.datetime | None = None
    expires: dt.datetime | None = None

    def __post_init__(self) -> None:
        for name in ("not_before", "expires"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _utc(value, name))

    def allowed(self, t: dt.datetime) -> bool:
        """May a message go out at instant ``t``: in the window, at or after not_before, before expires."""
        return self.next_allowed(t) == _utc(t)  # in UTC: inter-zone == is False for a repeated wall time

    def next_allowed(self, t: dt.datetime) -> dt.datetime | None:
        """``t`` if allowed, else the next instant that is; None if never again (expired, window over)."""
        return next((start for start, _ in self._openings(t)), None)

    def open_until(self, t: dt.datetime) -> dt.datetime | None:
        """When the opening containing ``t`` ends (window close or expiry); None if it never closes.

        At an instant that is not allowed, the opening is empty: the answer is ``t`` itself.
        """
        now = _utc(t)
        for start, end in self._openings(now):
            return end if start == now else now
        return now

    def openings(self, t: dt.datetime, until: dt.datetime) -> Iterator[Span]:
        """The successive allowed intervals [start, end) from ``t`` (the first starting at ``t`` if allowed),
        those that start before ``until``; ends are not clipped to ``until`` (None: never closes)."""
        until = _utc(until, "until")
        for start, end in self._openings(t):
            if start >= until:
                return
            yield start, end

    def finish_time(self, t: dt.datetime, seconds: float) -> dt.datetime | None:
        """When ``seconds`` of sending, done only while allowed from ``t`` on, are over (``t`` for 0 seconds);
        None if expiry, the end of a dated window or the horizon (HORIZON_DAYS) comes first."""
        if seconds <= 0:
            return _utc(t)
        left = dt.timedelta(seconds=seconds)
        for start, end in self._openings(t):
            if end is None or left <= end - start:
                return start + left
            left -= end - start
        return None

    def capacity_before_expiry(self, t: dt.datetime, rate: float) -> float | None:
        """How many messages fit at ``rate`` per second in the open time from ``t`` to expiry; None if the plan
        never expires. Open time beyond the horizon (HORIZON_DAYS) is not counted."""
        if self.expires is None:
            return None
        open_time = sum(((end or start) - start for start, end in self._openings(t)), dt.timedelta())
        return open_time.total_seconds() * rate

    def _openings(self, t: dt.datetime) -> Iterator[Span]:
        """The window's spans from ``t`` on, cut to [not_before, expires)."""
        low = _utc(t)
        if self.not_before is not None:
            low = max(low, self.not_before)
        spans: Iterable[Span] = (
            [(low, None)] if self.window.unrestricted else _spans(self.window, self.zone, low)
        )
        for start, end in spans:
            start = max(start, low)
            if self.expires is not None:
                if start >= self.expires:
                    return
                end = self.expires if end is None else min(end, self.expires)
            yield start, end


def _utc(t: dt.datetime, name: str = "t") -> dt.datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {t.isoformat()}")
    return t.astimezone(UTC)


def _offset(t: dt.datetime, zone: ZoneInfo) -> dt.timedelta:
    return t.astimezone(zone).utcoffset() or dt.timedelta()


def _transition(zone: ZoneInfo, low: dt.datetime, high: dt.datetime) -> dt.datetime:
    """The first instant in (low, high] whose UTC offset differs from low's (one transition is assumed there)."""
    before = _offset(low, zone)
    while high - low > dt.timedelta(seconds=1):  # tz transitions fall on whole seconds
        middle = low + dt.timedelta(seconds=(high - low).total_seconds() // 2)
        if _offset(middle, zone) == before:
            low = middle
        else:
            high = middle
    return high


def local_instant(wall: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The instant (UTC) of a naive local wall time in ``zone``: the first of two if the clock went back
    (fold=0), the instant the clock jumps to if it went forward over it."""
    aware = wall.replace(tzinfo=zone, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # In a gap, fold=0 reads the wall with the offset before the jump and fold=1 with the one after;
    # the jump lies between the two readings.
    after = aware.replace(fold=1).utcoffset() or dt.timedelta()
    return _transition(zone, (wall - after).replace(tzinfo=UTC), instant)


def _hour_span(zone: ZoneInfo, day: dt.date, hour: int) -> Span | None:
    """Local hour ``hour`` of ``day``: None if the clock skips it; only its first run if the clock repeats it."""
    wall = dt.datetime.combine(day, dt.time(hour))
    start = local_instant(wall, zone)
    if start.astimezone(zone).replace(tzinfo=None) >= wall + _HOUR:
        return None
    end = local_instant(wall + _HOUR, zone)
    if _offset(end, zone) < _offset(start, zone):  # the clock went back during the hour
        end = _transition(zone, start, end)
    return start, end


@functools.lru_cache(maxsize=4096)  # the send loop asks about the same few days over and over
def _day_spans(window: Window, zone: ZoneInfo, day: dt.date) -> tuple[Span, ...]:
    """The window's spans that begin on local ``day``, in order; empty spans (inside a skipped hour) dropped."""
    if not window.is_span:
        midnight = dt.datetime.combine(day, _MIDNIGHT)
        first = local_instant(midnight, zone)
        if local_instant(midnight + _DAY, zone) - first == _DAY:  # the clock does not change that day
            return tuple((first + hour * _HOUR, first + (hour + 1) * _HOUR) for hour in window.hours)
        return tuple(span for hour in window.hours if (span := _hour_span(zone, day, hour)) is not None)
    start_time = window.start or _MIDNIGHT
    start = local_instant(dt.datetime.combine(day, start_time), zone)
    if window.start is None and window.end is None:  # a date alone: the whole day
        end_wall: dt.datetime | None = dt.datetime.combine(day + _DAY, _MIDNIGHT)
    elif window.end is None or window.end == start_time:  # "from start on"
        end_wall = None if window.date is not None else dt.datetime.combine(day + _DAY, _MIDNIGHT)
    else:
        end_day = day if window.end > start_time else day + _DAY
        end_wall = dt.datetime.combine(end_day, window.end)
    end = None if end_wall is None else local_instant(end_wall, zone)
    return ((start, end),) if end is None or end > start else ()


def _spans(window: Window, zone: ZoneInfo, low: dt.datetime) -> Iterator[Span]:
    """The window's spans that end after ``low``, adjoining ones merged; looks HORIZON_DAYS local days ahead."""
    if window.date is not None:
        days: Iterable[dt.date] = [window.date]
    else:
        first = low.astimezone(zone).date() - _DAY  # a span begun the day before may still be open (23:00-01:00)
        days = (first + dt.timedelta(days=n) for n in range(HORIZON_DAYS + 2))
    spans = (span for day in days for span in _day_spans(window, zone, day))
    for start, end in _merged(spans):
        if end is None or end > low:
            yield start, end


def _merged(spans: Iterator[Span]) -> Iterator[Span]:
    """Spans (in order of start) with those that touch or overlap joined into one."""
    first = next(spans, None)
    if first is None:
        return
    start, end = first
    for following_start, following_end in spans:
        if end is None:
            break  # never closes: whatever follows is inside it
        if following_start > end:
            yield start, end
            start, end = following_start, following_end
        else:
            end = None if following_end is None else max(end, following_end)
    yield start, end


def _epoch(value: int) -> dt.datetime:
    seconds = value / 1000 if value > MILLISECONDS_FROM else value
    return dt.datetime.fromtimestamp(seconds, UTC)


def _local_option(text: str, zone: ZoneInfo, key: str) -> dt.datetime:
    try:
        wall = dt.datetime.strptime(text, DATE_FORMAT)
    except ValueError:
        raise ValueError(f'{key} must be a date and time yyyy-MM-ddTHH:mm:ss, not "{text}"') from None
    return local_instant(wall, zone)


def resolve_start(options: StartAndExpiry, received: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
    """The instant (UTC) before which the batch may not send; None if it may start at once.

    ``scheduled_date`` is local to ``zone`` (a time skipped by DST means the instant after the gap; a repeated
    one, its first run); ``scheduled_at`` is Unix time in seconds, or in milliseconds above 10**11, since the
    provider's JSON uses both; ``delayed_in_minutes`` counts from ``received``.
    """
    return _resolve(options.scheduled_date, options.scheduled_at, options.delayed_in_minutes,
                    "scheduledDate", received, zone)


def resolve_expiry(options: StartAndExpiry, received: dt.datetime, zone: ZoneInfo) -> dt.datetime | None:
    """The instant (UTC) from which unsent messages are expired; None if they never expire.

    Same rules as ``resolve_start``: ``expires_date`` local, ``expires_at`` epoch seconds or milliseconds (above
    10**11), ``expires_in_minutes`` from ``received``.
    """
    return _resolve(options.expires_date, options.expires_at, options.expires_in_minutes,
                    "expiresDate", received, zone)


def _resolve(
    local: str, epoch: int | None, minutes: int | None, key: str, received: dt.datetime, zone: ZoneInfo
) -> dt.datetime | None:
    """One of the provider's three mutually exclusive forms: a local date, an epoch, minutes from receipt."""
    if local:
        return _local_option(local, zone, key)
    if epoch is not None:
        return _epoch(epoch)
    if minutes is not None:
        return _utc(received, "received") + dt.timedelta(minutes=minutes)
    return None


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; raises ValueError("unknown time zone 'X'") if there is none by that name."""
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {name!r}") from None


def local_iso(epoch: float | None, zone: ZoneInfo) -> str:
    """ISO 8601 with offset, to the second, in ``zone``; "" for no time."""
    if epoch is None:
        return ""
    return _iso_second(int(epoch), zone)


@lru_cache(maxsize=4096)
def _iso_second(epoch: int, zone: ZoneInfo) -> str:
    # Many rows share a second: formatting each second once keeps a 1M-row report cheap.
    return dt.datetime.fromtimestamp(epoch, zone).isoformat(timespec="seconds")
