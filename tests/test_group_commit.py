"""Group commit: callers arriving while a write runs are written together, next, and share its result."""

from __future__ import annotations

import threading

import pytest

from conftest import wait_for
from remessa.store.database import FairLock
from remessa.store.group_commit import GroupCommit


class Writer:
    """A write that holds until released, so a test decides who is queued behind it."""

    def __init__(self, fail: bool = False) -> None:
        self.groups: list[list[int]] = []
        self.release = threading.Event()
        self.fail = fail

    def __call__(self, items: list[int]) -> None:
        self.groups.append(sorted(items))
        self.release.wait(10)
        if self.fail:
            raise OSError("disk full")


def call_in_thread(commit: GroupCommit[int], items: list[int], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            commit(items)
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_callers_queued_behind_a_write_are_written_together_next() -> None:
    writer = Writer()
    commit: GroupCommit[int] = GroupCommit(writer)
    errors: list[BaseException] = []
    first = call_in_thread(commit, [1], errors)
    wait_for(lambda: writer.groups == [[1]], timeout=5)
    later = [call_in_thread(commit, [n, n + 10], errors) for n in (2, 3, 4)]
    wait_for(lambda: commit.waiting == 3, timeout=5)

    writer.release.set()
    for thread in [first, *later]:
        thread.join(timeout=5)

    assert writer.groups == [[1], [2, 3, 4, 12, 13, 14]] and not errors


def test_a_failed_write_fails_every_caller_of_its_group_and_only_them() -> None:
    writer = Writer(fail=True)
    commit: GroupCommit[int] = GroupCommit(writer)
    errors: list[BaseException] = []
    first = call_in_thread(commit, [1], errors)
    wait_for(lambda: writer.groups == [[1]], timeout=5)
    later = [call_in_thread(commit, [n], errors) for n in (2, 3)]
    wait_for(lambda: commit.waiting == 2, timeout=5)

    writer.release.set()
    for thread in [first, *later]:
        thread.join(timeout=5)

    assert len(errors) == 3 and all(isinstance(e, OSError) for e in errors)
    writer.fail = False
    commit([9])  # the next group is written normally
    assert writer.groups[-1] == [9]


def test_a_lone_caller_writes_at_once() -> None:
    written: list[list[str]] = []
    GroupCommit(written.append)(["a", "b"])
    assert written == [["a", "b"]]
    with pytest.raises(ZeroDivisionError):
        GroupCommit(lambda items: 1 / 0)(["x"])


def test_the_write_lock_is_granted_in_the_order_asked() -> None:
    lock = FairLock()
    order: list[int] = []
    lock.__enter__()  # held, so the others queue in a known order
    threads = []
    for n in range(5):
        thread = threading.Thread(target=lambda n=n: (lock.__enter__(), order.append(n), lock.__exit__()))
        thread.start()
        threads.append(thread)
        wait_for(lambda n=n: lock._next == n + 2, timeout=5)  # noqa: SLF001 - its ticket was handed out
    lock.__exit__()
    for thread in threads:
        thread.join(timeout=5)
    assert order == [0, 1, 2, 3, 4]
