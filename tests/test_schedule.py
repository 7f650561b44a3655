"""Window arithmetic: hour edges, midnight wraps, the WhatsApp header form, DST days, start/expiry and ETA."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remessa.config import ProfileSettings
from remessa.intake.formats import WhatsAppTemplate
from remessa.intake.formats.sidecar import BatchOptions
from remessa.intake.timing import timing, zone_name
from remessa.schedule.planner import plan_of
from remessa.schedule.window import (
    HORIZON_DAYS,
    Plan,
    Window,
    load_zone,
    resolve_expiry,
    resolve_start,
)

UTC = dt.UTC
NY, LISBON, SANTIAGO, SAO_PAULO = "America/New_York", "Europe/Lisbon", "America/Santiago", "America/Sao_Paulo"


def z(text: str | None) -> dt.datetime | None:
    """An instant written in UTC, "2026-03-08 07:00" or with seconds/microseconds."""
    return None if text is None else dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(zone: str, text: str, fold: int = 0) -> dt.datetime:
    """A local wall time in zone, as a UTC instant (fold=1: the second run of a repeated time)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold).astimezone(UTC)


def hours(*values: int, zone: str = SAO_PAULO, **plan: dt.datetime | None) -> Plan:
    return Plan(ZoneInfo(zone), Window.from_hours(values), **plan)


def whatsapp(date: str, start: str, end: str, zone: str = SAO_PAULO) -> Plan:
    return Plan(ZoneInfo(zone), Window.from_whatsapp(date, start, end))


def transitions(zone: str, year: int) -> list[dt.datetime]:
    """The instants in year at which zone's UTC offset changes, read from zoneinfo an hour, then a minute, at a time."""
    tz = ZoneInfo(zone)
    found, t = [], dt.datetime(year, 1, 1, tzinfo=UTC)
    offset = t.astimezone(tz).utcoffset()
    while t.year == year:
        t += dt.timedelta(hours=1)
        if t.astimezone(tz).utcoffset() != offset:
            minute = t - dt.timedelta(hours=1)
            while minute.astimezone(tz).utcoffset() == offset:
                minute += dt.timedelta(minutes=1)
            found.append(minute)
            offset = t.astimezone(tz).utcoffset()
    return found


# The DST tables below are written against these transitions.
@pytest.mark.parametrize(
    "zone, expected",
    [
        (NY, ["2026-03-08 07:00", "2026-11-01 06:00"]),  # 02:00 EST -> 03:00 EDT; 02:00 EDT -> 01:00 EST
        (LISBON, ["2026-03-29 01:00", "2026-10-25 01:00"]),  # 01:00 WET -> 02:00 WEST; 02:00 WEST -> 01:00 WET
        # Apr 4 24:00 -03 -> Apr 4 23:00 -04; Sep 5 24:00 -04 -> Sep 6 01:00 -03
        (SANTIAGO, ["2026-04-05 03:00", "2026-09-06 04:00"]),
        (SAO_PAULO, []),  # no DST since 2019
    ],
)
def test_the_2026_transitions_the_tables_assume(zone: str, expected: list[str]) -> None:
    assert transitions(zone, 2026) == [z(text) for text in expected]


# --- hour windows in a zone without DST --------------------------------------------------------------------


@pytest.mark.parametrize(
    "wall, expected",
    [
        ("2026-05-11 10:59:59.999999", False),
        ("2026-05-11 11:00:00", True),
        ("2026-05-11 11:59:59.999999", True),
        ("2026-05-11 12:00:00", True),
        ("2026-05-11 12:59:59.999999", True),
        ("2026-05-11 13:00:00", False),
        ("2026-05-11 17:59:59", False),
        ("2026-05-11 18:00:00", True),
        ("2026-05-11 18:59:59", True),
        ("2026-05-11 19:00:00", False),
        ("2026-05-11 00:00:00", False),
    ],
)
def test_hour_edges(wall: str, expected: bool) -> None:
    assert hours(11, 12, 18).allowed(local(SAO_PAULO, wall)) is expected


