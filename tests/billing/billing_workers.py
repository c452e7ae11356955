"""Process targets for the multi-process tests; kept apart so spawned workers import only billing."""
from __future__ import annotations

import multiprocessing
from decimal import Decimal

from router.billing import Billing, InsufficientCredits


def reserve_many(db_path: str, master_key: str, secret: str, hold: Decimal, attempts: int,
                 results: "multiprocessing.Queue[int]") -> None:
    """Reserve `attempts` holds (never settled: the holds alone must fit) and report how many fit."""
    billing = Billing.open(db_path, master_key=master_key, environ={}, checkpoint_interval_s=None)
    principal = billing.authenticate(f"Bearer {secret}")
    served = 0
    for _ in range(attempts):
        try:
            billing.reserve(principal, hold)
            served += 1
        except InsufficientCredits:
            pass
    billing.close()
    results.put(served)
