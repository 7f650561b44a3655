"""SMPP benchmark: the SmppChannel bind pool against the SMSC simulator in another process, and receipts persisted.

Run: .venv/bin/python bench/smpp.py [--seconds 60] [--uncapped-seconds 15] [--receipts 100000]
- (a) capped: SmppChannel, 4 binds x window 10 x 80/s, against a simulator that throttles above 80/s per bind,
  sending 500-message chunks through channel.send() (the dispatcher's default chunk) for --seconds.
  Target: achieved >= 99 % of 320/s, the simulator never seeing more than 10 outstanding per bind.
- (b) uncapped: the same pool with rate 100,000/s against an unthrottled simulator, against a baseline measured
  in the same run on the same simulator process: a minimal client (4 raw sockets, window 10 each, PDUs from
  remessa.sandbox.pdu) that shows the simulator's own ceiling. Receipts off on both sides. Target >= 3,000/s.
- (c) receipts: N DELIVRD receipts (parsed from simulator-built deliver_sm bodies, matched to N ACCEPTED
  messages in a temporary SQLite store) applied with Store.record_receipt from 4 threads (one per bind), the
  daemon's path; baseline: the same four statements per receipt through raw sqlite3, one transaction each,
  on a copy of the same database. Target >= 5,000 receipts/s; below it, a profile of where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from remessa.channels import Accepted, OutgoingMessage, Receipt
from remessa.channels.smpp import SmppChannel, SmppSettings
from remessa.channels.smpp_wire import decode_deliver
from remessa.channels.smpp_receipt import receipt_from_deliver
from remessa.sandbox import pdu
from remessa.sandbox.pdu import Pdu
from remessa.status import BatchState, Status
from remessa.store import Store

BINDS, WINDOW, RATE = 4, 10, 80.0
CHUNK = 500
TEXT = "Seu codigo de verificacao e 482913. Nao compartilhe."
SYSTEM_ID, PASSWORD = "remessa", "secret"

SIMULATOR = r"""
import json, sys
from remessa.sandbox.smsc import Smsc, SmscConfig
smsc = Smsc(SmscConfig(system_id="remessa", password="secret", max_submits_per_second=json.loads(sys.argv[1])))
smsc.faults.response_delay = float(sys.argv[2])
smsc.start()
print(json.dumps({"port": smsc.port}), flush=True)
for line in sys.stdin:
    if line.strip() != "stats":
        break
    s = smsc.stats()
    print(json.dumps({"submits": s.submits, "accepted": s.accepted, "throttled": s.throttled,
                      "deliver_sm_sent": s.deliver_sm_sent, "deliver_sm_acked": s.deliver_sm_acked,
                      "max_outstanding": s.max_outstanding}), flush=True)
