"""What the benchmarks share: each measures in child processes, one per database, so that a
run starts cold and SQLite and PostgreSQL are compared in one go."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def settle(connection: Any, *tables: str) -> None:
    """Write out the WAL and the statistics before timing, so that a checkpoint or an autovacuum
    the set-up triggered does not run during (and get billed to) what is measured."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("CHECKPOINT")
            cursor.execute(f"VACUUM ANALYZE {', '.join(tables)}" if tables else "VACUUM ANALYZE")
        else:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            cursor.execute("ANALYZE")


def recreate_postgres(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def _exists(url: str) -> bool:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres") as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
    return found is not None


def _run(
    script: str, label: str, env: dict[str, str], n: int, timeout: int, args: list[str]
) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, script, "--child", "-n", str(n), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{label} run failed:\n{proc.stderr[-3000:]}")
    line = proc.stdout.strip().splitlines()[-1]
    print(f"{label}: {line}", file=sys.stderr, flush=True)  # kept even if the next run fails
    return dict(json.loads(line))


def run_both(
    script: str,
    n: int,
    postgres: str | None,
    *,
    timeout: int = 1800,
    keep: str | None = None,
    args: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Run `script --child -n N` on a fresh SQLite file, then on the PostgreSQL database at
    `postgres` (dropped and created) unless it is None; returns each child's last JSON line.
    With `keep` (a directory), the SQLite file lives there and the PostgreSQL database is kept:
    a later run with the same `keep` finds them as the previous one left them."""
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = keep or tmp
        base = {
            **os.environ,
            "COMPTOIR_DATA_DIR": data_dir,
            "COMPTOIR_TASKS_BACKEND": "db",
            "COMPTOIR_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT / "src"),
        }
        more = args or []
        results.append(_run(script, "SQLite", {**base, "DATABASE_URL": ""}, n, timeout, more))
        if postgres:
            if not (keep and _exists(postgres)):
                recreate_postgres(postgres)
            env = {**base, "DATABASE_URL": postgres}
            results.append(_run(script, "PostgreSQL", env, n, timeout, more))
    return results


def start_django() -> None:
    """In a child: Django set up and its (empty) database migrated."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bench_channel() -> Any:
    """A shop and an Amazon API channel to ingest into."""
    from comptoir.inbox.models import Channel, Shop

    shop = Shop.objects.create(name="Bench", slug="bench")
    return Channel.objects.create(shop=shop, kind="api", marketplace="amazon", name="bench")
