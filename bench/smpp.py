"""SMPP benchmark: the SmppChannel bind pool against the SMSC simulator in another process, and receipts persisted.

Run: .venv/bin/python bench/smpp.py [--seconds 60] [--uncapped-seconds 15] [--receipts 100000]
- (a) capped: SmppChannel, 4 binds x window 10 x 80/s, against a simulator that throttles above 80/s per bind,
  sending 500-message chunks through channel.send() (the dispatcher's default chunk) for --seconds.
  Target: achieved >= 99 % of 320/s, the simulator never seeing more than 10 outstanding per bind.
- (b) uncapped: the same pool with rate 100,000/s against an unthrottled simulator, against a baseline measured
  in the same run on the same simulator process: a minimal client (4 raw sockets, window 10 each, PDUs from
  remessa.sandbox.pdu) that shows the simulator's own ceiling. Receipts off on both sides. Target >= 3,000/s.
- (c) receipts: N ACCEPTED messages in a temporary SQLite store; the simulator pushes a DELIVRD receipt for
  each over 4 binds; SmppChannel parses and matches them and hands each read's receipts to Store.record_receipts
  (the daemon's path: persisted, then acknowledged). Baseline in the same run: a minimal client that acknowledges
  every deliver_sm without storing it (the simulator's own ceiling). Target >= 5,000 receipts/s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from remessa.channels.base import Callbacks
from remessa.channels.smpp.channel import SmppChannel
from remessa.channels.smpp.settings import SmppSettings
from remessa.channels.smpp.wire import Frames
from remessa.model import Accepted, BatchState, OutgoingMessage, Status
from remessa.simulators.smsc import pdu
from remessa.simulators.smsc.pdu import Pdu
from remessa.store import Store

BINDS, WINDOW, RATE = 4, 10, 80.0
CHUNK = 500
TEXT = "Seu codigo de verificacao e 482913. Nao compartilhe."
SYSTEM_ID, PASSWORD = "remessa", "secret"

SIMULATOR = r"""
import json, sys
from remessa.simulators.smsc.server import Smsc, SmscConfig
smsc = Smsc(SmscConfig(system_id="remessa", password="secret", max_submits_per_second=json.loads(sys.argv[1]),
                       redeliver_after=300.0))
smsc.faults.response_delay = float(sys.argv[2])
smsc.start()
print(json.dumps({"port": smsc.port}), flush=True)
for line in sys.stdin:
    command, _, argument = line.strip().partition(" ")
    if command == "push":  # a DELIVRD receipt for every provider id in the file, as fast as it can
        for pid in open(argument).read().split():
            smsc.push_receipt(pid, "5511987654321")
        print(json.dumps({"pushed": True}), flush=True)
        continue
    if command != "stats":
        break
    s = smsc.stats()
    accepted_at = [m.submitted_at.timestamp() for m in smsc.messages().values()]
    print(json.dumps({"submits": s.submits, "accepted": s.accepted, "throttled": s.throttled,
                      "deliver_sm_sent": s.deliver_sm_sent, "deliver_sm_acked": s.deliver_sm_acked,
                      "max_outstanding": s.max_outstanding, "bound": smsc.bound(),
                      "accepted_span": [min(accepted_at, default=0), max(accepted_at, default=0)]}), flush=True)
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
        return self._ask("stats")

    def push(self, ids_file: Path) -> None:
        """Have the simulator send a DELIVRD receipt for each provider id in the file."""
        self._ask(f"push {ids_file}")

    def _ask(self, line: str) -> dict[str, Any]:
        assert self._proc.stdin is not None
        self._proc.stdin.write(line + "\n")
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
    channel.open(Callbacks(lambda receipts: taken.__setitem__(0, taken[0] + len(receipts))))
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
        frames = Frames()
        while True:
            burst = []
            while outstanding < WINDOW and time.perf_counter() < deadline:
                struct.pack_into(">I", template, 12, sequence)
                burst.append(bytes(template))
                sequence, outstanding = sequence + 1, outstanding + 1
            sock.sendall(b"".join(burst))
            if outstanding == 0:
                break
            for frame in frames.feed(sock.recv(256 * 1024)):
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
    print(f"(a) capped {BINDS} x {RATE:g}/s, window {WINDOW}, {chunk}-message chunks, "
          f"simulator answering after {delay * 1000:g} ms, "
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
    with store.db.write() as conn:
        conn.exec_driver_sql("UPDATE messages SET status = 'ACCEPTED', attempts = 1,"
                             " provider_id = lower(printf('%08x-6b1e-4c2d-9a3f-%012x', id, id * 7919))")
    with store.db.reader.connect() as conn:
        ids = [row[0] for row in conn.exec_driver_sql("SELECT provider_id FROM messages ORDER BY id")]
    store.close()
    return ids


def push_and_wait(sim: Simulator, ids_file: Path, target: int, timeout: float) -> float:
    """Seconds from asking the simulator to push the receipts until it has `target` deliver_sm acknowledged."""
    started = time.perf_counter()
    sim.push(ids_file)
    while sim.stats()["deliver_sm_acked"] < target:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"only {sim.stats()['deliver_sm_acked']:,} of {target:,} receipts acknowledged")
        time.sleep(0.05)
    return time.perf_counter() - started