smsc.stop()
"""


class Simulator:
    """The sandbox SMSC in a child process; `stats()` asks it for its counters over a pipe."""

    def __init__(self, max_submits_per_second: float | None, response_delay: float = 0.0) -> None:
        args = [json.dumps(max_submits_per_second), str(response_delay)]
        self._proc = subprocess.Popen([sys.executable, "-c", SIMULATOR, *args],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self._read()["port"])

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        return dict(json.loads(self._proc.stdout.readline()))

    def stats(self) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write("stats\n")
        self._proc.stdin.flush()
        return self._read()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=30)


def outgoing(first: int, count: int) -> list[OutgoingMessage]:
    return [OutgoingMessage(n, 1, f"5511{900000000 + n % 100_000_000}", TEXT) for n in range(first, first + count)]


def drive_channel(port: int, rate: float, seconds: float, receipts: bool, chunk: int = CHUNK) -> dict[str, Any]:
    """Send chunks through SmppChannel.send() for `seconds`; accepted messages per second of wall time."""
    settings = SmppSettings(port=port, system_id=SYSTEM_ID, password=PASSWORD, binds=BINDS, window=WINDOW,
                            rate=rate, registered_delivery=receipts)
    channel = SmppChannel(settings)
    taken = [0]
    channel.open(lambda receipts: taken.__setitem__(0, taken[0] + len(receipts)))
    accepted = other = sent = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        outcomes = channel.send(outgoing(sent, chunk))
        sent += chunk
        ok = sum(isinstance(o, Accepted) for o in outcomes)
        accepted, other = accepted + ok, other + len(outcomes) - ok
    elapsed = time.perf_counter() - started
    channel.close()
    return {"accepted": accepted, "other": other, "seconds": elapsed, "rate": accepted / elapsed,
            "receipts": taken[0]}


def blast(port: int, seconds: float) -> dict[str, Any]:
    """The minimal client: BINDS raw sockets, each keeping WINDOW submit_sm outstanding for `seconds`."""
    ready = threading.Barrier(BINDS + 1)
    results: list[int] = []
    lock = threading.Lock()

    def one_bind() -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(pdu.encode(Pdu(pdu.BIND_TRANSCEIVER, 1, fields={
            "system_id": SYSTEM_ID, "password": PASSWORD, "interface_version": 0x34})))
        frame = pdu.read_frame(sock)
        assert frame is not None and pdu.decode(frame).status == pdu.ESME_ROK, "bind refused"
        template = bytearray(pdu.encode(Pdu(pdu.SUBMIT_SM, 0, fields={
            "source_addr_ton": 1, "source_addr_npi": 1, "dest_addr_ton": 1, "dest_addr_npi": 1,
            "destination_addr": "5511987654321", "validity_period": "000001000000000R",
            "short_message": TEXT.encode("ascii")})))
        ready.wait()
        deadline = time.perf_counter() + seconds
        sequence, outstanding, ok = 2, 0, 0
        while True:
            while outstanding < WINDOW and time.perf_counter() < deadline:
                struct.pack_into(">I", template, 12, sequence)
                sock.sendall(template)
                sequence, outstanding = sequence + 1, outstanding + 1
            if outstanding == 0:
                break
            frame = pdu.read_frame(sock)
            assert frame is not None
            outstanding -= 1
            ok += pdu.HEADER.unpack_from(frame)[2] == pdu.ESME_ROK
        sock.sendall(pdu.encode(Pdu(pdu.UNBIND, sequence)))
        while (frame := pdu.read_frame(sock)) is not None and pdu.HEADER.unpack_from(frame)[1] != pdu.UNBIND | pdu.RESP:
            pass
        sock.close()
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=one_bind, name=f"blast-{n}") for n in range(BINDS)]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"accepted": sum(results), "seconds": elapsed, "rate": sum(results) / elapsed}


def outstanding_since(before: dict[str, Any], after: dict[str, Any]) -> list[int]:
    """Max outstanding of each connection the simulator accepted between two stats snapshots."""
    return [v for k, v in after["max_outstanding"].items() if k not in before["max_outstanding"]]


def capped(seconds: float, delay: float, chunk: int) -> None:
    with Simulator(max_submits_per_second=RATE, response_delay=delay) as sim:
        ours = drive_channel(sim.port, RATE, seconds, receipts=True, chunk=chunk)
        stats = sim.stats()
    target = BINDS * RATE
    print(f"(a) capped {BINDS} x {RATE:g}/s, window {WINDOW}, {chunk}-message chunks, simulator answering after {delay * 1000:g} ms, "
          f"{ours['seconds']:.1f}s: "
          f"{ours['accepted']:,} accepted ({ours['other']} other outcomes), {ours['rate']:.1f} submits/s = "
          f"{100 * ours['rate'] / target:.2f} % of {target:g}/s (target >= 99 %)")
    print(f"    simulator: {stats['submits']:,} submits, {stats['throttled']} throttled, max outstanding per bind "
          f"{sorted(stats['max_outstanding'].values())} (target <= {WINDOW}); "
          f"{ours['receipts']:,} receipts handed to on_receipt")


def uncapped(seconds: float) -> None:
    with Simulator(max_submits_per_second=None) as sim:
        s0 = sim.stats()
        baseline = blast(sim.port, seconds)
        s1 = sim.stats()
        ours = drive_channel(sim.port, 100_000.0, seconds, receipts=False)
        s2 = sim.stats()
    print(f"(b) uncapped {BINDS} binds x window {WINDOW}, {seconds:g}s each, receipts off:")
    print(f"    baseline raw client (simulator ceiling): {baseline['accepted']:,} in {baseline['seconds']:.1f}s = "
          f"{baseline['rate']:,.0f} submits/s, max outstanding {outstanding_since(s0, s1)}")
    print(f"    SmppChannel.send() in {CHUNK}-message chunks: {ours['accepted']:,} in {ours['seconds']:.1f}s = "
          f"{ours['rate']:,.0f} submits/s, max outstanding {outstanding_since(s1, s2)}, throttled "
          f"{s2['throttled']}, other outcomes {ours['other']}")
    print(f"    ratio channel/ceiling {ours['rate'] / baseline['rate']:.2f}; channel {ours['rate']:,.0f}/s "
          f"(target >= 3,000/s)")


# --- (c) receipts -------------------------------------------------------------------------------------------

def prepare_store(path: Path, count: int) -> list[str]:
    """A store with one batch of `count` ACCEPTED messages; returns their provider ids."""
    store = Store(f"sqlite:///{path}")
    store.migrate()
    batch_id = store.create_batch(profile="bench", name="bench.txt", provider="smpp", state=BatchState.QUEUED,
                                  received_at=time.time())
    store.add_messages(batch_id, ((n, Status.QUEUED, f"5511{900000000 + n}", TEXT, f"c{n}", "", "{}", "", "", 0)
                                  for n in range(1, count + 1)))
    with store._write() as conn:  # noqa: SLF001 - a bench shortcut past claim/record_outcomes
        conn.exec_driver_sql("UPDATE messages SET status = 'ACCEPTED', attempts = 1,"
                             " provider_id = lower(printf('%08x-6b1e-4c2d-9a3f-%012x', id, id * 7919))")
    with store.reader.connect() as conn:
        ids = [row[0] for row in conn.exec_driver_sql("SELECT provider_id FROM messages ORDER BY id")]
    store.close()
    return ids


def build_receipts(ids: list[str]) -> list[Receipt]:
    """DELIVRD receipts as the SMPP channel makes them: simulator-encoded deliver_sm, decoded and parsed."""
    now = datetime.now(UTC)
    out = []
    for pid in ids:
        fields, tlvs = pdu.receipt(pid, "DELIVRD", now, now, handset="5511987654321", sender="", sample=b"Seu codigo",
                                   vendor_nul=False)
        body = pdu.encode(Pdu(pdu.DELIVER_SM, 1, fields=fields, tlvs=tlvs))[16:]
        deliver = decode_deliver(body)  # esm_class, short_message, tlvs first, whatever else it carries
        receipt = receipt_from_deliver(deliver[0], deliver[1], deliver[2], now)
        assert receipt is not None
        out.append(receipt)
    return out


def apply_with_store(path: Path, receipts: list[Receipt], threads: int) -> float:
    store = Store(f"sqlite:///{path}")
    shares = [receipts[n::threads] for n in range(threads)]
    workers = [threading.Thread(target=lambda share: [store.record_receipt(r, time.time()) for r in share],
                                args=(share,), name=f"receipts-{n}") for n, share in enumerate(shares)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    with store.reader.connect() as conn:
        delivered = conn.exec_driver_sql("SELECT count(*) FROM messages WHERE status = 'DELIVERED'").scalar()
        matched = conn.exec_driver_sql("SELECT count(*) FROM receipts WHERE message_id IS NOT NULL").scalar()
    store.close()
    assert delivered == matched == len(receipts), (delivered, matched)
    return elapsed


def apply_raw(path: Path, receipts: list[Receipt]) -> float:
    """The same four statements per receipt through sqlite3, one BEGIN IMMEDIATE transaction each."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    started = time.perf_counter()
    for r in receipts:
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        mid, _, bid = db.execute("SELECT id, status, batch_id FROM messages WHERE provider_id = ?"
                                 " ORDER BY id DESC LIMIT 1", (r.provider_id,)).fetchone()
        db.execute("INSERT INTO receipts (message_id, provider_id, at, sent_code, sent_status, delivered_code,"
                   " delivered_status, raw, received_at) VALUES (?,?,?,?,?,?,?,?,?)",
                   (mid, r.provider_id, r.at.timestamp(), r.sent_code, r.sent_status, r.delivered_code,
                    r.delivered_status, json.dumps(r.raw, default=str), now))
        db.execute("UPDATE messages SET sent_code=?, sent_status=?, sent_at=?, delivered_code=?, delivered_status=?,"
                   " delivered_at=?, status=? WHERE id=?", (r.sent_code, r.sent_status, r.at.timestamp(),
                                                            r.delivered_code, r.delivered_status,
                                                            r.at.timestamp(), "DELIVERED", mid))
        db.execute("UPDATE batches SET changed_at=? WHERE id=?", (now, bid))
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return elapsed


