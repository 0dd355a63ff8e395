"""The one backoff of Comptoir: how long to wait before trying again, for every kind of retry
(an HTTP request inside one call, a task queued again, an IMAP IDLE reconnect)."""

from __future__ import annotations

import random

# Past this many doublings every realistic cap is reached: stops a long outage (an IDLE
# watcher failing for days) from overflowing the float.
_MAX_DOUBLINGS = 60


def backoff(attempt: int, *, base: float, cap: float) -> float:
    """Seconds before trying again after failed attempt number `attempt` (1, 2, ...):
    exponential (`base`, then twice as long each time, never over `cap`) with jitter, at least
    `base / 2` (attempt 1 → base/2..base, 2 → base/2..2*base, ...).

    The jitter spreads the retries of many clients that failed together (a marketplace
    outage), so that they do not all hit the recovered service in the same second.
    """
    doublings = min(attempt - 1, _MAX_DOUBLINGS)
    return random.uniform(min(base / 2, cap), min(cap, base * 2**doublings))
