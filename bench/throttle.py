"""Throttle benchmark: the SMPP pool against an account quota it was not told about.

Run: .venv/bin/python bench/throttle.py [--seconds 20] [--quota 20 --quota 200]

For each quota, `remessa sandbox --account-rate Q` runs in another process: a per-account quota over all
binds, enforced by spacing (a submit_sm sooner than 1/Q s after the last one accepted gets ESME_RTHROTTLED),
as a full SMS gateway throttles per user. Against it, in the same run:
- learned: SmppChannel with 4 binds x 80/s (320/s, far above the quota), which must find the quota itself;
- informed (the baseline): the same pool configured at exactly the quota (4 binds x Q/4), as a user who knew it.
Each sends 500-message chunks through channel.send() for --seconds; the figure is messages accepted per second
between the first and the last acceptance, and the ratio to the quota. Target: learned >= 90 % of the quota.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import Any

from remessa.channels.base import Callbacks
from remessa.channels.smpp.channel import SmppChannel
from remessa.channels.smpp.settings import SmppSettings
from remessa.model import Accepted, OutgoingMessage
from sandbox_cli import sandbox  # bench/sandbox_cli.py

BINDS, WINDOW, CEILING = 4, 10, 80.0
CHUNK = 500


def quota_sandbox(quota: float) -> contextlib.AbstractContextManager[str]:
    """`remessa sandbox` with a per-account quota (and no per-bind rate), on a free port; its port."""
    return sandbox("--port", "0", "--rate", "0", "--account-rate", str(quota), "--sent-delay", "0.2",
                   "--delivery-delay", "0.4")


def drive(port: int, rate: float, seconds: float) -> dict[str, Any]:
    settings = SmppSettings(port=port, system_id="remessa", password="secret", binds=BINDS, window=WINDOW,
                            rate=rate)
    channel = SmppChannel(settings)
    accepted_at: list[float] = []

    def report(outcomes: Any) -> None:
        now = time.perf_counter()
        accepted_at.extend(now for o in outcomes if isinstance(o, Accepted))

    channel.open(Callbacks(lambda receipts: None))
    started, sent, other = time.perf_counter(), 0, 0
    try:
        while time.perf_counter() - started < seconds:
            batch = [OutgoingMessage(n, 1, f"5511{900000000 + n}", "Seu codigo e 482913.")
                     for n in range(sent, sent + CHUNK)]
            outcomes = channel.send(batch, report)
            sent += CHUNK
            other += sum(not isinstance(o, Accepted) for o in outcomes)
    finally:
        channel.close()
    span = accepted_at[-1] - accepted_at[0] if len(accepted_at) > 1 else float("nan")
    return {"accepted": len(accepted_at), "other": other, "per_second": (len(accepted_at) - 1) / span}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--quota", type=float, action="append")
    args = parser.parse_args()
    failed = False
    for quota in args.quota or [20.0, 200.0]:
        with quota_sandbox(quota) as port:
            informed = drive(int(port), quota / BINDS, args.seconds)
        with quota_sandbox(quota) as port:
            learned = drive(int(port), CEILING, args.seconds)
        ratio = learned["per_second"] / quota
        print(f"quota {quota:g}/s: learned (4 x {CEILING:g}/s configured) {learned['per_second']:.1f}/s"
              f" = {ratio:.1%} of the quota; informed baseline (4 x {quota / BINDS:g}/s)"
              f" {informed['per_second']:.1f}/s = {informed['per_second'] / quota:.1%};"
              f" learned/informed {learned['per_second'] / informed['per_second']:.2f};"
              f" refused by the sandbox's own rule (*0202): {learned['other']} and {informed['other']}", flush=True)
        failed |= ratio < 0.9
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
