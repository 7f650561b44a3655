"""The store against SQLite and a real PostgreSQL server: the same behaviour on both."""

from __future__ import annotations

import dataclasses
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from remessa.model import Accepted, BatchState, Inbound, InDoubt, Receipt, Rejected, Status
from remessa.results.report import COLUMNS, report_lines
from remessa.store import Store


def _pg_bin() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a Unix socket (run as the postgres user when we are root)."""
    bindir = _pg_bin()
    if bindir is None:
        pytest.fail("no PostgreSQL server installed: run tests/system-packages.sh")
    base = Path(tempfile.mkdtemp(prefix="remessa-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        for path in (base, sock):
            os.chown(path, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    run = lambda *args: subprocess.run([*prefix, *args], check=True, capture_output=True)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    run(str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
        f"-k {sock} -c listen_addresses='' -p 54329", "start")
    try:
        run(str(bindir / "createdb"), "-h", str(sock), "-p", "54329", "-U", "postgres", "remessa")
        yield f"postgresql+psycopg://postgres@/remessa?host={sock}&port=54329"
    finally:
        subprocess.run([*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    store = Store(url)
    store.migrate()
    yield store
    if request.param == "postgresql":
        with store.db.engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE receipts, inbound, blocklist, message_parts, messages, batches"
                                 " RESTART IDENTITY CASCADE")
    store.close()


def _batch(store: Store, rows: int, name: str = "a.txt") -> int:
    batch_id = store.create_batch(profile="default", name=name, provider="sandbox", state=BatchState.QUEUED,
                                  received_at=1.0)
    store.add_messages(batch_id, (
        (n, Status.QUEUED.value, f"55119876{n:05d}", f"texto {n}", f"c{n}", "", "", f"raw {n}", "", 0)
        for n in range(1, rows + 1)
    ))
    return batch_id


def test_rows_are_stored_in_order_with_progress(db: Store) -> None:
    batch_id = _batch(db, 250)
    batch = db.batch(batch_id)
    assert (batch.rows, batch.last_line) == (250, 250)
    assert [m.line for m in db.messages(batch_id)] == list(range(1, 251))
    assert db.counts(batch_id) == {"QUEUED": 250}


def test_claims_never_hand_the_same_message_out_twice(db: Store) -> None:
    batch_id = _batch(db, 400)
    claimed: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        while batch := db.claim(batch_id, 7, 2.0):
            with lock:
                claimed.extend(m.id for m in batch)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 400
    assert db.counts(batch_id) == {"SUBMITTING": 400}


def test_outcomes_receipts_and_early_receipts(db: Store) -> None:
    batch_id = _batch(db, 3)
    first, second, third = db.claim(batch_id, 3, 2.0)
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    # A delivery receipt that arrives before the submit answer is committed is kept, then matched.
    assert not db.record_receipts([Receipt("ABC-1", at, sent_code=2, sent_status="SENT_SUCCESS",
                                         delivered_code=4, delivered_status="DELIVERED_SUCCESS")], 3.0)
    db.record_outcomes(batch_id, [
        Accepted(first.id, "abc-1"), Accepted(second.id, "abc-2", parts=2),
        Rejected(third.id, "202 INVALID_DESTINATION_NUMBER", code=202),
    ], 3.0)
    assert db.record_receipts([Receipt("abc-2", at, sent_code=2, sent_status="SENT_SUCCESS")], 4.0)
    by_line = {m.line: m for m in db.messages(batch_id)}
    assert (by_line[1].status, by_line[1].delivered_code) == (Status.DELIVERED, 4)
    assert (by_line[2].status, by_line[2].parts) == (Status.SENT, 2)
    assert (by_line[3].status, by_line[3].sent_code, by_line[3].sent_status) == (
        Status.REJECTED, 202, "INVALID_DESTINATION_NUMBER")
    # A late sent-level receipt never moves a delivered message back.
    db.record_receipts([Receipt("abc-1", at, sent_code=2, sent_status="SENT_SUCCESS")], 5.0)
    assert [m.status for m in db.messages(batch_id)][0] == Status.DELIVERED


def test_in_flight_policies_after_a_crash(db: Store) -> None:
    retry = _batch(db, 2, "r.txt")
    unknown = _batch(db, 2, "u.txt")
    db.update_batch(unknown, in_flight="unknown")
    db.claim(retry, 2, 2.0)
    db.claim(unknown, 2, 2.0)
    assert db.recover_in_flight(3.0) == {retry: ("retry", 2), unknown: ("unknown", 2)}
    assert db.counts(retry) == {"QUEUED": 2} and db.counts(unknown) == {"UNKNOWN": 2}
    assert all(m.reason.startswith("in_flight_unknown:") for m in db.messages(unknown))


def test_in_doubt_outcomes_follow_the_batch_policy(db: Store) -> None:
    retry = _batch(db, 1, "r.txt")
    unknown = _batch(db, 1, "u.txt")
    db.update_batch(unknown, in_flight="unknown")
    for batch_id in (retry, unknown):
        (message,) = db.claim(batch_id, 1, 2.0)
        db.record_outcomes(batch_id, [InDoubt(message.id, "connection lost before submit_sm_resp")], 3.0)
    (again,) = list(db.messages(retry))
    (lost,) = list(db.messages(unknown))
    assert again.status == Status.QUEUED
    assert again.reason == "in_flight_retried: connection lost before submit_sm_resp; submitted again"
    assert lost.status == Status.UNKNOWN and lost.reason.startswith("in_flight_unknown: connection lost")


def _delivered(pid: str, part: str, code: int = 4) -> Receipt:
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    name = "DELIVERED_SUCCESS" if code == 4 else "NOT_DELIVERED"
    return Receipt(pid, at, sent_code=2, sent_status="SENT_SUCCESS", delivered_code=code,
                   delivered_status=name, raw={"part_id": part})


def test_a_multipart_message_is_delivered_when_all_its_parts_are(db: Store) -> None:
    batch_id = _batch(db, 2)
    whole, broken = db.claim(batch_id, 2, 2.0)
    db.record_outcomes(batch_id, [Accepted(whole.id, "m1", parts=3), Accepted(broken.id, "m2", parts=2)], 3.0)
    status = lambda: [m.status for m in db.messages(batch_id)]  # noqa: E731
    db.record_receipts([_delivered("m1", "m1")], 4.0)
    db.record_receipts([_delivered("m1", "m1")], 4.0)  # a repeated receipt counts once
    db.record_receipts([_delivered("m1", "m1-b")], 4.0)
    assert status()[0] == Status.SENT
    db.record_receipts([_delivered("m1", "m1-c")], 5.0)
    assert status()[0] == Status.DELIVERED
    db.record_receipts([_delivered("m2", "m2-b", code=104)], 4.0)
    db.record_receipts([_delivered("m2", "m2")], 5.0)  # a later good part does not undo the failure
    assert status()[1] == Status.UNDELIVERED
    assert [m.reason for m in db.messages(batch_id)][1] == "provider: 104 NOT_DELIVERED"


def test_receipts_read_together_are_applied_in_order_in_one_transaction(db: Store) -> None:
    batch_id = _batch(db, 2)
    first, second = db.claim(batch_id, 2, 2.0)
    db.record_outcomes(batch_id, [Accepted(first.id, "p1", parts=2), Accepted(second.id, "p2")], 3.0)
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    together = [
        Receipt("p2", at, sent_code=2, sent_status="SENT_SUCCESS"),
        _delivered("p1", "p1"),
        Receipt("nobody", at, sent_code=2, sent_status="SENT_SUCCESS"),  # kept for later matching
        _delivered("p2", "p2"),
        _delivered("p1", "p1-b"),  # the second part, read in the same batch as the first
    ]
    assert db.record_receipts(together, 4.0) == 4
    assert [m.status for m in db.messages(batch_id)] == [Status.DELIVERED, Status.DELIVERED]
    assert db.batch(batch_id).changed_at == 4.0


def test_a_batch_of_receipts_that_cannot_be_stored_leaves_nothing_behind(db: Store) -> None:
    batch_id = _batch(db, 1)
    (only,) = db.claim(batch_id, 1, 2.0)
    db.record_outcomes(batch_id, [Accepted(only.id, "q1")], 3.0)
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    broken = Receipt("q1", at, sent_code=2, sent_status="SENT_SUCCESS", raw={"bad": object()})
    broken = dataclasses.replace(broken, at=None)  # type: ignore[arg-type]  # fails inside the transaction
    with pytest.raises(AttributeError):
        db.record_receipts([_delivered("q1", "q1"), broken], 4.0)
    assert [m.status for m in db.messages(batch_id)] == [Status.ACCEPTED]  # the first was rolled back too


def test_a_later_parts_receipt_that_came_before_the_submit_answer_still_counts(db: Store) -> None:
    batch_id = _batch(db, 1)
    (message,) = db.claim(batch_id, 1, 2.0)
    # parts 2 and 3 were receipted (under their own ids) before the last part's answer was committed
    assert db.record_receipts([_delivered("pt-b", "pt-b"), _delivered("pt-c", "pt-c")], 3.0) == 0
    db.record_outcomes(batch_id, [Accepted(message.id, "pt-a", parts=3, part_ids=("pt-a", "pt-b", "pt-c"))], 4.0)
    assert [m.status for m in db.messages(batch_id)] == [Status.SENT]  # two of three parts delivered
    db.record_receipts([_delivered("pt-a", "pt-a")], 5.0)
    assert [m.status for m in db.messages(batch_id)] == [Status.DELIVERED]


def test_a_later_parts_receipt_under_its_own_id_matches_after_a_restart(db: Store) -> None:
    batch_id = _batch(db, 1)
    (message,) = db.claim(batch_id, 1, 2.0)
    db.record_outcomes(batch_id, [Accepted(message.id, "Pa-1", parts=3, part_ids=("Pa-1", "Pa-2", "Pa-3"))], 3.0)
    again = Store(str(db.db.url))  # another process, later: nothing of the channel's memory survives
    try:
        # each receipt names only its own part's id, as an SMSC sends them
        assert again.record_receipts([_delivered("pa-3", "pa-3"), _delivered("pa-2", "pa-2")], 4.0) == 2
        assert [m.status for m in again.messages(batch_id)] == [Status.SENT]  # part 1 not delivered yet
        assert again.record_receipts([_delivered("pa-1", "pa-1")], 5.0) == 1
        assert [m.status for m in again.messages(batch_id)] == [Status.DELIVERED]
    finally:
        again.close()


def test_a_retry_of_a_message_in_doubt_that_is_refused_is_unknown_not_rejected(db: Store) -> None:
    batch_id = _batch(db, 3)
    first = db.claim(batch_id, 3, 2.0)
    db.record_outcomes(batch_id, [InDoubt(m.id, "connection to smsc:2444 lost before submit_sm_resp")
                                  for m in first[:2]] + [Accepted(first[2].id, "ok-3")], 3.0)
    again = db.claim(batch_id, 3, 4.0)  # in_flight = retry: both are queued again
    assert len(again) == 2
    db.record_outcomes(batch_id, [Rejected(again[0].id, "ESME_RINVDSTADR", permanent=True)], 5.0)
    db.record_outcomes(batch_id, [Rejected(again[1].id, "ESME_RSYSERR", permanent=False)], 5.0, max_attempts=2)
    one, two, three = db.messages(batch_id)
    assert (one.status, two.status, three.status) == (Status.UNKNOWN, Status.UNKNOWN, Status.ACCEPTED)
    assert one.reason == ("in_flight_unknown: connection to smsc:2444 lost before submit_sm_resp; the retry was"
                          " refused (ESME_RINVDSTADR), so the first attempt may or may not have been sent")
    assert "ESME_RSYSERR (refused 2 times" in two.reason and two.reason.startswith("in_flight_unknown:")
    # a message refused on its first attempt is simply REJECTED
    batch_id = _batch(db, 1, name="b.txt")
    (fresh,) = db.claim(batch_id, 1, 6.0)
    db.record_outcomes(batch_id, [Rejected(fresh.id, "202 INVALID_DESTINATION_NUMBER", code=202)], 6.0)
    refused = [(m.status, m.reason) for m in db.messages(batch_id)]
    assert refused == [(Status.REJECTED, "202 INVALID_DESTINATION_NUMBER")]


def test_a_receipt_naming_the_id_in_another_form_matches_by_its_alias(db: Store) -> None:
    batch_id = _batch(db, 3)
    hexed, uuid, early = db.claim(batch_id, 3, 2.0)
    uuid_id = "7f3c0a2e-6b1e-4c2d-9a3f-0000000000aa"
    db.record_outcomes(batch_id, [Accepted(hexed.id, "1A2B"), Accepted(uuid.id, uuid_id)], 3.0)
    # decimal for the hex id, and the UUID without its dashes: the channel gives the provider's form as alias
    assert db.record_receipts([dataclasses.replace(_delivered("6699", "6699"), alias="1a2b"),
                               dataclasses.replace(_delivered("7f3c0a2e6b1e4c2d9a3f0000000000aa", "x"), alias=uuid_id)],
                              4.0) == 2
    # one that came before its submit answer, in decimal, is matched when the hex id is recorded
    assert db.record_receipts([dataclasses.replace(_delivered("48879", "48879"), alias="beef")], 4.0) == 0
    db.record_outcomes(batch_id, [Accepted(early.id, "beef")], 5.0)
    assert [m.status for m in db.messages(batch_id)] == [Status.DELIVERED] * 3


def test_a_receipt_never_changes_a_message_whose_id_is_another(db: Store) -> None:
    """Decimal ids: the receipt for 1544 comes before 1544's submit answer is stored, while message 608
    (0x608 = 1544) is waiting for its own receipt. It waits, and goes to 1544 once that is recorded."""
    batch_id = _batch(db, 2)
    first, second = db.claim(batch_id, 2, 2.0)
    db.record_outcomes(batch_id, [Accepted(first.id, "608")], 3.0)
    undelivered = _delivered("1544", "1544", code=104)
    assert db.record_receipts([undelivered], 4.0) == 0  # no alias: decimal ids are read as they are
    assert [m.status for m in db.messages(batch_id)] == [Status.ACCEPTED, Status.SUBMITTING]
    db.record_outcomes(batch_id, [Accepted(second.id, "1544")], 5.0)
    assert db.record_receipts([_delivered("608", "608")], 6.0) == 1
    assert [(m.provider_id, m.status) for m in db.messages(batch_id)] == [
        ("608", Status.DELIVERED), ("1544", Status.UNDELIVERED)]
    # an alias never wins over the id itself: "1544" names a message now, so its receipt goes there (and
    # changes nothing, UNDELIVERED is final), never to 608
    late = dataclasses.replace(_delivered("1544", "1544"), alias="608")
    assert db.record_receipts([late], 7.0) == 1
    assert [(m.provider_id, m.status) for m in db.messages(batch_id)] == [
        ("608", Status.DELIVERED), ("1544", Status.UNDELIVERED)]


def test_an_opt_out_blocks_the_queued_messages_to_that_number(db: Store) -> None:
    batch_id = _batch(db, 3)
    other = db.create_batch(profile="marketing", name="b.txt", provider="sandbox", state=BatchState.QUEUED,
                            received_at=1.0)
    db.add_messages(other, [(1, Status.QUEUED.value, "5511987600001", "oi", "", "", "", "raw", "", 0)])
    [sent] = db.claim(batch_id, 1, 2.0)  # line 1 is already on its way: an opt-out cannot stop it
    stop = Inbound(source="+55 11 98760-0002", destination="28000", text="Sair",
                   at=datetime.fromtimestamp(5.0, UTC))

    assert db.record_inbound(stop, "sandbox", ["default"], "5511987600002", 5.0)

    rows = {m.line: m for m in db.messages(batch_id)}
    assert rows[2].status == Status.BLOCKED
    assert rows[2].reason == "blocked: 5511987600002 opted out (replied 'Sair') before it was sent"
    assert (rows[1].status, rows[3].status) == (Status.SUBMITTING, Status.QUEUED)
    assert [m.status for m in db.messages(other)] == [Status.QUEUED]  # another profile's list is its own
    assert db.blocklist("default") == {"5511987600002"} and db.blocklist("marketing") == set()
    assert db.batch(batch_id).changed_at == 5.0
    assert sent.line == 1


def test_a_temporary_refusal_is_retried_up_to_max_attempts_then_rejected(db: Store) -> None:
    batch_id = _batch(db, 1)
    for attempt in range(1, 4):
        [message] = db.claim(batch_id, 1, float(attempt))
        assert message.attempts == attempt
        db.record_outcomes(batch_id, [Rejected(message.id, "ESME_RSYSERR", permanent=False)], float(attempt),
                           max_attempts=3)
    [row] = db.messages(batch_id)
    assert row.status == Status.REJECTED
    assert row.reason == "ESME_RSYSERR (refused 3 times; not tried again)"
    assert db.claim(batch_id, 1, 9.0) == []


def test_an_invalid_row_keeps_an_over_long_destination_and_correlation_id(db: Store) -> None:
    batch_id = db.create_batch(profile="default", name="long.txt", provider="sandbox", state=BatchState.QUEUED,
                               received_at=1.0)
    destination, correlation = "5511" + "9" * 196, "c" * 300  # both refused by validation, both kept as written
    db.add_messages(batch_id, [
        (1, Status.INVALID.value, destination, "oi", correlation, "", "", "raw", "invalid_destination: too long", 0),
        (2, Status.QUEUED.value, "5511987654321", "oi", "c2", "", "", "raw 2", "", 0),
    ])
    rows = list(db.messages(batch_id))
    assert [(m.destination, m.correlation_id) for m in rows] == [(destination, correlation), ("5511987654321", "c2")]


def test_retention_deletes_what_settled_long_ago_and_keeps_the_batch_row(db: Store) -> None:
    old, recent = _batch(db, 2, "old.txt"), _batch(db, 1, "recent.txt")
    for batch_id, settled in ((old, 1000.0), (recent, 2500.0)):
        claimed = db.claim(batch_id, 5, 2.0)
        db.record_outcomes(batch_id, [Accepted(m.id, f"p{batch_id}-{m.id}", parts=2,
                                               part_ids=(f"p{batch_id}-{m.id}", f"q{batch_id}-{m.id}"))
                                      for m in claimed], 3.0)
        db.record_receipts([_delivered(f"p{batch_id}-{m.id}", f"p{batch_id}-{m.id}") for m in claimed], 4.0)
        db.update_batch(batch_id, state=BatchState.SETTLED, settled_at=settled)

    assert db.prune(before=2000.0, now=3000.0) == {old: 2}
    assert list(db.messages(old)) == [] and len(list(db.messages(recent))) == 1
    assert db.batch(old).pruned_at == 3000.0 and db.batch(recent).pruned_at is None
    assert db.name_taken("default", "old.txt")  # a re-drop of the name is still recognised
    assert db.record_receipts([_delivered(f"q{old}-1", f"q{old}-1")], 5.0) == 0  # its part ids went too
    assert db.prune(before=2000.0, now=3100.0) == {}  # once


def test_a_failure_receipt_keeps_the_note_that_the_message_went_twice(db: Store) -> None:
    batch_id = _batch(db, 2)
    for message in db.claim(batch_id, 2, 2.0):
        db.record_outcomes(batch_id, [InDoubt(message.id, "connection lost before submit_sm_resp")], 3.0)
    first, second = db.claim(batch_id, 2, 4.0)
    db.record_outcomes(batch_id, [Accepted(first.id, "aa01"), Accepted(second.id, "aa02")], 5.0)
    db.record_receipts([_delivered("aa01", "aa01", code=104), _delivered("aa02", "aa02")], 6.0)
    undelivered, delivered = db.messages(batch_id)
    retried = "in_flight_retried: connection lost before submit_sm_resp; submitted again"
    assert (undelivered.status, undelivered.reason) == (Status.UNDELIVERED, f"provider: 104 NOT_DELIVERED; {retried}")
    assert (delivered.status, delivered.reason) == (Status.DELIVERED, retried)
    assert db.reason_counts(batch_id) == {"provider": 1, "in_flight_retried": 2}


def test_rows_left_without_a_receipt_say_so_after_any_note(db: Store) -> None:
    batch_id = _batch(db, 3)
    a, b, c = db.claim(batch_id, 3, 2.0)
    db.record_outcomes(batch_id, [Accepted(a.id, "x1"), Accepted(b.id, "x2"), Accepted(c.id, "x3")], 3.0)
    db.record_receipts([_delivered("x3", "x3")], 4.0)
    assert db.no_receipt(batch_id, "no_receipt: no delivery receipt within 24 h") == 2
    assert [(m.status, m.reason) for m in db.messages(batch_id)] == [
        (Status.ACCEPTED, "no_receipt: no delivery receipt within 24 h"),
        (Status.ACCEPTED, "no_receipt: no delivery receipt within 24 h"), (Status.DELIVERED, "")]
    assert db.reason_counts(batch_id) == {"no_receipt": 2}


def test_the_report_never_shows_a_delivery_before_its_submit(db: Store) -> None:
    """Receipt dates have minute precision: a message submitted at 12:00:40 and delivered "at 12:00"."""
    batch_id = _batch(db, 1)
    submitted = datetime(2026, 11, 23, 12, 0, 40, tzinfo=UTC).timestamp()
    (message,) = db.claim(batch_id, 1, submitted)
    db.record_outcomes(batch_id, [Accepted(message.id, "m1")], submitted + 0.2)
    db.record_receipts([_delivered("m1", "m1")], submitted + 1.0)
    (line,) = report_lines(db, batch_id, ZoneInfo("America/Sao_Paulo"))
    row = dict(zip(COLUMNS, line, strict=True))
    assert row["submitted_at"] == row["sent_at"] == row["delivered_at"] == "2026-11-23T09:00:40-03:00"


def test_a_whatsapp_message_delivered_then_read_is_read(db: Store) -> None:
    batch_id = _batch(db, 3)
    first, second, early = db.claim(batch_id, 3, 2.0)
    db.record_outcomes(batch_id, [Accepted(first.id, "wa1"), Accepted(second.id, "wa2")], 3.0)
    at = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    read = dataclasses.replace(_delivered("wa1", "wa1"), read_at=at)
    db.record_receipts([_delivered("wa1", "wa1")], 4.0)
    assert db.record_receipts([read], 5.0) == 1  # delivered, then read: DELIVERED is not the end for WhatsApp
    # a read whose delivery receipt never came still says it was delivered; one before its id is known waits
    db.record_receipts([Receipt("wa2", at, read_at=at), Receipt("wa3", at, read_at=at)], 6.0)
    db.record_outcomes(batch_id, [Accepted(early.id, "wa3")], 7.0)
    assert [m.status for m in db.messages(batch_id)] == [Status.READ] * 3
    assert db.awaiting(batch_id, reads=True) == 0 and db.counts(batch_id) == {"READ": 3}
