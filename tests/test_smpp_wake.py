"""A bind's wake-up: a wake() that lands while the bind drains its wake-up socket is not lost, nor any after it.

Before the fix the flag that spares a syscall per answer was reset before the drain, so a wake() in between left
the flag set with no byte on its way: every later wake() was dropped and an idle bind saw freed window slots,
new work and even stop() only when the SMSC happened to send something (SIGTERM took a minute to stop an idle
channel). The interleaving is forced here by a wake-up socket whose recv() lets another wake() in first.
"""

from __future__ import annotations

import select
import socket
from collections import deque

from remessa.channels.smpp.bind import Bind
from remessa.channels.smpp.session import BindConfig
from remessa.channels.smpp.wire import Frames


class _WakeDuringDrain:
    """The bind's wake-up socket, with a wake() from 'another thread' landing just before each drain."""

    def __init__(self, real: socket.socket, bind: Bind) -> None:
        self._real, self._bind = real, bind

    def fileno(self) -> int:
        return self._real.fileno()

    def recv(self, size: int) -> bytes:
        self._bind.wake()
        return self._real.recv(size)

    def close(self) -> None:
        self._real.close()


def test_a_wake_during_the_drain_does_not_swallow_the_next_wake() -> None:
    config = BindConfig("127.0.0.1", 1, "id", "pw", "", 10, 100.0, 30.0, 5.0, 1.0, 2.0, None)
    bind = Bind(1, config, deque(), lambda bodies, reply: reply([0] * len(bodies)))
    smsc, ours = socket.socketpair()
    try:
        real = bind._wake_r
        bind._wake_r = _WakeDuringDrain(real, bind)  # type: ignore[assignment]
        bind.wake()  # work was added: the bind thread is woken
        assert bind._read(ours, Frames(), 0.0) == []  # it drains (a wake() lands meanwhile) and finds no PDU
        bind.wake()  # later work (a freed slot, stop()): the bind must be woken again
        readable, _, _ = select.select([real], [], [], 0.0)
        assert readable == [real], "a wake-up after the drain was lost: the bind would sleep through it"
    finally:
        smsc.close()
        ours.close()
        bind._wake_r.close()
        bind._wake_w.close()