@pytest.mark.parametrize(
    "wall, next_allowed, open_until",
    [
        ("2026-05-11 10:00", "2026-05-11 11:00", "2026-05-11 10:00"),  # closed: open_until is t itself
        ("2026-05-11 11:30", "2026-05-11 11:30", "2026-05-11 13:00"),  # 11 and 12 are one opening
        ("2026-05-11 13:00", "2026-05-11 18:00", "2026-05-11 13:00"),
        ("2026-05-11 18:10", "2026-05-11 18:10", "2026-05-11 19:00"),
        ("2026-05-11 19:00", "2026-05-12 11:00", "2026-05-11 19:00"),
    ],
)
def test_hour_window_next_and_close(wall: str, next_allowed: str, open_until: str) -> None:
    plan, t = hours(11, 12, 18), local(SAO_PAULO, wall)
    assert plan.next_allowed(t) == local(SAO_PAULO, next_allowed)
    assert plan.open_until(t) == local(SAO_PAULO, open_until)


@pytest.mark.parametrize(
    "wall, allowed, next_allowed, open_until",
    [
        ("2026-05-11 22:59:59", False, "2026-05-11 23:00", None),
        ("2026-05-11 23:00:00", True, "2026-05-11 23:00", "2026-05-12 02:00"),
        ("2026-05-12 00:30:00", True, "2026-05-12 00:30", "2026-05-12 02:00"),  # opened the day before
        ("2026-05-12 01:59:59", True, "2026-05-12 01:59:59", "2026-05-12 02:00"),
        ("2026-05-12 02:00:00", False, "2026-05-12 23:00", None),
    ],
)
def test_window_wrapping_midnight(wall: str, allowed: bool, next_allowed: str, open_until: str | None) -> None:
    plan, t = hours(23, 0, 1), local(SAO_PAULO, wall)
    assert plan.allowed(t) is allowed
    assert plan.next_allowed(t) == local(SAO_PAULO, next_allowed)
    assert plan.open_until(t) == (local(SAO_PAULO, open_until) if open_until else t)


@pytest.mark.parametrize("window", [(), tuple(range(24))])
def test_empty_or_full_hour_list_is_no_restriction(window: tuple[int, ...]) -> None:
    plan = Plan(ZoneInfo(NY), Window.from_hours(window))
    for t in (z("2026-03-08 07:00"), z("2026-11-01 06:30"), z("2026-05-11 03:17:12.5")):
        assert plan.allowed(t)
        assert plan.next_allowed(t) == t
        assert plan.open_until(t) is None
    assert Window.from_hours(None).unrestricted
    assert Plan(ZoneInfo(NY), Window(), expires=z("2026-06-01 00:00")).open_until(z("2026-05-11 10:00")) == z(
        "2026-06-01 00:00"
    )


def test_bad_hours_are_refused() -> None:
    with pytest.raises(ValueError, match="0-23"):
        Window.from_hours([11, 24])
    with pytest.raises(ValueError, match="0-23"):
        Window.from_hours([True])
    with pytest.raises(ValueError, match="not both"):
        Window(hours=(11,), start=dt.time(9))
    assert Window.from_hours([18, 11, 11]) == Window(hours=(11, 18))


def test_a_window_far_ahead_is_found_without_stepping_through_it() -> None:
    plan = Plan(ZoneInfo(NY), Window.from_hours([9]), not_before=z("2031-01-01 00:00"))
    assert plan.next_allowed(z("2026-05-11 00:00")) == local(NY, "2031-01-01 09:00")
    dated = whatsapp("2030-07-01", "08:00", "09:00")
    assert dated.next_allowed(z("2026-05-11 00:00")) == local(SAO_PAULO, "2030-07-01 08:00")


