"""What open live-update streams cost the server while nothing happens.

    .venv/bin/python bench/live_streams.py [--streams 200] [--seconds 30] [--postgres [URL]]

Each open inbox or conversation tab holds one server-sent-events stream (`/inbox/live`). This
starts the real server (`comptoir serve`, ASGI, one process), signs in as an agent, opens N
streams on the inbox, waits until every one has its first frame, then measures the server's
CPU time over S quiet seconds: the share of one core the idle streams take. The event clock
(`inbox/live.py`) reads the newest event once a second per process, whatever the number of
streams, and a stream queries only when it moved. Target: 200 streams < 5 % of a core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inbox_http import free_port, login, server_cpu_seconds, wait_up

AGENT = "bench-agent"
PASSWORD = "bench-password"
PG_DEFAULT = "postgres://postgres@127.0.0.1:5432/comptoir_live_bench"
TARGET_SHARE = 5.0


def prepare(env: dict[str, str]) -> None:
    comptoir = str(Path(sys.executable).parent / "comptoir")
    subprocess.run([comptoir, "migrate", "--noinput", "-v0"], env=env, check=True)
    code = (
        "import django; django.setup()\n"
        "from comptoir.accounts.models import User, Role\n"
        f"User.objects.filter(username={AGENT!r}).delete()\n"
        f"User.objects.create_user({AGENT!r}, 'a@example.com', {PASSWORD!r}, role=Role.AGENT)\n"
    )
    settings = {**env, "DJANGO_SETTINGS_MODULE": "comptoir.settings"}
    subprocess.run([sys.executable, "-c", code], env=settings, check=True)


async def hold_streams(base: str, cookies: object, n: int, seconds: float, pid: int) -> float:
    import httpx

    ready = asyncio.Event()
    opened = [0]

    async def one(client: httpx.AsyncClient) -> None:
        async with client.stream("GET", "/inbox/live?after=0") as response:
            assert response.status_code == 200, response.status_code
            first = True
            # Read on (only heartbeats come): leaving the loop would close the stream.
            async for _ in response.aiter_lines():
                if first:
                    first = False
                    opened[0] += 1
                    if opened[0] == n:
                        ready.set()

    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(
        base_url=base, cookies=cookies, timeout=None, limits=limits
    ) as client:  # type: ignore[arg-type]
        tasks = [asyncio.create_task(one(client)) for _ in range(n)]
        await asyncio.wait_for(ready.wait(), timeout=120)
        await asyncio.sleep(3)  # the streams' first checks are over
        before = server_cpu_seconds(pid)
        started = time.monotonic()
        await asyncio.sleep(seconds)
        cpu = server_cpu_seconds(pid) - before
        elapsed = time.monotonic() - started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return 100 * cpu / elapsed


def run(label: str, env: dict[str, str], args: argparse.Namespace) -> float:
    prepare(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "comptoir"), "serve", "--port", str(port)],
        env={**env, "COMPTOIR_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_up(base, server)
        client = login(base)
        share = asyncio.run(
            hold_streams(base, client.cookies, args.streams, args.seconds, server.pid)
        )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    print(
        f"{label:<10} {args.streams} quiet streams: {share:.2f} % of a core "
        f"(target < {TARGET_SHARE:.0f} %); load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    return share


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--postgres", nargs="?", const=PG_DEFAULT, default=None)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as data:
        base_env = {**os.environ, "COMPTOIR_DATA_DIR": data, "DATABASE_URL": ""}
        run("SQLite", base_env, args)
        if args.postgres:
            import psycopg

            name = args.postgres.rsplit("/", 1)[1]
            admin = args.postgres.rsplit("/", 1)[0] + "/postgres"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}"')
            run("PostgreSQL", {**base_env, "DATABASE_URL": args.postgres}, args)


if __name__ == "__main__":
    main()