def wait_bound(sim: Simulator, binds: int) -> None:
    """Until exactly `binds` clients are bound to the simulator (a receipt sent to a closed one would wait)."""
    deadline = time.monotonic() + 20
    while sim.stats()["bound"] != binds:
        if time.monotonic() > deadline:
            raise SystemExit(f"the simulator did not see {binds} binds")
        time.sleep(0.02)


def ack_only(port: int, stop: threading.Event) -> list[threading.Thread]:
    """The minimal client: BINDS raw sockets acknowledging every deliver_sm at once, storing nothing."""

    def one_bind() -> None:
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(pdu.encode(Pdu(pdu.BIND_TRANSCEIVER, 1, fields={
            "system_id": SYSTEM_ID, "password": PASSWORD, "interface_version": 0x34})))
        pdu.read_frame(sock)
        sock.settimeout(0.2)
        frames = Frames()
        while not stop.is_set():
            try:
                data = sock.recv(256 * 1024)
            except TimeoutError:
                continue
            if not data:
                break
            answers = [pdu.HEADER.pack(17, pdu.DELIVER_SM | pdu.RESP, 0, pdu.HEADER.unpack_from(f)[3]) + b"\0"
                       for f in frames.feed(data) if pdu.HEADER.unpack_from(f)[1] == pdu.DELIVER_SM]
            sock.sendall(b"".join(answers))
        sock.close()

    threads = [threading.Thread(target=one_bind, name=f"ack-{n}", daemon=True) for n in range(BINDS)]
    for thread in threads:
        thread.start()
    return threads


def receipts_bench(count: int) -> None:
    """Receipts pushed by the simulator over 4 binds, matched and persisted by SmppChannel + Store."""
    with tempfile.TemporaryDirectory(prefix="remessa-bench-") as tmp:
        path = Path(tmp) / "store.sqlite"
        ids = prepare_store(path, count)
        ids_file = Path(tmp) / "ids.txt"
        ids_file.write_text("\n".join(ids))
        with Simulator(max_submits_per_second=None) as sim:
            stop = threading.Event()
            threads = ack_only(sim.port, stop)
            wait_bound(sim, BINDS)
            baseline = push_and_wait(sim, ids_file, count, timeout=600)
            stop.set()
            for thread in threads:
                thread.join()

            store = Store(f"sqlite:///{path}")
            batches: list[int] = []

            def persist(receipts: Any) -> None:
                batches.append(len(receipts))
                store.record_receipts(receipts, time.time())

            settings = SmppSettings(port=sim.port, system_id=SYSTEM_ID, password=PASSWORD, binds=BINDS)
            channel = SmppChannel(settings)
            channel.open(Callbacks(persist))
            wait_bound(sim, BINDS)  # the raw client's sessions are gone, the channel's four are up
            before = sim.stats()["deliver_sm_acked"]
            ours = push_and_wait(sim, ids_file, before + count, timeout=600)
            channel.close()
        with store.db.reader.connect() as conn:
            delivered = conn.exec_driver_sql("SELECT count(*) FROM messages WHERE status = 'DELIVERED'").scalar()
            matched = conn.exec_driver_sql("SELECT count(*) FROM receipts WHERE message_id IS NOT NULL").scalar()
        store.close()
    assert delivered == count and matched >= count, (delivered, matched)
    print(f"(c) {count:,} DELIVRD receipts pushed by the simulator over {BINDS} binds (push measured from the "
          f"first receipt until the SMSC has every deliver_sm_resp):")
    print(f"    baseline raw client acknowledging without storing (simulator ceiling): {baseline:.1f}s = "
          f"{count / baseline:,.0f} receipts/s")
    print(f"    SmppChannel -> Store.record_receipts (SQLite, matched, persisted before deliver_sm_resp): "
          f"{ours:.1f}s = {count / ours:,.0f} receipts/s (target >= 5,000/s); ratio to ceiling "
          f"{baseline / ours:.2f}; {len(batches):,} transactions, {count / len(batches):.1f} receipts each "
          f"on average, all {delivered:,} messages DELIVERED")