# --- the WhatsApp header form ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "date, start, end, wall, expected",
    [
        ("", "08:00", "18:00", "2026-05-11 07:59:59", False),
        ("", "08:00", "18:00", "2026-05-11 08:00:00", True),
        ("", "08:00", "18:00", "2026-05-11 17:59:59", True),
        ("", "08:00", "18:00", "2026-05-11 18:00:00", False),
        ("", "08:00", "18:00", "2027-01-02 12:00:00", True),  # undated: every day
        ("", "22:00", "06:00", "2026-05-11 21:59:59", False),
        ("", "22:00", "06:00", "2026-05-11 22:00:00", True),
        ("", "22:00", "06:00", "2026-05-12 05:59:59", True),
        ("", "22:00", "06:00", "2026-05-12 06:00:00", False),
        ("", "16:00", "16:00", "2026-05-11 15:59:59", False),  # undated "from 16:00 on": until midnight
        ("", "16:00", "16:00", "2026-05-11 23:59:59", True),
        ("", "16:00", "16:00", "2026-05-12 00:00:00", False),
        ("", "", "12:00", "2026-05-11 00:00:00", True),
        ("", "", "12:00", "2026-05-11 12:00:00", False),
        ("2020-01-21", "16:00", "16:00", "2020-01-21 15:59:59", False),  # the provider's own example
        ("2020-01-21", "16:00", "16:00", "2020-01-21 16:00:00", True),
        ("2020-01-21", "16:00", "16:00", "2020-01-25 03:00:00", True),  # dated: never closes
        ("2026-05-10", "09:00", "12:00", "2026-05-10 11:59:59", True),
        ("2026-05-10", "09:00", "12:00", "2026-05-11 10:00:00", False),  # dated: that day only
        ("2026-05-10", "22:00", "02:00", "2026-05-11 01:59:59", True),
        ("2026-05-10", "22:00", "02:00", "2026-05-11 22:30:00", False),
        ("2026-05-10", "", "", "2026-05-09 23:59:59", False),  # a date alone: that whole day
        ("2026-05-10", "", "", "2026-05-10 00:00:00", True),
        ("2026-05-10", "", "", "2026-05-10 23:59:59", True),
        ("2026-05-10", "", "", "2026-05-11 00:00:00", False),
        ("2026-05-10", "09:00", "", "2026-06-30 08:00:00", True),
        (" ", " ", " ", "2026-05-11 04:00:00", True),  # blank header (as in "; ; ;"): no restriction
    ],
)
def test_whatsapp_window(date: str, start: str, end: str, wall: str, expected: bool) -> None:
    assert whatsapp(date, start, end).allowed(local(SAO_PAULO, wall)) is expected


@pytest.mark.parametrize(
    "date, start, end, wall, next_allowed, open_until",
    [
        ("", "08:00", "18:00", "2026-05-11 18:00", "2026-05-12 08:00", None),
        ("", "22:00", "06:00", "2026-05-11 23:00", "2026-05-11 23:00", "2026-05-12 06:00"),
        ("", "16:00", "16:00", "2026-05-12 00:00", "2026-05-12 16:00", None),
        ("", "16:00", "16:00", "2026-05-12 16:00", "2026-05-12 16:00", "2026-05-13 00:00"),
        ("2020-01-21", "16:00", "16:00", "2020-01-01 00:00", "2020-01-21 16:00", None),
        ("2020-01-21", "16:00", "16:00", "2020-01-22 00:00", "2020-01-22 00:00", "never"),
        ("2026-05-10", "09:00", "12:00", "2026-05-01 00:00", "2026-05-10 09:00", None),
        ("2026-05-10", "09:00", "12:00", "2026-05-10 10:00", "2026-05-10 10:00", "2026-05-10 12:00"),
        ("2026-05-10", "09:00", "12:00", "2026-05-10 12:00", None, None),  # over: never again
        ("2026-05-10", "22:00", "02:00", "2026-05-11 02:00", None, None),
        ("2026-05-10", "", "", "2026-05-10 05:00", "2026-05-10 05:00", "2026-05-11 00:00"),
        ("2026-05-10", "", "", "2026-05-11 00:00", None, None),
    ],
)
def test_whatsapp_window_next_and_close(
    date: str, start: str, end: str, wall: str, next_allowed: str | None, open_until: str | None
) -> None:
    plan, t = whatsapp(date, start, end), local(SAO_PAULO, wall)
    assert plan.next_allowed(t) == (local(SAO_PAULO, next_allowed) if next_allowed else None)
    if open_until == "never":
        assert plan.open_until(t) is None
    else:
        assert plan.open_until(t) == (local(SAO_PAULO, open_until) if open_until else t)


