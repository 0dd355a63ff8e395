"""Ingest throughput: live mode (one transaction per message) and bulk mode (imports).

    .venv/bin/python bench/ingest.py [-n 5000] [--postgres URL | --no-postgres]

Runs the real pipeline (raw record, customer, threading, message, events, attachments) on a
fresh SQLite file and on a fresh PostgreSQL database, each in its own process, and prints
messages per second for both modes side by side. No network: messages are generated here.
Targets (2-core machine): live >= 300 msg/s per process, bulk >= 2,000 msg/s.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import bench_channel, bench_parser, postgres_of, run_both, settle, start_django

TARGETS = {"live": 300, "bulk": 2000}

PHRASES = [
    "Bonjour, je n'ai toujours pas reçu ma commande, pouvez-vous me donner le suivi ?",
    "Hello, the item arrived damaged, the box was crushed. What can you do?",
    "Guten Tag, ich möchte den Artikel zurücksenden. Wie funktioniert das?",
    "Hola, ¿pueden enviarme la factura de mi pedido, por favor?",
    "Buongiorno, vorrei annullare l'ordine se non è ancora stato spedito.",
]


def synthetic(channel_id: int, n: int, prefix: str, seed: int) -> list[dict[str, Any]]:
    """Messages as buyers send them: most open a thread, a third follow one up."""
    rng = random.Random(seed)
    start = datetime.now(UTC) - timedelta(days=30)
    out = []
    for i in range(n):
        thread = rng.randrange(max(1, int(n * 0.7)))
        body = " ".join(rng.choice(PHRASES) for _ in range(rng.randint(1, 8)))
        msg: dict[str, Any] = {
            "channel_id": channel_id,
            "external_id": f"{prefix}-{i}",
            "thread_id": f"{prefix}-t{thread}",
            "sender": {
                "identity_kind": "email",
                "identity_value": f"buyer{thread % (n // 2 + 1)}@example.com",
                "name": f"Buyer {thread}",
                "email": f"buyer{thread % (n // 2 + 1)}@example.com",
            },
            "subject": f"Commande {100 + thread:03d}-{thread:07d}-{i % 9999999:07d}",
            "text": body,
            "html": f"<p>{body}</p>" if rng.random() < 0.5 else "",
            "order_number": f"{100 + thread:03d}-{thread:07d}-0000001",
            "sent_at": (start + timedelta(seconds=i * 30)).isoformat(),
        }
        if rng.random() < 0.05:
            data = rng.randbytes(rng.randint(2_000, 60_000))
            import base64

            msg["attachments"] = [
                {
                    "filename": f"photo{i}.jpg",
                    "content_type": "image/jpeg",
                    "data": base64.b64encode(data).decode(),
                }
            ]
        out.append(msg)
    return out


def child(n: int) -> None:
    """Runs inside a process whose DATABASE_URL points at an empty database."""
    start_django()
    from django.db import connection

    from comptoir.connectors.base import InboundMessage
    from comptoir.inbox.ingest import Outcome, ingest, ingest_many
    from comptoir.inbox.models import Message

    channel = bench_channel()

    live_msgs = [InboundMessage.model_validate(m) for m in synthetic(channel.pk, n, "live", 1)]
    t0 = time.perf_counter()
    for msg in live_msgs:
        result = ingest(msg)
        assert result.outcome == Outcome.STORED, result.error
    live = n / (time.perf_counter() - t0)

    bulk_msgs = [InboundMessage.model_validate(m) for m in synthetic(channel.pk, n, "bulk", 2)]
    settle(connection)
    t0 = time.perf_counter()
    counts = ingest_many(bulk_msgs, batch_size=500)
    bulk = n / (time.perf_counter() - t0)
    assert counts[Outcome.STORED] == n, counts

    # Bulk from raw JSON lines, as `comptoir import` reads them (parsing included).
    lines = [json.dumps(m).encode() for m in synthetic(channel.pk, n, "jsonl", 3)]
    settle(connection)
    t0 = time.perf_counter()
    counts = ingest_many(lines, batch_size=500, channel_id=channel.pk)
    jsonl = n / (time.perf_counter() - t0)
    assert counts[Outcome.STORED] == n, counts

    assert Message.objects.count() == 3 * n
    print(json.dumps({"db": connection.vendor, "live": live, "bulk": bulk, "jsonl": jsonl}))


def main() -> None:
    parser = bench_parser(
        __doc__,
        n=5000,
        what="messages per mode",
        postgres="postgres://postgres@127.0.0.1:5432/comptoir_bench",
    )
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return

    results = run_both(__file__, args.n, postgres_of(args))

    print(f"ingest benchmark, {args.n} messages per mode, 1 process, {os.cpu_count()} cores")
    print(f"{'database':<12}{'live msg/s':>12}{'bulk msg/s':>12}{'jsonl msg/s':>13}")
    for r in results:
        print(f"{r['db']:<12}{r['live']:>12,.0f}{r['bulk']:>12,.0f}{r['jsonl']:>13,.0f}")
    print(f"targets: live >= {TARGETS['live']}, bulk >= {TARGETS['bulk']}")
    missed = [
        f"{r['db']} {mode}" for r in results for mode in ("live", "bulk") if r[mode] < TARGETS[mode]
    ]
    print("all targets met" if not missed else f"below target: {', '.join(missed)}")


if __name__ == "__main__":
    main()
