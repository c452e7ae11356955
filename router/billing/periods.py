"""UTC reset windows for key spend limits and the usage figures of `GET /key`.

As on OpenRouter, a `daily` limit resets at midnight UTC, `weekly` on Monday 00:00 UTC and
`monthly` on the first of the month 00:00 UTC. Times are unix seconds so that tests can inject
any clock.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Literal, get_args

__all__ = ["LimitReset", "LIMIT_RESETS", "period_start", "check_limit_reset"]

LimitReset = Literal["daily", "weekly", "monthly"]
LIMIT_RESETS: tuple[str, ...] = get_args(LimitReset)


def period_start(reset: str | None, now: float) -> float:
    """Start (unix seconds) of the window containing `now`; 0.0 for a limit that never resets."""
    if reset is None:
        return 0.0
    moment = datetime.fromtimestamp(now, tz=timezone.utc)
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if reset == "daily":
        start = midnight
    elif reset == "weekly":
        start = midnight - timedelta(days=midnight.weekday())
    elif reset == "monthly":
        start = midnight.replace(day=1)
    else:
        raise ValueError(_bad_reset_message(reset))
    return start.timestamp()


def check_limit_reset(reset: str | None) -> str | None:
    """Validate a `limit_reset` value at the edge; the message lists the valid options."""
    if reset is not None and reset not in LIMIT_RESETS:
        raise ValueError(_bad_reset_message(reset))
    return reset


def _bad_reset_message(reset: object) -> str:
    return f"limit_reset must be one of {', '.join(LIMIT_RESETS)} or null, got {reset!r}"