@pytest.mark.parametrize(
    "date, start, end, message",
    [
        ("21/01/2020", "", "", 'window date must be a date YYYY-MM-DD, not "21/01/2020"'),
        ("2026-02-30", "", "", "window date must be a date YYYY-MM-DD"),
        ("20260121", "", "", "window date"),
        ("", "8:00", "", 'window start must be a time HH:MM (00:00-23:59), not "8:00"'),
        ("", "16h00", "", "window start"),
        ("", "", "24:00", 'window end must be a time HH:MM (00:00-23:59), not "24:00"'),
        ("", "", "12:00:00", "window end"),
    ],
)
def test_bad_whatsapp_window_fields(date: str, start: str, end: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Window.from_whatsapp(date, start, end)
    assert message in str(caught.value)


def test_whatsapp_fields_become_dates_and_times() -> None:
    assert Window.from_whatsapp("2020-01-21", "16:00", "16:00") == Window(
        date=dt.date(2020, 1, 21), start=dt.time(16), end=dt.time(16)
    )
    assert Window.from_whatsapp("", "", "") == Window()


# --- DST days -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "zone, window, t, expected",
    [
        # New York, spring forward 2026-03-08 (02:00 EST -> 03:00 EDT at 07:00Z): hour 2 does not exist.
        (NY, (1,), "2026-03-08 06:59:59", True),  # 01:59:59 EST
        (NY, (2,), "2026-03-08 07:00:00", False),  # 03:00 EDT
        (NY, (3,), "2026-03-08 07:00:00", True),
        (NY, (3,), "2026-03-08 07:59:59", True),
        (NY, (3,), "2026-03-08 08:00:00", False),
        # New York, fall back 2026-11-01 (02:00 EDT -> 01:00 EST at 06:00Z): hour 1 runs twice, used once.
        (NY, (1,), "2026-11-01 05:00:00", True),  # 01:00 EDT
        (NY, (1,), "2026-11-01 05:59:59", True),
        (NY, (1,), "2026-11-01 06:00:00", False),  # 01:00 EST, the second run
        (NY, (1,), "2026-11-01 06:59:59", False),
        (NY, (2,), "2026-11-01 07:00:00", True),  # 02:00 EST
        # Lisbon, spring forward 2026-03-29 (01:00 WET -> 02:00 WEST at 01:00Z): hour 1 does not exist.
        (LISBON, (0,), "2026-03-29 00:59:59", True),
        (LISBON, (1,), "2026-03-29 01:00:00", False),  # 02:00 WEST
        (LISBON, (2,), "2026-03-29 01:00:00", True),
        # Lisbon, fall back 2026-10-25 (02:00 WEST -> 01:00 WET at 01:00Z): hour 1 runs twice.
        (LISBON, (1,), "2026-10-25 00:00:00", True),  # 01:00 WEST
        (LISBON, (1,), "2026-10-25 00:59:59", True),
        (LISBON, (1,), "2026-10-25 01:00:00", False),  # 01:00 WET, the second run
        (LISBON, (1,), "2026-10-25 01:30:00", False),
        (LISBON, (2,), "2026-10-25 02:00:00", True),
        # Santiago, fall back at Apr 4 24:00 -03 (03:00Z) to 23:00 -04: hour 23 of Apr 4 runs twice.
        (SANTIAGO, (23,), "2026-04-05 02:00:00", True),  # Apr 4 23:00 -03
        (SANTIAGO, (23,), "2026-04-05 02:59:59", True),
        (SANTIAGO, (23,), "2026-04-05 03:00:00", False),  # Apr 4 23:00 -04, the second run
        (SANTIAGO, (0,), "2026-04-05 04:00:00", True),  # Apr 5 00:00 -04
        # Santiago, spring forward at Sep 5 24:00 -04 (04:00Z) to Sep 6 01:00 -03: hour 0 of Sep 6 does not exist.
        (SANTIAGO, (0,), "2026-09-06 04:00:00", False),  # Sep 6 01:00 -03
        (SANTIAGO, (1,), "2026-09-06 04:00:00", True),
        (SANTIAGO, (23,), "2026-09-06 03:59:59", True),  # Sep 5 23:59:59 -04
        # Sao Paulo kept -03 all year: hours on the dates it used to change clocks behave normally.
        (SAO_PAULO, (0,), "2026-11-01 03:00:00", True),  # Nov 1 00:00 -03 (was skipped in 2018)
        (SAO_PAULO, (0,), "2026-11-01 03:59:59", True),
        (SAO_PAULO, (23,), "2026-02-15 02:00:00", True),  # Feb 14 23:00 -03 (ran twice in 2019)
        (SAO_PAULO, (23,), "2026-02-15 03:00:00", False),
    ],
)
def test_dst_days_allowed(zone: str, window: tuple[int, ...], t: str, expected: bool) -> None:
    assert hours(*window, zone=zone).allowed(z(t)) is expected