def profile_store(path: Path, receipts: list[Receipt]) -> str:
    store = Store(f"sqlite:///{path}")
    profiler = cProfile.Profile()
    profiler.enable()
    for r in receipts:
        store.record_receipt(r, time.time())
    profiler.disable()
    store.close()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    total = sum(entry[2] for entry in stats.stats.values())  # type: ignore[attr-defined]
    in_sqlite = sum(entry[2] for key, entry in stats.stats.items()  # type: ignore[attr-defined]
                    if "sqlite3." in key[2])
    in_sqlalchemy = sum(entry[2] for key, entry in stats.stats.items()  # type: ignore[attr-defined]
                        if "sqlalchemy" in key[0])
    stats.sort_stats("tottime").print_stats(12)
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    summary = (f"{total:.2f}s profiled: {in_sqlite:.2f}s ({100 * in_sqlite / total:.0f} %) inside sqlite3 "
               f"(execute, commit), {in_sqlalchemy:.2f}s ({100 * in_sqlalchemy / total:.0f} %) in SQLAlchemy's own "
               f"Python (statement building, cache keys, compilation, result rows)")
    return "\n".join([summary, *lines[start:]])


def receipts_bench(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="remessa-bench-") as tmp:
        fresh = Path(tmp) / "fresh.sqlite"
        ids = prepare_store(fresh, count)
        started = time.perf_counter()
        receipts = build_receipts(ids)
        parse = time.perf_counter() - started
        for name in ("store", "raw", "profile"):
            shutil.copy(fresh, Path(tmp) / f"{name}.sqlite")
        ours = apply_with_store(Path(tmp) / "store.sqlite", receipts, BINDS)
        baseline = apply_raw(Path(tmp) / "raw.sqlite", receipts)
        rate = count / ours
        print(f"(c) {count:,} receipts: encode+decode+parse {parse:.1f}s ({count / parse:,.0f}/s, not in the figure)")
        print(f"    Store.record_receipt from {BINDS} threads: {ours:.1f}s = {rate:,.0f} receipts/s matched and "
              f"persisted (target >= 5,000/s)")
        print(f"    baseline raw sqlite3, same statements, one transaction each: {baseline:.1f}s = "
              f"{count / baseline:,.0f}/s; ratio {ours / baseline:.2f}")
        if rate < 5000:
            sample = receipts[: min(count, 5000)]
            print(f"    below target; profile of {len(sample):,} sequential record_receipt calls (by own time):")
            print("    " + profile_store(Path(tmp) / "profile.sqlite", sample).replace("\n", "\n    "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of (a)")
    parser.add_argument("--response-delay", type=float, default=0.05,
                        help="seconds the simulator takes to answer a submit_sm in (a)")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="messages per channel.send() in (a)")
    parser.add_argument("--uncapped-seconds", type=float, default=15.0, help="duration of each half of (b)")
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--only", choices=("a", "b", "c"))
    args = parser.parse_args()
    if args.only in (None, "a"):
        capped(args.seconds, args.response_delay, args.chunk)
    if args.only in (None, "b"):
        uncapped(args.uncapped_seconds)
    if args.only in (None, "c"):
        receipts_bench(args.receipts)


if __name__ == "__main__":
    main()
