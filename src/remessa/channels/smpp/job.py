"""One message on its way through the bind pool: the unit the pool's shared queue holds and a bind submits."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(eq=False)
class Job:
    """One message on its way through one bind: its parts are submitted one after the other, in order."""

    message_id: int
    head: bytes  # submit_sm octets before sm_length, shared by every part (smpp_wire.submit_head)
    parts: list[bytes]
    done: Callable[[Job, str, int | None], None]  # (job, kind, status): kind ok | part | refused | in_doubt …
    guard: threading.Lock  # held by claim() and by send() when it stops waiting (the call's lock)
    settle: Callable[[], None] | None = None  # set with an answer: frees its window slot once it is committed
    ids: list[str] = field(default_factory=list)  # message_id of each acknowledged part
    pending: bool = False  # a submit_sm of it is on the wire, unanswered
    abandoned: bool = False  # send() stopped waiting: do not submit it (or its next part)

    @property
    def started(self) -> bool:
        return bool(self.ids)

    def claim(self) -> bool:
        """Before a part is written: False if send() gave up on it (it is reported not sent, so it must not go)."""
        with self.guard:
            if self.abandoned:
                return False
            self.pending = True
            return True
