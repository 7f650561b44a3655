"""The sandbox provider's own behaviour: settings, timing, its state file, crashes and its thread."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from remessa.channels.base import CHANNEL_TYPES, Callbacks
from remessa.channels.embedded import THREAD_NAME, SandboxChannel, SandboxSettings, submission_counts, submissions
from remessa.config import build
from remessa.errors import TemporaryFailure
from remessa.model import Accepted, OutgoingMessage, Receipt, Rejected

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def opened(tmp_path: Path, clock: Clock) -> Iterator[tuple[SandboxChannel, list[Receipt]]]:
    channel = SandboxChannel(SandboxSettings(pump_interval=0), spool=tmp_path, clock=clock)
    receipts: list[Receipt] = []
    channel.open(Callbacks(receipts.extend))
    yield channel, receipts
    channel.close()


def message(id: int, destination: str = "5511999990001", kind: str = "sms") -> OutgoingMessage:
    return OutgoingMessage(id=id, batch_id=3, destination=destination, text="Olá", kind=kind,
                           correlation_id=f"c{id}")


def test_settings_defaults() -> None:
    settings = SandboxSettings()

    assert (settings.sent_delay, settings.delivered_delay) == (0.2, 0.5)
    assert settings.refuse == {"*0202": 202} and settings.fail == {"*0104": 104}
    assert (settings.state, settings.down, settings.pump_interval) == ("", False, 0.05)
    assert CHANNEL_TYPES["sandbox"].settings_class() is SandboxSettings


def test_settings_are_built_from_a_toml_table() -> None:
    problems: list[str] = []
    table = {"sent_delay": 1, "refuse": {"55119*": 213}, "fail": {"*9": 103}, "state": "/x.sqlite"}

    settings = build(SandboxSettings, table, "remessa.toml", "providers.sandbox", problems)

    assert problems == []
    assert settings == SandboxSettings(sent_delay=1.0, refuse={"55119*": 213}, fail={"*9": 103},
                                       state="/x.sqlite")


@pytest.mark.parametrize(("table", "complaint"), [
    ({"refuse": {"*1": 2}}, "refuse['*1']: 2 is not a sent failure code"),
    ({"fail": {"*1": 999}}, "fail['*1']: 999 is not a failure code"),
    ({"sent_delay": -1}, "sent_delay must not be negative"),
])
def test_wrong_settings_are_reported_by_the_config_loader(table: dict[str, object], complaint: str) -> None:
    problems: list[str] = []

    build(SandboxSettings, table, "remessa.toml", "providers.sandbox", problems)

    assert len(problems) == 1 and complaint in problems[0] and "providers.sandbox" in problems[0]


def test_state_lives_in_the_spool_unless_configured(tmp_path: Path) -> None:
    default = SandboxChannel(SandboxSettings(), spool=tmp_path)
    chosen = SandboxChannel(SandboxSettings(state=str(tmp_path / "p" / "s.db")), spool=tmp_path)

    assert default.state_path == tmp_path / "sandbox.sqlite"
    assert chosen.state_path == tmp_path / "p" / "s.db"


def test_receipts_come_at_the_configured_delays(opened: tuple[SandboxChannel, list[Receipt]]) -> None:
    channel, receipts = opened
    [accepted] = channel.send([message(1)])

    assert channel.pump(T0 + timedelta(seconds=0.19)) == 0
    assert channel.pump(T0 + timedelta(seconds=0.2)) == 1
    assert channel.pump(T0 + timedelta(seconds=0.49)) == 0
    assert channel.pump(T0 + timedelta(seconds=0.5)) == 1
    assert channel.pump(T0 + timedelta(days=1)) == 0

    assert isinstance(accepted, Accepted)
    assert [(r.provider_id, r.at) for r in receipts] == [
        (accepted.provider_id, T0 + timedelta(seconds=0.2)),
        (accepted.provider_id, T0 + timedelta(seconds=0.5)),
    ]
    assert receipts[1].raw["deliveredStatus"] == "DELIVERED_SUCCESS"


def test_a_carrier_refusal_has_no_delivery_receipt(tmp_path: Path, clock: Clock) -> None:
    channel = SandboxChannel(SandboxSettings(fail={"*0103": 103}, pump_interval=0), spool=tmp_path,
                             clock=clock)
    receipts: list[Receipt] = []
    channel.open(Callbacks(receipts.extend))
    [accepted] = channel.send([message(1, "5511999990103")])

    channel.pump(T0 + timedelta(days=1))
    channel.close()

    assert isinstance(accepted, Accepted)
    [receipt] = receipts
    assert (receipt.sent_code, receipt.sent_status, receipt.delivered_code) == (103, "REJECTED_BY_CARRIER", None)


def test_whatsapp_messages_are_taken_like_sms(opened: tuple[SandboxChannel, list[Receipt]]) -> None:
    channel, receipts = opened

    outcomes = channel.send([message(1, kind="whatsapp"), message(2, "5511999990202", kind="whatsapp")])
    channel.pump(T0 + timedelta(days=1))

    assert [type(o) for o in outcomes] == [Accepted, Rejected]
    assert [r.delivered_code for r in receipts] == [None, 4]


def test_submissions_are_counted_per_message(opened: tuple[SandboxChannel, list[Receipt]]) -> None:
    channel, _ = opened
    channel.send([message(1), message(2, "5511999990202")])
    channel.send([message(1)])

    assert submissions(channel.state_path, 1) == 2
    assert submissions(channel.state_path, 2) == 1  # a refusal is a submission too
    assert submissions(channel.state_path, 3) == 0
    assert submission_counts(channel.state_path) == {1: 2, 2: 1}


def test_counting_a_missing_state_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        submissions(tmp_path / "nope.sqlite", 1)
    assert not (tmp_path / "nope.sqlite").exists()


def test_the_state_table_keeps_each_submission(opened: tuple[SandboxChannel, list[Receipt]]) -> None:
    channel, _ = opened
    [accepted, _refused] = channel.send([message(1), message(2, "5511999990202")])
    channel.pump(T0 + timedelta(seconds=0.3))

    with sqlite3.connect(channel.state_path) as db:
        rows = db.execute(
            "SELECT provider_id, message_id, batch_id, destination, correlation_id, refused_code,"
            " sent_code, sent_acked, delivered_code, delivered_acked FROM submission ORDER BY seq"
        ).fetchall()
    db.close()

    assert isinstance(accepted, Accepted)
    assert rows == [
        (accepted.provider_id, 1, 3, "5511999990001", "c1", None, 2, 1, 4, 0),
        (None, 2, 3, "5511999990202", "c2", 202, None, 0, None, 0),
    ]


def test_acknowledged_receipts_are_not_emitted_again_after_reopening(tmp_path: Path, clock: Clock) -> None:
    settings = SandboxSettings(pump_interval=0)
    first = SandboxChannel(settings, spool=tmp_path, clock=clock)
    first.open(Callbacks(lambda receipt: None))
    first.send([message(1), message(2)])
    assert first.pump(T0 + timedelta(seconds=0.3)) == 2  # the sent receipts
    first.close()

    again: list[Receipt] = []
    second = SandboxChannel(settings, spool=tmp_path, clock=clock)
    second.open(Callbacks(again.extend))
    second.pump(T0 + timedelta(days=1))
    second.close()

    assert [r.delivered_code for r in again] == [4, 4]


CRASHING = """
import os, sys
from datetime import datetime, UTC
from pathlib import Path
from remessa.model import OutgoingMessage
from remessa.channels.base import Callbacks
from remessa.channels.embedded import SandboxChannel, SandboxSettings

