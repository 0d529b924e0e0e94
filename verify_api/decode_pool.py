"""A bounded pool for the heavy work of an uploaded file (unzipping, seal checks, QR decoding).

gunicorn's sync workers serve one request each: an upload that took every worker would leave none for
/api/v1/verify. So uploads take a slot first, a lock file under the data directory held with flock, which
every worker of the node shares and the kernel frees when a process dies. With every slot taken an upload
is refused at once (503 with Retry-After) instead of waiting on a worker that verification needs. An
admitted job runs on this process's thread, so a request can stop waiting after `timeout_s` while its job
finishes and keeps its slot: no more jobs run than there are slots, however many requests give up.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class PoolBusy(Exception):
    """Every slot is taken, or the job did not finish in time: the client should retry later."""


class DecodePool:
    def __init__(self, folder: Path, slots: int, timeout_s: float = 20.0):
        if slots < 1:
            raise ValueError("CRANE_DECODE_SLOTS must be at least 1")
        self.folder, self.slots, self.timeout_s = folder, slots, timeout_s
        self._executor: ThreadPoolExecutor | None = None
        self._pid = 0

    def run(self, job: Callable[[], T]) -> T:
        """The job's result; PoolBusy when no slot is free or the job outlasts the timeout."""
        fd = self._take_slot()
        try:
            future = self._pool().submit(self._run_then_free, job, fd)
        except BaseException:
            os.close(fd)
            raise
        try:
            return future.result(self.timeout_s)
        except FutureTimeout:
            raise PoolBusy("timeout") from None

    def _pool(self) -> ThreadPoolExecutor:
        # gunicorn forks workers after the app is made: each process needs threads of its own.
        if self._executor is None or self._pid != os.getpid():
            self._executor = ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="decode")
            self._pid = os.getpid()
        return self._executor

    @staticmethod
    def _run_then_free(job: Callable[[], T], fd: int) -> T:
        try:
            return job()
        finally:
            os.close(fd)  # closing the descriptor releases its flock

    def _take_slot(self) -> int:
        self.folder.mkdir(parents=True, exist_ok=True)
        for number in range(self.slots):
            fd = os.open(self.folder / f"slot-{number}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return fd
        raise PoolBusy("full")
