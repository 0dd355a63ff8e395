"""A Redis database of a test's own, for the tests that run real workers or hosts on Redis."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.conftest import require_or_skip

REDIS_LOCK = "comptoir:test-redis-lock"


def own_redis_database(purpose: str) -> Iterator[tuple[str, Any]]:
    """(url, client) of a Redis database number no one else uses, flushed after use.

    Parallel test processes (pytest-xdist, or two CI jobs on one server) each take a different
    one: a database is taken with SET NX on a lock key, and only if it holds nothing else (so
    the tests never touch anyone's data). `purpose` names the test in the failure.
    """
    import redis

    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(base, socket_connect_timeout=2).ping()
        available = True
    except redis.RedisError:
        available = False
    require_or_skip(available, f"Redis at {base}")
    token = secrets.token_hex(8)
    parts = urlsplit(base)
    for number in range(15, 0, -1):
        url = urlunsplit(parts._replace(path=f"/{number}"))
        client = redis.Redis.from_url(url)
        try:
            if not client.set(REDIS_LOCK, token, nx=True, ex=3600):
                continue
        except redis.ResponseError:  # the server has fewer databases
            continue
        if client.dbsize() != 1:
            client.delete(REDIS_LOCK)
            continue
        try:
            yield url, client
        finally:
            client.flushdb()
        return
    pytest.fail(f"no free Redis database (1-15) for {purpose}")