taken = 0

def handle(receipts):
    global taken
    [receipt] = receipts
    print(receipt.provider_id, receipt.delivered_code, flush=True)
    taken += 1
    if taken == 3:
        os._exit(9)  # killed while storing the third receipt: it was never acknowledged

now = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
channel = SandboxChannel(SandboxSettings(pump_interval=0), spool=Path(sys.argv[1]), clock=lambda: now)
channel.open(Callbacks(handle))
channel.send([OutgoingMessage(id=i, batch_id=1, destination="5511999990001", text="x") for i in range(3)])
channel.pump(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
"""


def test_unacknowledged_receipts_come_again_after_a_crash(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(CRASHING), str(tmp_path)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 9, run.stderr
    before = [tuple(line.split()) for line in run.stdout.splitlines()]

    after: list[Receipt] = []
    channel = SandboxChannel(SandboxSettings(pump_interval=0), spool=tmp_path)
    channel.open(Callbacks(after.extend))
    channel.pump(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))
    channel.close()

    assert len(before) == 3
    redelivered = [(r.provider_id, str(r.delivered_code)) for r in after]
    assert redelivered[0] == before[2]  # the one in the handler when the process died
    assert len(redelivered) == 6 - 2 and not set(redelivered) & set(before[:2])


def test_a_provider_that_is_down_refuses_the_whole_call(tmp_path: Path) -> None:
    channel = SandboxChannel(SandboxSettings(down=True, pump_interval=0), spool=tmp_path)
    channel.open(Callbacks(lambda receipt: None))

    with pytest.raises(TemporaryFailure):
        channel.send([message(1)])
    channel.close()

    assert submission_counts(channel.state_path) == {}


def test_a_channel_is_opened_once(opened: tuple[SandboxChannel, list[Receipt]]) -> None:
    channel, _ = opened

    with pytest.raises(RuntimeError):
        channel.open(Callbacks(lambda receipt: None))


def test_the_receipt_thread_delivers_while_the_dispatcher_sends(tmp_path: Path) -> None:
    settings = SandboxSettings(sent_delay=0, delivered_delay=0, pump_interval=0.01)
    channel = SandboxChannel(settings, spool=tmp_path)  # real clock, real thread
    receipts: list[Receipt] = []
    lock = threading.Lock()

    def on_receipt(batch: Sequence[Receipt]) -> None:
        with lock:
            receipts.extend(batch)

    channel.open(Callbacks(on_receipt))
    assert THREAD_NAME in {t.name for t in threading.enumerate()}
    accepted = []
    for chunk in range(10):
        accepted += channel.send([message(chunk * 20 + i) for i in range(20)])

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with lock:
            if len(receipts) >= 400:
                break
        time.sleep(0.01)
    channel.close()

    assert THREAD_NAME not in {t.name for t in threading.enumerate()}
    ids = {o.provider_id for o in accepted if isinstance(o, Accepted)}
    assert len(ids) == 200
    assert sorted((r.provider_id, r.delivered_code or 0) for r in receipts) == sorted(
        (pid, level) for pid in ids for level in (0, 4)
    )
