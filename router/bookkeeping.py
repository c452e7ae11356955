"""Book-keeping that waits a few milliseconds after an answer has gone, then runs in a batch.

A served request still owes its telemetry event, policy update and ledger write (~0.2-0.3 ms of CPU
with cold caches). Run straight after the answer, they sit between a client and its next request:
a client that reads the answer and sends again at once finds the gateway busy with the last one's
accounts. `benchmarks/bench_gateway.py` showed the cost, 0.3-0.7 ms of added p50 at 8 clients.
Waiting `delay_s` lets such a follow-up go first, and gathers jobs that come due together.

Nothing is lost or double-counted by the wait: the charge in the answer was computed before it was
sent; a prepaid account's hold stays in place until its ledger write, so limits hold; `flush()` runs
everything pending, and the app calls it before any read that must see the latest requests (a
generation's detail, a key's usage, the account's credits) and at shutdown. A crash inside the
window loses those few milliseconds of book-keeping, as it would lose the job running right after
the answer.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

__all__ = ["Bookkeeper"]

log = logging.getLogger(__name__)


class Bookkeeper:
    """Jobs deferred on the event loop's thread; `delay_s=0` runs each one at once."""

    def __init__(self, delay_s: float = 0.005):
        if delay_s < 0:
            raise ValueError("delay_s must be >= 0")
        self.delay_s = delay_s
        self._jobs: list[Callable[[], object]] = []
        self._timer: asyncio.TimerHandle | None = None

    @property
    def pending(self) -> int:
        return len(self._jobs)

    def defer(self, job: Callable[[], object]) -> None:
        """Run `job` within `delay_s`, or at the next `flush()`. Call from the event loop's thread."""
        if self.delay_s == 0:
            _run(job)
            return
        self._jobs.append(job)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.delay_s, self.flush)

    def flush(self) -> None:
        """Run every pending job now, in the order they came."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._jobs:  # a job may defer another one
            jobs, self._jobs = self._jobs, []
            for job in jobs:
                _run(job)


def _run(job: Callable[[], object]) -> None:
    try:
        job()
    except Exception:  # the answer is out: a failed write can only be logged, and must not stop the others
        log.exception("deferred book-keeping failed")
