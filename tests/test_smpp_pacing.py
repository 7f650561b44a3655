"""Pacing of one bind's submits, on injected instants: the rate holds in every span, whatever the loop does."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from remessa.channels.smpp.pacing import CATCH_UP, SPAN, Pacer, PoolRate


def look(pacer: Pacer, at: float, window: int) -> list[float]:
    """One turn of a bind's loop at `at`: submit while the pacer allows, at most `window` at once."""
    sent: list[float] = []
    while len(sent) < window and pacer.ready_at() <= at:
        pacer.sent(at)
        sent.append(at)
    if sent:
        pacer.written(len(sent), at)
    return sent


def assert_span_holds(sent: list[float], limit: int) -> None:
    for first, last in zip(sent, sent[limit:], strict=False):
        assert last - first >= SPAN - 1e-9, "more than `rate` submits within one span"


def test_a_loop_that_wakes_on_time_sends_at_the_rate_without_bursts() -> None:
    pacer, sent, now = Pacer(80.0), [], 0.0
    while now < 60.0:
        sent += look(pacer, now, window=10)
        now = pacer.ready_at()
    assert_span_holds(sent, 80)
    assert len(sent) >= 0.99 * 80 * 60
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= pacer.interval - 1e-9  # evenly spaced: no two submits closer than 1/rate


def test_a_late_loop_catches_up_only_a_little_and_never_beyond_the_span() -> None:
    pacer, sent = Pacer(80.0), []
    sent += look(pacer, 0.0, window=10)
    burst = look(pacer, 10.0, window=1000)  # ten seconds idle: no credit for all of them
    assert len(burst) <= CATCH_UP * 80 + 2
    sent += burst
    now = 10.0
    while now < 15.0:
        now = pacer.ready_at()
        sent += look(pacer, now, window=10)
    assert_span_holds(sent, 80)


def test_the_pool_rate_falls_once_per_throttling_episode_and_climbs_back_slowly(
        caplog: pytest.LogCaptureFixture) -> None:
    pool = PoolRate(320.0, "smpp test")
    caplog.set_level(logging.DEBUG, "remessa.channels.smpp.pacing")
    pool.sent(0.0)
    for sent in (0.0, 0.001, 0.002):  # three answers to submits sent before the first cut: one episode
        pool.throttled(sent, 0.01)
    assert pool.rate == pytest.approx(288.0)
    assert pool.ready_at() >= 0.01 + 1 / 288.0  # the next submit waits its new spacing
    pool.throttled(0.02, 0.03)  # sent after the cut: a new episode
    assert pool.rate == pytest.approx(259.2)
    pool.accepted(0.5)
    assert pool.rate == pytest.approx(259.2)  # under a second since the cut: no probing yet
    pool.accepted(1.1)
    assert 259.2 < pool.rate < 266.0
    climbed = pool.rate
    pool.throttled(1.2, 1.3)  # the sawtooth just under the quota is not a warning each time
    assert pool.rate == pytest.approx(climbed * 0.9)
    warnings = [r.getMessage().split("sends ")[1].split("/s")[0] for r in caplog.records
                if r.levelno == logging.WARNING]
    assert warnings == ["288.0", "259.2"]
    for second in range(2, 400):
        pool.accepted(float(second))
    assert pool.rate == 320.0  # never above the configured rates


def test_the_pool_spaces_submits_of_every_bind_evenly() -> None:
    pool = PoolRate(20.0)
    sent = []
    now = 0.0
    while len(sent) < 40:  # two binds asking as often as they like
        now = max(now, pool.ready_at())
        pool.sent(now)
        sent.append(now)
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    assert min(gaps) == pytest.approx(0.05) and max(gaps) == pytest.approx(0.05)


def test_a_rate_below_one_per_second_spaces_submits_by_its_interval() -> None:
    pacer = Pacer(0.5)
    assert len(look(pacer, 0.0, window=10)) == 1
    assert look(pacer, 1.9, window=10) == []
    assert len(look(pacer, 2.0, window=10)) == 1


@settings(max_examples=200, deadline=None)
@given(rate=st.sampled_from([1.0, 7.5, 80.0, 250.0]), window=st.integers(1, 20),
       steps=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=400),
       delays=st.lists(st.floats(0.0, 0.02), min_size=1, max_size=50))
def test_no_span_ever_holds_more_than_rate_submits(rate: float, window: int, steps: list[float],
                                                   delays: list[float]) -> None:
    pacer, sent, now = Pacer(rate), [], 0.0
    for n, step in enumerate(steps):
        now += step
        batch = look(pacer, now, window)
        if batch:  # the write left the socket later than decided (GIL, full buffer): counted from then
            written = now + delays[n % len(delays)]
            pacer.written(len(batch), written)
            batch = [written] * len(batch)
            now = written
        sent += batch
    assert_span_holds(sent, pacer.limit)
