"""Ingest throughput: live mode (one transaction per message) and bulk mode (imports).

    .venv/bin/python bench/ingest.py [-n 5000] [--postgres URL | --no-postgres]

Runs the real pipeline (raw record, customer, threading, message, events, attachments) on a
fresh SQLite file and on a fresh PostgreSQL database, each in its own process, and prints
messages per second for both modes side by side. No network: messages are generated here.
Targets (2-core machine): live >= 300 msg/s per process, bulk >= 2,000 msg/s.

Worker mode (issue 18's "live ingest with triage and rules, >= 300 messages/s per worker"):
what one worker does with what its polls bring, 200 messages a poll: the poll's ingest as
`inbox.tasks.poll_channel` calls it (`ingest_many`, one transaction per page of 100, the
after-ingest tasks queued once per page), then triage's task (`read_messages`, as queued after
ingest), then the rules pump over the events (the three rules of bench/rules_pump.py active).
Wall and CPU per message, with the load: on a shared machine the wall-clock rate follows the
load, the CPU does not (one core's worth is `1000 / cpu ms` messages a second). Triage's
models are loaded before timing.
"""

from __future__ import annotations

import json
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import bench_channel, bench_parser, postgres_of, run_both, settle, start_django

TARGETS = {"live": 300, "bulk": 2000, "worker": 300}
WORKER_CHUNK = 200  # messages per poll, and per triage task (`triage.tasks.BATCH`)

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
    worker, worker_cpu_ms, load, split = _worker_mode(channel.pk, n)
    print(
        json.dumps({
            "db": connection.vendor,
            "live": live,
            "bulk": bulk,
            "jsonl": jsonl,
            "worker": worker,
            "worker_cpu_ms": worker_cpu_ms,
            "load": load,
            "worker_split_cpu_ms": split,
        })
    )  # fmt: skip


def _worker_mode(channel_id: int, n: int) -> tuple[float, float, float, dict[str, float]]:
    """(messages/s, CPU ms per message, load) of live ingest + triage + rules, one process."""
    from comptoir.automation import engine
    from comptoir.connectors.base import InboundMessage
    from comptoir.inbox import hooks
    from comptoir.inbox.ingest import Outcome, ingest_many
    from comptoir.inbox.models import Message
    from comptoir.inbox.tasks import POLL_BATCH_BYTES, POLL_BATCH_SIZE
    from comptoir.triage import reading, registry, tasks, training
    from rules_pump import demo_rules

    demo_rules()
    engine.pump()  # the events so far (the other modes'): not this mode's work
    _version, model = registry.model()  # loaded (trained, the first time) once per process
    mood = training.mood_models()
    # A text in no language too: its lexicon regex (every language's) is compiled once per
    # process, like the others, and would otherwise be billed to the first message without one.
    for phrase in [*PHRASES, "12345"]:
        reading.read(phrase, model, mood=mood, unanswered=1)
    msgs = [InboundMessage.model_validate(m) for m in synthetic(channel_id, n, "worker", 4)]
    ids: list[int] = []
    hooks.messages_stored.subscribe(lambda stored: ids.extend(s.message_id for s in stored))
    stages = dict.fromkeys(("ingest", "triage", "rules"), 0.0)  # CPU seconds of each

    def timed(stage: str, cpu: float) -> float:
        now = time.process_time()
        stages[stage] += now - cpu
        return now

    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, n, WORKER_CHUNK):
        step = time.process_time()
        poll = msgs[start : start + WORKER_CHUNK]
        counts = ingest_many(
            poll, source="connector", batch_size=POLL_BATCH_SIZE, batch_bytes=POLL_BATCH_BYTES
        )
        assert counts[Outcome.STORED] == len(poll), counts
        step = timed("ingest", step)
        tasks.read_messages.call(sorted(ids))  # the ids triage's hook queued (one task per 200)
        ids.clear()
        step = timed("triage", step)
        engine.pump()
        timed("rules", step)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    load = os.getloadavg()[0]
    unread = Message.objects.filter(external_id__startswith="worker-", triaged_at=None).count()
    assert unread == 0, unread
    split = {stage: 1000 * seconds / n for stage, seconds in stages.items()}
    return n / wall, 1000 * cpu / n, load, split


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
    print(
        f"{'database':<12}{'live msg/s':>12}{'bulk msg/s':>12}{'jsonl msg/s':>13}"
        f"{'worker msg/s':>14}{'cpu ms':>8}{'per core':>10}{'load':>6}"
    )
    for r in results:
        print(
            f"{r['db']:<12}{r['live']:>12,.0f}{r['bulk']:>12,.0f}{r['jsonl']:>13,.0f}"
            f"{r['worker']:>14,.0f}{r['worker_cpu_ms']:>8.2f}{1000 / r['worker_cpu_ms']:>10,.0f}"
            f"{r['load']:>6.1f}"
        )
    print("worker: a poll's ingest + triage + rules per message, one process; CPU ms of each:")
    for r in results:
        split = ", ".join(f"{k} {v:.2f}" for k, v in r["worker_split_cpu_ms"].items())
        print(f"  {r['db']}: {split}")
    print(
        f"targets: live >= {TARGETS['live']}, bulk >= {TARGETS['bulk']}, "
        f"worker >= {TARGETS['worker']} (PostgreSQL)"
    )
    missed = [
        f"{r['db']} {mode}" for r in results for mode in ("live", "bulk") if r[mode] < TARGETS[mode]
    ]
    missed += [
        f"{r['db']} worker"
        for r in results
        if r["db"] == "postgresql" and r["worker"] < TARGETS["worker"]
    ]
    print("all targets met" if not missed else f"below target: {', '.join(missed)}")


if __name__ == "__main__":
    main()
