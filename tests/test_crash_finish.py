"""kill -9 while files are being finished (moved to success/ or error/ with their sidecars, reports written
and settled), at random instants, then restart: every file ends in one place under its own name with its
sidecar, no temporary file is left, and every report says what the store says (issue 10, items 11 and 12)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

from conftest import read_report
from remessa import config

FILES = 40
ROWS = 150


def test_sigkill_while_finishing_leaves_every_file_in_one_place_with_a_current_report(make_config) -> None:
    path = make_config(sandbox={"sent_delay": 0.0, "delivered_delay": 0.01, "refuse": {}, "fail": {}},
                       profiles={"default": {"receipt_timeout": 60.0}})
    settings = config.load(path)
    inbox = settings.daemon.spool / "default" / "inbox"
    inbox.mkdir(parents=True)
    names = [f"lote{n:02}.txt" for n in range(FILES)]
    for number, name in enumerate(names):
        body = "".join(f"55119{number:02}{n:06d};mensagem {n};c{n};\n" for n in range(ROWS)) + "EOF\n"
        (inbox / f"{name}.json").write_text('{"campaignAlias": "crash"}', encoding="utf-8")
        (inbox / f".{name}.tmp").write_text(body, encoding="utf-8")
        os.rename(inbox / f".{name}.tmp", inbox / name)
    (inbox / "ruim.txt.json").write_text("{}", encoding="utf-8")
    (inbox / "ruim.txt").write_bytes(b"")  # refused: its close is a crash window too
    names.append("ruim.txt")

    command = [sys.executable, "-m", "remessa.cli", "--config", str(path), "--log-level", "WARNING", "run"]
    rnd = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    for _ in range(8):
        daemon = subprocess.Popen(command, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.6, 2.5))  # a random instant of the run, most of it spent finishing files
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
    subprocess.run([*command, "--once"], check=True, timeout=300, stderr=subprocess.DEVNULL)

    root = settings.daemon.spool / "default"
    assert os.listdir(root / "inbox") == [] and os.listdir(root / "processing") == []
    for folder in ("success", "error"):
        left = [n for n in os.listdir(root / folder) if n.endswith(".tmp") or ".batch" in n or ".late" in n]
        assert left == [], f"{folder}/ holds {left}"
    for name in names:
        [where] = [f for f in ("success", "error") if (root / f / name).exists()]
        folder = root / where
        assert (folder / f"{name}.json").exists(), f"{name}'s sidecar did not travel with it"
        summary = json.loads((folder / f"{name}.summary.json").read_text(encoding="utf-8"))
        rows = read_report(folder / f"{name}.report.csv")
        if name == "ruim.txt":
            assert where == "error" and summary["state"] == "FAILED" and summary["errors"][0]["code"] == "empty"
            continue
        assert where == "success" and summary["state"] == "SETTLED", (name, summary["state"])
        assert len(rows) == ROWS and {r["status"] for r in rows} == {"DELIVERED"}, name
        assert summary["counts"]["DELIVERED"] == ROWS, name