@pytest.mark.parametrize(
    "zone, window, t, until, expected",
    [
        (NY, (2,), "2026-03-08 05:00", "2026-03-10 00:00", [("2026-03-09 06:00", "2026-03-09 07:00")]),
        (NY, (1, 2, 3), "2026-03-08 05:00", "2026-03-08 12:00", [("2026-03-08 06:00", "2026-03-08 08:00")]),
        (NY, (1,), "2026-11-01 04:00", "2026-11-02 12:00",
         [("2026-11-01 05:00", "2026-11-01 06:00"), ("2026-11-02 06:00", "2026-11-02 07:00")]),
        (NY, (1, 2), "2026-11-01 04:00", "2026-11-01 12:00",  # the second 01:00-02:00 splits them
         [("2026-11-01 05:00", "2026-11-01 06:00"), ("2026-11-01 07:00", "2026-11-01 08:00")]),
        (NY, (23, 0, 1), "2026-11-01 04:30", "2026-11-02 12:00",
         [("2026-11-01 04:30", "2026-11-01 06:00"), ("2026-11-02 04:00", "2026-11-02 07:00")]),
        (LISBON, (1,), "2026-03-29 00:30", "2026-03-31 00:00", [("2026-03-30 00:00", "2026-03-30 01:00")]),
        (LISBON, (0, 1, 2), "2026-03-28 23:00", "2026-03-29 12:00", [("2026-03-29 00:00", "2026-03-29 02:00")]),
        (LISBON, (1, 2), "2026-10-24 23:00", "2026-10-25 12:00",
         [("2026-10-25 00:00", "2026-10-25 01:00"), ("2026-10-25 02:00", "2026-10-25 03:00")]),
        (SANTIAGO, (23, 0), "2026-04-05 01:00", "2026-04-05 12:00",
         [("2026-04-05 02:00", "2026-04-05 03:00"), ("2026-04-05 04:00", "2026-04-05 05:00")]),
        (SANTIAGO, (0,), "2026-09-06 03:30", "2026-09-07 12:00", [("2026-09-07 03:00", "2026-09-07 04:00")]),
        (SANTIAGO, (23, 0, 1), "2026-09-06 00:00", "2026-09-06 12:00", [("2026-09-06 03:00", "2026-09-06 05:00")]),
        (SAO_PAULO, (0,), "2026-11-01 00:00", "2026-11-01 12:00", [("2026-11-01 03:00", "2026-11-01 04:00")]),
        (SAO_PAULO, (0,), "2018-11-04 00:00", "2018-11-05 12:00", [("2018-11-05 02:00", "2018-11-05 03:00")]),
    ],
)
def test_dst_days_openings(
    zone: str, window: tuple[int, ...], t: str, until: str, expected: list[tuple[str, str]]
) -> None:
    assert list(hours(*window, zone=zone).openings(z(t), z(until))) == [(z(a), z(b)) for a, b in expected]


@pytest.mark.parametrize(
    "zone, date, start, end, expected",
    [
        (NY, "2026-03-08", "02:30", "03:30", ("2026-03-08 07:00", "2026-03-08 07:30")),  # 02:30 is skipped
        (NY, "2026-03-08", "01:00", "03:00", ("2026-03-08 06:00", "2026-03-08 07:00")),  # one real hour
        (NY, "2026-11-01", "01:30", "02:00", ("2026-11-01 05:30", "2026-11-01 07:00")),  # from the first 01:30
        (NY, "2026-11-01", "", "", ("2026-11-01 04:00", "2026-11-02 05:00")),  # a 25-hour day
        (LISBON, "2026-03-29", "01:15", "01:45", None),  # all inside the gap: nothing
        (LISBON, "2026-10-25", "00:30", "01:30", ("2026-10-24 23:30", "2026-10-25 00:30")),
        (SANTIAGO, "2026-09-06", "", "", ("2026-09-06 04:00", "2026-09-07 03:00")),  # starts at 01:00 -03
        (SANTIAGO, "2026-04-04", "22:00", "00:30", ("2026-04-05 01:00", "2026-04-05 04:30")),
    ],
)
def test_dst_days_whatsapp_window(zone: str, date: str, start: str, end: str, expected: tuple[str, str] | None) -> None:
    found = list(whatsapp(date, start, end, zone=zone).openings(z("2026-01-01 00:00"), z("2027-01-01 00:00")))
    assert found == ([(z(expected[0]), z(expected[1]))] if expected else [])