# --- (d) the daemon ------------------------------------------------------------------------------------------

DAEMON_CONFIG = """
[daemon]
spool = "{spool}"
settle_seconds = 0.2
poll_seconds = 0.05
idle_seconds = 0.5

[providers.smsc]
type = "smpp"
port = {port}
system_id = "{system_id}"
password = "{password}"
binds = {binds}
window = {window}
rate = {rate}

[profiles.default]
provider = "smsc"
receipt_timeout = 5.0
"""


def daemon_bench(rows: int) -> None:
    """A file of `rows` SMS through `remessa run` (its real loop, in a thread) to the capped simulator."""
    from remessa import config
    from remessa.daemon import Daemon

    with tempfile.TemporaryDirectory(prefix="remessa-bench-") as tmp, \
            Simulator(max_submits_per_second=RATE, response_delay=0.05) as sim:
        spool = Path(tmp) / "spool"
        path = Path(tmp) / "remessa.toml"
        path.write_text(DAEMON_CONFIG.format(spool=spool, port=sim.port, system_id=SYSTEM_ID, password=PASSWORD,
                                             binds=BINDS, window=WINDOW, rate=RATE), encoding="utf-8")
        daemon = Daemon(config.load(path))
        runner = threading.Thread(target=daemon.run, name="daemon", daemon=True)
        runner.start()
        inbox = spool / "default" / "inbox"
        while not inbox.is_dir():
            time.sleep(0.05)
        body = "numero;texto;correlationId(opcional);\n" + "".join(
            f"5511{900000000 + n};{TEXT};c{n};\n" for n in range(rows)) + "EOF\n"
        (Path(tmp) / "bench.txt").write_text(body, encoding="utf-8")
        os.rename(Path(tmp) / "bench.txt", inbox / "bench.txt")
        deadline = time.monotonic() + rows / (BINDS * RATE) * 3 + 60
        while not any((spool / "default" / folder / "bench.txt").exists() for folder in ("success", "error")):
            if time.monotonic() > deadline:
                raise SystemExit("(d): the file did not finish in time")
            time.sleep(0.1)
        daemon.stop()
        runner.join(timeout=60)
        stats = sim.stats()
    assert stats["accepted"] == rows, stats["accepted"]
    first, last = stats["accepted_span"]  # the simulator's own acceptance instants
    rate = (rows - 1) / (last - first)
    target = BINDS * RATE
    print(f"(d) remessa run, one file of {rows:,} rows to the capped simulator ({BINDS} x {RATE:g}/s, answering after "
          f"50 ms): first to last acceptance (simulator's clock) {last - first:.1f}s = {rate:.1f} submits/s = "
          f"{100 * rate / target:.2f} % of {target:g}/s; {stats['throttled']} throttled, "
          f"max outstanding {sorted(stats['max_outstanding'].values())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="duration of (a)")
    parser.add_argument("--response-delay", type=float, default=0.05,
                        help="seconds the simulator takes to answer a submit_sm in (a)")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="messages per channel.send() in (a)")
    parser.add_argument("--uncapped-seconds", type=float, default=15.0, help="duration of each half of (b)")
    parser.add_argument("--receipts", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the file in (d)")
    parser.add_argument("--only", choices=("a", "b", "c", "d"))
    args = parser.parse_args()
    if args.only in (None, "a"):
        capped(args.seconds, args.response_delay, args.chunk)
    if args.only in (None, "b"):
        uncapped(args.uncapped_seconds)
    if args.only in (None, "c"):
        receipts_bench(args.receipts)
    if args.only in (None, "d"):
        daemon_bench(args.rows)


if __name__ == "__main__":
    main()
