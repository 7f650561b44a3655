"""HTTP benchmark: the wavy_sms_http channel and the webhook receiver, each against a baseline in the same run.

Run: .venv/bin/python bench/http_api.py [--messages 100000] [--callbacks 20000]
- (h) channel alone: WavySmsHttpChannel.send() of --messages messages (1,000 per request, 4 at once) to
  `remessa sandbox --http` in another process, against a raw httpx loop posting the same bodies one after another
  (the same simulator process). Target >= 20,000 messages/s.
- (i) webhooks: the daemon's receiver (receipts.webhooks + receipts.listener) persisting into a SQLite store
  through the daemon's group-committing sink, fed --callbacks sent-status callbacks by 8 client threads in another
  process; callbacks/s and the p50/p99 time to the 200. Baseline: the same clients against a receiver that answers
  without storing. Targets >= 5,000 callbacks/s, p99 < 200 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import textwrap
import time

import httpx

from remessa.channels.base import Callbacks
from remessa.channels.http.settings import WavySmsHttpSettings
from remessa.channels.http.wavy_sms import WavySmsHttpChannel, bulk_body
from remessa.config import parse
from remessa.model import BatchState, OutgoingMessage, Receipt, Status
from remessa.receipts.listener import Listener
from remessa.receipts.sink import Sink
from remessa.receipts.webhooks import WebhookAuth, create_app
from remessa.store import Store
from sandbox_cli import sandbox  # bench/sandbox_cli.py

TEXT = "Seu codigo de verificacao e 482913. Nao compartilhe."
HEADERS = {"username": "remessa", "authenticationtoken": "secret"}


def simulator() -> contextlib.AbstractContextManager[str]:
    """`remessa sandbox --http` whose statuses never come (only sends are measured); its URL."""
    return sandbox("--http", "--port", "0", "--sent-delay", "3600", "--delivery-delay", "3600",
                   where=r"listening on (http://\S+),")


def messages(count: int) -> list[OutgoingMessage]:
    return [OutgoingMessage(n, 1, f"5511{900000000 + n}", TEXT) for n in range(count)]


def channel_alone(url: str, count: int) -> float:
    channel = WavySmsHttpChannel(WavySmsHttpSettings(url=url, username="remessa", token="secret"))
    channel.open(Callbacks(lambda receipts: None))
    batch = messages(count)
    started = time.perf_counter()
    for start in range(0, count, 4000):  # the dispatcher's chunks: 4 requests of 1,000 at once
        channel.send(batch[start:start + 4000])
    elapsed = time.perf_counter() - started
    channel.close()
    return count / elapsed


def raw_loop(url: str, count: int) -> float:
    batch = messages(count)
    bodies = [json.dumps(bulk_body(batch[start:start + 1000])) for start in range(0, count, 1000)]
    with httpx.Client(base_url=url, headers={**HEADERS, "content-type": "application/json"}) as client:
        started = time.perf_counter()
        for body in bodies:
            client.post("/v1/send-bulk-sms", content=body).raise_for_status()
        return count / (time.perf_counter() - started)


CLIENT = textwrap.dedent("""
    import json, sys, threading, time, httpx
    url, count, threads = sys.argv[1], int(sys.argv[2]), 8
    latencies = []
    def run(first):
        with httpx.Client() as client:
            for n in range(first, count, threads):
                body = {"id": f"cb-{n}", "correlationId": f"c{n}", "sentStatusCode": 2, "sentStatus": "SENT_SUCCESS",
                        "sentAt": 1266660300000, "destination": "5511900009999"}
                t = time.perf_counter()
                client.post(url, json=body).raise_for_status()
                latencies.append(time.perf_counter() - t)
    started = time.perf_counter()
    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    [w.start() for w in workers]; [w.join() for w in workers]
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(json.dumps({"per_second": count / elapsed, "p50": latencies[len(latencies) // 2],
                      "p99": latencies[int(len(latencies) * 0.99)]}))
""")


def webhooks(count: int, store_them: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        store = Store(f"sqlite:///{folder}/bench.db")
        store.migrate()
        settings = parse({"daemon": {"spool": folder}}, None)
        sink = Sink(settings, store, time.time)
        batch = store.create_batch(profile="default", name="b.txt", provider="wavy", state=BatchState.QUEUED,
                                   received_at=1.0)
        store.add_messages(batch, ((n, Status.QUEUED.value, "5511900009999", TEXT, "", "", "", "", "", 0)
                                   for n in range(100)))

        def write(_provider: str, receipts: list[Receipt]) -> None:
            if store_them:
                sink.receipts(receipts)

        listener = Listener(create_app(write, {"wavy": WebhookAuth()}), "127.0.0.1", 0)
        listener.start()
        try:
            out = subprocess.run([sys.executable, "-c", CLIENT, f"http://127.0.0.1:{listener.port}/webhooks/wavy/sms",
                                  str(count)], capture_output=True, text=True, check=True).stdout
        finally:
            listener.stop()
            store.close()
        result: dict[str, float] = json.loads(out)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--callbacks", type=int, default=20_000)
    parser.add_argument("--only", choices=("h", "i"))
    args = parser.parse_args()
    if args.only in (None, "h"):
        with simulator() as url:
            raw = raw_loop(url, args.messages)
            ours = channel_alone(url, args.messages)
        print(f"(h) channel alone: {ours:,.0f} messages/s (1,000 per request, 4 at once); raw httpx loop"
              f" {raw:,.0f}/s; ratio {ours / raw:.2f}", flush=True)
    if args.only in (None, "i"):
        bare = webhooks(args.callbacks, store_them=False)
        stored = webhooks(args.callbacks, store_them=True)
        print(f"(i) webhooks persisted: {stored['per_second']:,.0f}/s, p50 {stored['p50'] * 1000:.1f} ms,"
              f" p99 {stored['p99'] * 1000:.1f} ms; answered without storing {bare['per_second']:,.0f}/s"
              f" (p99 {bare['p99'] * 1000:.1f} ms); ratio {stored['per_second'] / bare['per_second']:.2f}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