# --- start, expiry and zone ---------------------------------------------------------------------------------

RECEIVED = z("2026-05-10 12:00")


@pytest.mark.parametrize(
    "zone, options, start",
    [
        (SAO_PAULO, BatchOptions(), None),
        (SAO_PAULO, BatchOptions(scheduled_date="2026-05-11T08:00:00"), "2026-05-11 11:00"),
        (SAO_PAULO, BatchOptions(scheduled_at=1778457600), "2026-05-11 00:00"),
        (SAO_PAULO, BatchOptions(scheduled_at=1778457600000), "2026-05-11 00:00"),  # milliseconds
        (SAO_PAULO, BatchOptions(scheduled_at=1778457600123), "2026-05-11 00:00:00.123"),
        (SAO_PAULO, BatchOptions(delayed_in_minutes=90), "2026-05-10 13:30"),
        (SAO_PAULO, BatchOptions(delayed_in_minutes=0), "2026-05-10 12:00"),
        (NY, BatchOptions(scheduled_date="2026-03-08T02:30:00"), "2026-03-08 07:00"),  # in the gap: after it
        (NY, BatchOptions(scheduled_date="2026-11-01T01:30:00"), "2026-11-01 05:30"),  # repeated: the first
    ],
)
def test_resolve_start(zone: str, options: BatchOptions, start: str | None) -> None:
    assert resolve_start(options, RECEIVED, ZoneInfo(zone)) == z(start)


@pytest.mark.parametrize(
    "zone, options, expiry",
    [
        (SAO_PAULO, BatchOptions(), None),
        (SAO_PAULO, BatchOptions(expires_date="2026-05-12T03:30:00"), "2026-05-12 06:30"),
        (SAO_PAULO, BatchOptions(expires_at=1778567400), "2026-05-12 06:30"),
        (SAO_PAULO, BatchOptions(expires_at=1778567400000), "2026-05-12 06:30"),  # milliseconds
        (SAO_PAULO, BatchOptions(expires_in_minutes=1440), "2026-05-11 12:00"),
        (LISBON, BatchOptions(expires_date="2026-03-29T01:30:00"), "2026-03-29 01:00"),  # in the gap
        (LISBON, BatchOptions(expires_date="2026-10-25T01:30:00"), "2026-10-25 00:30"),  # repeated: the first
    ],
)
def test_resolve_expiry(zone: str, options: BatchOptions, expiry: str | None) -> None:
    assert resolve_expiry(options, RECEIVED, ZoneInfo(zone)) == z(expiry)


def test_bad_local_date_and_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match='scheduledDate must be a date and time yyyy-MM-ddTHH:mm:ss, not "tomorrow"'):
        resolve_start(BatchOptions(scheduled_date="tomorrow"), RECEIVED, ZoneInfo(NY))
    with pytest.raises(ValueError, match="received must be a timezone-aware datetime"):
        resolve_expiry(BatchOptions(expires_in_minutes=5), dt.datetime(2026, 5, 10, 12), ZoneInfo(NY))
    with pytest.raises(ValueError, match="t must be a timezone-aware datetime"):
        hours(11).allowed(dt.datetime(2026, 5, 10, 12))


@pytest.mark.parametrize(
    "sidecar, profile, daemon, expected",
    [
        ("Europe/Lisbon", "America/New_York", "America/Sao_Paulo", "Europe/Lisbon"),
        ("", "America/New_York", "America/Sao_Paulo", "America/New_York"),
        (None, None, "America/Sao_Paulo", "America/Sao_Paulo"),
        ("", " ", "", "UTC"),
        (None, None, None, "UTC"),
    ],
)
def test_zone_name_precedence(sidecar: str | None, profile: str | None, daemon: str | None, expected: str) -> None:
    assert zone_name(sidecar, profile, daemon) == expected


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "America", "", "../etc/passwd", "/etc/localtime"])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(ValueError) as caught:
        load_zone(name)
    assert str(caught.value) == f"unknown time zone {name!r}"


def test_known_zone_loads() -> None:
    assert load_zone("America/Santiago") == ZoneInfo("America/Santiago")


