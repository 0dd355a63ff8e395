"""The SLA sweep over 1,000,000 open conversations, on SQLite and PostgreSQL side by side.

    .venv/bin/python bench/sla_sweep.py [-n 1000000] [--postgres URL | --no-postgres]

Every conversation waits for an answer, its deadline spread evenly from 48 hours ago to 48
hours ahead (24-hour targets, at risk 6 hours before). Those whose instant passed more than
30 minutes ago are already swept; the last 30 minutes are not (a worker down for half an hour:
about 0.5 % of the conversations are due to turn at risk and 0.5 % to turn late). The sweeps
timed, in order: one minute's worth (the steady state of a sweep every minute, ~350
transitions), a 10-minute backlog (a worker restarting, ~3,500), the 19 minutes left (~6,600),
then one with nothing due. Target: a sweep <= 2 s on both databases (2-core machine).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import bench_parser, postgres_of, print_table, run_both, settle

TARGET_SECONDS = 2.0
SPREAD = 96 * 3600  # deadlines from -48 h to +48 h around now
AT_RISK_BEFORE = 6 * 3600
BACKLOG = 30 * 60


def child(n: int) -> None:
    """Runs inside a process whose DATABASE_URL points at an empty database."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from comptoir.inbox.models import Channel, Conversation, Shop
    from comptoir.notifications import actions as notifications
    from comptoir.sla import sweep as sweep_module

    notified: list[int] = []
    notifications.notify = lambda kind, *, conversations=(), **_: notified.append(  # type: ignore[assignment]
        len(conversations)
    )

    call_command("migrate", verbosity=0)
    shop = Shop.objects.create(name="Bench", slug="bench")
    channels = [
        Channel.objects.create(shop=shop, kind="api", marketplace=m, name=m).pk
        for m in ("amazon", "fnac", "cdiscount", "darty")
    ]
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = time.perf_counter()
    _fill(connection, n, shop.pk, channels, now)
    fill_seconds = time.perf_counter() - t0
    settle(connection, "inbox_conversation")
    assert Conversation.objects.count() == n

    timings = []
    for label, at in (
        ("1 minute due", now - timedelta(seconds=BACKLOG - 60)),
        ("10 minutes due", now - timedelta(seconds=BACKLOG - 660)),
        ("19 minutes due", now),
        ("nothing due", now),
    ):
        t0 = time.perf_counter()
        result = sweep_module.sweep(now=at)
        seconds = time.perf_counter() - t0
        timings.append(
            {
                "label": label,
                "seconds": seconds,
                "at_risk": len(result.at_risk),
                "breached": len(result.breached),
            }
        )
    print(
        json.dumps(
            {"db": connection.vendor, "fill": fill_seconds, "sweeps": timings, "n": n},
        )
    )


def _fill(connection: Any, n: int, shop_id: int, channels: list[int], now: datetime) -> None:
    """One INSERT ... SELECT over a generated series: a million rows in seconds."""
    base = int(now.timestamp())
    # Seconds from now, spread evenly (BIGINT: n * 7919 overflows PostgreSQL's integer).
    offset = f"((CAST(n AS BIGINT) * 7919) % {SPREAD}) - {SPREAD // 2}"
    due = f"{base} + {offset}"
    risk = f"{due} - {AT_RISK_BEFORE}"
    swept = base - BACKLOG
    state = (
        f"CASE WHEN {due} <= {swept} THEN 'breached' "
        f"WHEN {risk} <= {swept} THEN 'at_risk' ELSE 'ok' END"
    )
    channel = f"CASE n % 4 WHEN 0 THEN {channels[0]} WHEN 1 THEN {channels[1]} "
    channel += f"WHEN 2 THEN {channels[2]} ELSE {channels[3]} END"
    if connection.vendor == "postgresql":
        ts, series = "to_timestamp({})", f"generate_series(1, {n}) AS s(n)"
        bool_true = "TRUE"
    else:
        ts, series = "datetime({}, 'unixepoch')", "seq"
        bool_true = "1"
    columns = (
        "shop_id, channel_id, order_number, external_thread_id, subject, snippet, status, "
        "priority, language, intent, needs_reply, respond_by, sla_state, sla_at_risk_at, "
        "first_inbound_at, last_inbound_at, last_message_at, reopened_count, message_count, "
        "archived, created_at, updated_at"
    )
    received = ts.format(f"{due} - 86400")
    values = (
        f"{shop_id}, {channel}, '', 'thread-' || n, 'Ma commande', 'Où est ma commande ?', "
        f"'open', n % 3, 'fr', '', {bool_true}, {ts.format(due)}, {state}, {ts.format(risk)}, "
        f"{received}, {received}, {received}, 0, 1, {'FALSE' if bool_true == 'TRUE' else 0}, "
        f"{received}, {received}"
    )
    prefix = ""
    if connection.vendor == "sqlite":
        prefix = (
            f"WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < {n}) "
        )
    with connection.cursor() as cursor:
        cursor.execute(
            f"{prefix}INSERT INTO inbox_conversation ({columns}) SELECT {values} FROM {series}"
        )


def main() -> None:
    parser = bench_parser(
        __doc__,
        n=1_000_000,
        what="open conversations",
        postgres="postgres://postgres@127.0.0.1:5432/comptoir_bench_sla",
    )
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return

    postgres = postgres_of(args)
    results = run_both(__file__, args.n, postgres, timeout=3600)

    print(f"SLA sweep benchmark, {args.n:,} open conversations, {os.cpu_count()} cores")
    worst = 0.0
    rows: list[dict[str, Any]] = []
    for r in results:
        rows.append({"database": r["db"], "sweep": "(insert rows)", "at risk": None,
                     "breached": None, "seconds": f"{r['fill']:.2f}"})  # fmt: skip
        for s in r["sweeps"]:
            worst = max(worst, s["seconds"])
            rows.append({"database": "", "sweep": s["label"], "at risk": s["at_risk"],
                         "breached": s["breached"], "seconds": s["seconds"]})  # fmt: skip
    print_table(rows)
    verdict = "target met" if worst <= TARGET_SECONDS else "BELOW TARGET"
    print(f"target: every sweep <= {TARGET_SECONDS:.0f} s; slowest {worst:.3f} s: {verdict}")


if __name__ == "__main__":
    main()
