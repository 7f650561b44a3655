"""The SMPP channel never lets a bind wait on the database: answers and receipts are persisted on the
hand-off thread, each answer is committed as it arrives (not when the whole call returns), and an answered
submission holds its window slot until its outcome is committed, so what a crash can leave in doubt stays
within binds x window. Against the SMSC simulator on a real socket."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

import pytest

from conftest import wait_for
from remessa.channels.base import Callbacks
from remessa.channels.smpp.channel import SmppChannel
from remessa.channels.smpp.settings import SmppSettings
from remessa.model import Accepted, Outcome, OutgoingMessage, Receipt
from remessa.simulators.smsc.server import Smsc, SmscConfig

CONFIG = SmscConfig(system_type="MovileSMSC", sent_receipt_delay=0.01, delivery_receipt_delay=0.02,
                    redeliver_after=0.5, max_submits_per_second=None)
TIMEOUT = 1.0  # response_timeout: every stall below lasts longer


@pytest.fixture
def smsc() -> Iterator[Smsc]:
    with Smsc(CONFIG) as server:
        yield server


def _channel(smsc: Smsc, sink: Callbacks, **overrides: object) -> SmppChannel:
    values: dict[str, object] = dict(port=smsc.port, system_id="remessa", password="secret", source_addr="Loja",
                                     enquire_link=5.0, response_timeout=TIMEOUT, reconnect_min=0.05,
                                     reconnect_max=0.2, allow_short_timers=True, binds=2, window=5, rate=1000.0)
    channel = SmppChannel(SmppSettings(**{**values, **overrides}))
    channel.open(sink)
    return channel


def _sms(count: int) -> list[OutgoingMessage]:
    return [OutgoingMessage(id=i, batch_id=1, destination=f"55119{i:08d}", text=f"m {i}") for i in range(count)]


def _in_background(target: Callable[[], list[Outcome]]) -> tuple[threading.Thread, list[list[Outcome]]]:
    result: list[list[Outcome]] = []
    thread = threading.Thread(target=lambda: result.append(target()), daemon=True)
    thread.start()
    return thread, result


def test_a_receipt_store_that_stalls_past_the_response_timeout_leaves_nothing_in_doubt(smsc: Smsc) -> None:
    gate, stalled = threading.Event(), threading.Event()
    receipts: list[Receipt] = []

    def store(batch: Sequence[Receipt]) -> None:  # the database stops answering for a while
        stalled.set()
        assert gate.wait(30)
        receipts.extend(batch)

    channel = _channel(smsc, Callbacks(store), binds=1)
    try:
        thread, result = _in_background(lambda: channel.send(_sms(60)))
        assert stalled.wait(10)
        # the stall outlasts the response timeout; answers that came meanwhile must not be judged late (the
        # bind goes on reading; it stops submitting once its window waits for the store)
        assert not gate.wait(TIMEOUT * 2)
        gate.set()
        thread.join(30)
        (outcomes,) = result
        assert all(isinstance(o, Accepted) for o in outcomes), [o for o in outcomes if not isinstance(o, Accepted)]
        wait_for(lambda: len({r.provider_id for r in receipts}) == 60, timeout=10)  # all stored, none lost
    finally:
        gate.set()
        channel.close()
    assert smsc.stats().submits == 60  # nothing was sent twice


def test_answers_are_committed_as_they_come_and_an_uncommitted_answer_holds_its_window_slot(smsc: Smsc) -> None:
    gate = threading.Event()
    committed: list[Outcome] = []

    def report(outcomes: Sequence[Outcome]) -> None:
        if committed:  # the first group goes through; then the database stalls
            assert gate.wait(30)
        committed.extend(outcomes)

    channel = _channel(smsc, Callbacks(lambda r: None))
    try:
        thread, result = _in_background(lambda: channel.send(_sms(200), report))
        wait_for(lambda: committed, timeout=10)
        assert thread.is_alive()  # committed while the call is still going: not at its end
        first = len(committed)
        # binds x window answers can wait for their commit (plus the group being written); no more go out
        wait_for(lambda: smsc.stats().accepted >= first + 2 * 5, timeout=10)
        assert not gate.wait(TIMEOUT * 2)  # long past any response timeout, and still held
        assert smsc.stats().submits <= first + 2 * 5 + 2 * 5
        gate.set()
        thread.join(30)
        (outcomes,) = result
        assert all(isinstance(o, Accepted) for o in outcomes)  # the stall made nothing in doubt
        assert sorted(o.message_id for o in committed) == list(range(200))  # each reported once
        assert smsc.stats().submits == 200
    finally:
        gate.set()
        channel.close()


def test_send_returns_only_once_every_outcome_is_committed(smsc: Smsc) -> None:
    committed: list[int] = []
    channel = _channel(smsc, Callbacks(lambda r: None))
    try:
        outcomes = channel.send(_sms(30), lambda group: committed.extend(o.message_id for o in group))
    finally:
        channel.close()
    assert sorted(committed) == [o.message_id for o in outcomes] == list(range(30))