def test_the_timing_prefers_a_restricting_whatsapp_window() -> None:
    options = BatchOptions(time_window=(9,), delayed_in_minutes=30, expires_in_minutes=120, time_zone=SAO_PAULO)
    zone = ZoneInfo(SAO_PAULO)
    profile = ProfileSettings(name="p")
    received = RECEIVED.timestamp()
    plain = plan_of(timing(options, None, profile, "", received))
    assert plain == Plan(zone, Window(hours=(9,)), z("2026-05-10 12:30"), z("2026-05-10 14:00"))
    header = WhatsAppTemplate("2026-05-10", "10:00", "11:00", "t", "ns", "pt_BR", "DETERMINISTIC", ())
    assert plan_of(timing(options, header, profile, "", received)).window == Window.from_whatsapp(
        "2026-05-10", "10:00", "11:00")
    blank = WhatsAppTemplate("", "", "", "t", "ns", "pt_BR", "DETERMINISTIC", ())
    assert plan_of(timing(options, blank, profile, "", received)).window == Window(hours=(9,))


# --- start and expiry against the window -------------------------------------------------------------------


def test_nothing_is_allowed_at_or_after_expiry() -> None:
    plan = hours(11, 12, expires=local(SAO_PAULO, "2026-05-11 12:30"))
    assert plan.allowed(local(SAO_PAULO, "2026-05-11 12:29:59.999999"))
    assert not plan.allowed(local(SAO_PAULO, "2026-05-11 12:30"))
    assert plan.next_allowed(local(SAO_PAULO, "2026-05-11 12:30")) is None
    assert plan.open_until(local(SAO_PAULO, "2026-05-11 11:00")) == local(SAO_PAULO, "2026-05-11 12:30")
    # the window's next opening comes after expiry: never again
    assert plan.next_allowed(local(SAO_PAULO, "2026-05-11 10:00")) == local(SAO_PAULO, "2026-05-11 11:00")
    early = hours(11, expires=local(SAO_PAULO, "2026-05-11 10:59"))
    assert early.next_allowed(local(SAO_PAULO, "2026-05-11 10:00")) is None


def test_not_before_delays_inside_the_window() -> None:
    plan = hours(11, 12, not_before=local(SAO_PAULO, "2026-05-11 11:40"))
    assert not plan.allowed(local(SAO_PAULO, "2026-05-11 11:39:59"))
    assert plan.next_allowed(local(SAO_PAULO, "2026-05-11 09:00")) == local(SAO_PAULO, "2026-05-11 11:40")
    assert plan.next_allowed(local(SAO_PAULO, "2026-05-11 13:00")) == local(SAO_PAULO, "2026-05-12 11:00")
    unrestricted = Plan(ZoneInfo(NY), not_before=z("2026-05-11 00:00"), expires=z("2026-05-11 00:00"))
    assert unrestricted.next_allowed(z("2026-05-10 00:00")) is None  # expires as it starts


def test_openings_until() -> None:
    plan = hours(9, 10, 14, expires=local(SAO_PAULO, "2026-05-12 10:15"))
    found = list(plan.openings(local(SAO_PAULO, "2026-05-11 09:30"), local(SAO_PAULO, "2026-05-12 09:00")))
    assert found == [
        (local(SAO_PAULO, "2026-05-11 09:30"), local(SAO_PAULO, "2026-05-11 11:00")),
        (local(SAO_PAULO, "2026-05-11 14:00"), local(SAO_PAULO, "2026-05-11 15:00")),
    ]
    found = list(plan.openings(local(SAO_PAULO, "2026-05-11 09:30"), local(SAO_PAULO, "2026-05-20 00:00")))
    assert found[-1] == (local(SAO_PAULO, "2026-05-12 09:00"), local(SAO_PAULO, "2026-05-12 10:15"))
    forever = whatsapp("2020-01-21", "16:00", "16:00")
    assert list(forever.openings(z("2020-01-01 00:00"), z("2030-01-01 00:00"))) == [(z("2020-01-21 19:00"), None)]


# --- ETA and admission -------------------------------------------------------------------------------------

T0 = "2026-05-11 09:30"


