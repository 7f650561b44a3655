"""`remessa sandbox` run by a benchmark in its own process (so it does not share the benchmark's GIL)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sandbox(*options: str, where: str = r"listening on \S+:(\d+)") -> Iterator[str]:
    """Start `remessa sandbox OPTIONS`; yield group 1 of `where` in its first line (the port, or the URL)."""
    process = subprocess.Popen([sys.executable, "-m", "remessa.cli", "sandbox", *options],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(where, line)
        if found is None:
            raise RuntimeError(f"remessa sandbox {' '.join(options)} did not start: {line!r}")
        yield found.group(1)
    finally:
        process.terminate()
        process.wait(timeout=10)
