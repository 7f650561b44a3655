"""tests/peers/smsc.js, an SMSC on the npm `smpp` package (a codec remessa did not write), run by the tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

PEERS = Path(__file__).parent / "peers"  # SMPP servers we did not write; `npm ci` there installs them


class NodeSmsc:
    """tests/peers/smsc.js (an SMSC on the npm `smpp` package) in a subprocess; see that file for its knobs."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        node = shutil.which("node")
        if node is None:
            pytest.fail("needs Node.js (`node`) to run the npm smpp peer SMSC: run tests/system-packages.sh")
        if not (PEERS / "node_modules" / "smpp").is_dir():
            pytest.fail("needs the npm smpp peer: run `(cd tests/peers && npm ci)`")
        self._log = open(tmp_path / "node-smsc.log", "wb")  # noqa: SIM115 - closed in close()
        self._process = subprocess.Popen([node, str(PEERS / "smsc.js")], cwd=PEERS, env={**os.environ, **env},
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
                                         text=True)
        self._lock = threading.Lock()
        self.port: int = self._read()["port"]

    def stats(self) -> dict[str, int]:
        with self._lock:
            assert self._process.stdin is not None
            self._process.stdin.write("stats\n")
            self._process.stdin.flush()
            return self._read()

    def _read(self) -> dict[str, int]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self.close()
            log = Path(self._log.name).read_text(errors="replace")
            raise RuntimeError(f"node smsc.js exited ({self._process.returncode}): {log}")
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            self._process.stdin.close()  # it exits when stdin closes
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()
        self._log.close()