@pytest.mark.parametrize(
    "seconds, expires, finish",
    [
        (0, None, "2026-05-11 09:30"),
        (1800, None, "2026-05-11 10:00"),
        (5400, None, "2026-05-11 11:00"),  # ends as the 09-10 opening closes
        (5401, None, "2026-05-11 14:00:01"),
        (7200, None, "2026-05-11 14:30"),
        (14400, None, "2026-05-12 10:30"),  # 1.5 h + 1 h today, 1.5 h tomorrow
        (14400, "2026-05-12 10:30", "2026-05-12 10:30"),  # just fits
        (14400, "2026-05-12 10:00", None),  # expiry first
        (0.5, None, "2026-05-11 09:30:00.5"),
    ],
)
def test_finish_time_across_openings_and_days(seconds: float, expires: str | None, finish: str | None) -> None:
    plan = hours(9, 10, 14, expires=local(SAO_PAULO, expires) if expires else None)
    assert plan.finish_time(local(SAO_PAULO, T0), seconds) == (local(SAO_PAULO, finish) if finish else None)


def test_finish_time_over_dst_days_and_limits() -> None:
    # 01:00-02:00 on Oct 31, the first run only on Nov 1, then 01:00 EST on Nov 2
    assert hours(1, zone=NY).finish_time(z("2026-10-31 05:00"), 3 * 3600) == z("2026-11-02 07:00")
    assert Plan(ZoneInfo(NY)).finish_time(z("2026-05-11 00:00"), 90) == z("2026-05-11 00:01:30")
    assert whatsapp("2026-05-10", "09:00", "10:00").finish_time(local(SAO_PAULO, "2026-05-10 09:30"), 3600) is None
    # one hour a day: more than HORIZON_DAYS hours of work is beyond the horizon
    assert hours(9).finish_time(local(SAO_PAULO, "2026-05-11 09:00"), (HORIZON_DAYS + 5) * 3600) is None


@pytest.mark.parametrize(
    "t, expires, rate, capacity",
    [
        (T0, "2026-05-12 10:15", 2.0, 27000.0),  # (1.5 + 1 + 1.25) h at 2/s
        (T0, "2026-05-11 09:40", 10.0, 6000.0),
        (T0, "2026-05-11 09:30", 10.0, 0.0),
        ("2026-05-11 12:00", "2026-05-11 13:00", 10.0, 0.0),  # no opening before expiry
        (T0, None, 2.0, None),
    ],
)
def test_capacity_before_expiry(t: str, expires: str | None, rate: float, capacity: float | None) -> None:
    plan = hours(9, 10, 14, expires=local(SAO_PAULO, expires) if expires else None)
    assert plan.capacity_before_expiry(local(SAO_PAULO, t), rate) == capacity


def test_capacity_of_an_unrestricted_plan_over_a_dst_day() -> None:
    plan = Plan(ZoneInfo(NY), expires=local(NY, "2026-11-02 00:00"))
    assert plan.capacity_before_expiry(local(NY, "2026-11-01 00:00"), 1.0) == 25 * 3600


# --- property: next_allowed is the first allowed instant -----------------------------------------------------

TRANSITIONS = st.sampled_from(
    [(NY, "2026-03-08 07:00"), (NY, "2026-11-01 06:00"), (LISBON, "2026-03-29 01:00"),
     (LISBON, "2026-10-25 01:00"), (SANTIAGO, "2026-04-05 03:00"), (SANTIAGO, "2026-09-06 04:00")]
)


def wall_rule(t: dt.datetime, zone: str, hour_set: set[int]) -> bool:
    """The rule restated on the wall clock: the hour is listed and this is not a repeated time's second run."""
    wall = t.astimezone(ZoneInfo(zone))
    return wall.hour in hour_set and wall.fold == 0


@settings(max_examples=100, deadline=None)
@given(
    transition=TRANSITIONS,
    hour_set=st.sets(st.integers(0, 23), min_size=1, max_size=23),
    shift=st.one_of(st.integers(-3 * 3600, 3 * 3600), st.integers(-36 * 3600, 36 * 3600)),
)
def test_next_allowed_is_the_first_allowed_instant(
    transition: tuple[str, str], hour_set: set[int], shift: int
) -> None:
    zone, base = transition
    plan, t = hours(*hour_set, zone=zone), z(base) + dt.timedelta(seconds=shift)
    assert plan.allowed(t) is wall_rule(t, zone, hour_set)
    found = plan.next_allowed(t)
    assert found is not None and found >= t
    assert plan.allowed(found) and wall_rule(found, zone, hour_set)
    minute = t.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    while minute < found:
        assert not plan.allowed(minute), minute
        minute += dt.timedelta(minutes=1)
