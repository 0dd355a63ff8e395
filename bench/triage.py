"""Triage: quality on the held-out set and speed, printed (not a timed test).

    .venv/bin/python bench/triage.py [--repeat 3] [--postgres URL | --no-postgres] [-n 2000]

1. Quality, on `triage/data/heldout/` (never trained on; written by other authors than the
   training set): intent macro F1 per language (targets: >= 0.90 fr/en, >= 0.85 de/es/it),
   the share of "unsure" (target < 10 %), language accuracy on texts of 20+ characters
   (target >= 0.98), and urgency and sentiment agreement with the writers' labels.
2. Reading speed, one core, one process: language + intent + urgency + entities on the
   held-out texts (target >= 1,000 messages/s), with CPU per message and the load beside it.
3. The task after ingest, on each database: N buyer messages ingested, then read by
   `read_messages` in batches of 200 as the worker does (messages/s, CPU per message).
Suggestions have their own benchmark (bench/suggestions.py, target p95 <= 50 ms).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

TARGETS = {"read_per_s": 1000, "f1_fr_en": 0.90, "f1_other": 0.85, "unsure": 0.10, "lang": 0.98}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def quality() -> dict[str, Any]:
    from comptoir.triage import dataset, language, reading, training

    model = training.base_model()
    held = dataset.load("heldout")
    figures = training.evaluate(model, held)
    mood = training.mood_models()
    readings = [reading.read(e.text, model, mood=mood) for e in held]
    long = [(e, r) for e, r in zip(held, readings, strict=True) if len(e.text.strip()) >= 20]
    lang_right = sum(r.language == e.lang for e, r in long)
    lang_unknown = sum(r.language == language.UNKNOWN for _, r in long)
    urgency = Counter((e.urgency, r.urgency) for e, r in zip(held, readings, strict=True))
    sentiment = Counter((e.sentiment, r.sentiment) for e, r in zip(held, readings, strict=True))
    return {
        "figures": figures,
        "language": {"long": len(long), "right": lang_right, "unknown": lang_unknown},
        "urgency": urgency,
        "sentiment": sentiment,
    }


def speed(repeat: int) -> dict[str, float]:
    from comptoir.triage import dataset, reading, training

    model = training.base_model()
    texts = [e.text for e in dataset.load("heldout")]
    mood = training.mood_models()
    reading.read(texts[0], model, mood=mood)  # loads the language model
    cpu, wall = _cpu(), time.perf_counter()
    for _ in range(repeat):
        for text in texts:
            reading.read(text, model, mood=mood)
    n = len(texts) * repeat
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    return {
        "messages": n,
        "per_s": n / wall,
        "cpu_ms": 1000 * cpu / n,
        "chars": sum(map(len, texts)) / len(texts),
    }


def child(n: int) -> None:
    """In a child process: ingest N messages, then time the reading task on them."""
    from harness import bench_channel, settle, start_django

    start_django()
    from django.db import connection

    from comptoir.connectors.base import InboundMessage
    from comptoir.inbox.ingest import ingest_many
    from comptoir.inbox.models import Message
    from comptoir.triage import dataset, tasks, training

    training.base_model(ROOT / "var" / "bench-triage")  # trained once, kept for later runs
    training.mood_models(ROOT / "var" / "bench-triage")
    channel = bench_channel()
    texts = [e.text for e in dataset.load("heldout")]
    from datetime import UTC, datetime, timedelta

    start = datetime.now(UTC) - timedelta(days=2)
    batch = [
        InboundMessage(
            channel_id=channel.pk,
            external_id=f"b-{i}",
            sender={"identity_kind": "email", "identity_value": f"buyer{i % 700}@example.com"},
            text=texts[i % len(texts)],
            sent_at=start + timedelta(seconds=i),
            thread_id=f"t-{i % 900}",
        )
        for i in range(n)
    ]
    ingest_many(batch, source="bench", batch_size=500)
    settle(connection)
    ids = list(Message.objects.order_by("pk").values_list("pk", flat=True))
    cpu, wall = _cpu(), time.perf_counter()
    read = sum(tasks.read_messages.call(ids[i : i + 200]) for i in range(0, len(ids), 200))
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    print(json.dumps({"read": read, "per_s": read / wall, "cpu_ms": 1000 * cpu / max(read, 1)}))


def _print_quality(q: dict[str, Any]) -> None:
    f = q["figures"]
    print(f"Held-out set: {f['examples']} messages, threshold {f['threshold']}")
    unsure = f["unsure_rate"]
    print(f"  intent: macro F1 {f['macro_f1']}, accuracy {f['accuracy']}, unsure {unsure:.1%}")
    for lang, row in f["per_language"].items():
        target = TARGETS["f1_fr_en"] if lang in ("fr", "en") else TARGETS["f1_other"]
        mark = "ok" if row["macro_f1"] >= target else f"BELOW {target}"
        print(
            f"    {lang}: macro F1 {row['macro_f1']:.3f} ({mark}), accuracy {row['accuracy']:.3f},"
            f" unsure {row['unsure_rate']:.1%}, {row['examples']} messages"
        )
    weakest = sorted(f["per_intent"].items(), key=lambda kv: kv[1]["f1"])[:5]
    print("  weakest intents: " + ", ".join(f"{i} {v['f1']}" for i, v in weakest))
    lang = q["language"]
    print(
        f"  language on 20+ characters: {lang['right']}/{lang['long']} right "
        f"({lang['right'] / lang['long']:.3f}), {lang['unknown']} unknown"
    )
    for name in ("urgency", "sentiment"):
        pairs: Counter[tuple[str, str]] = q[name]
        agree = sum(c for (a, b), c in pairs.items() if a == b)
        print(f"  {name} agrees with the writers' label on {agree}/{sum(pairs.values())}")
        if name == "urgency":
            high = sum(c for (a, _), c in pairs.items() if a == "high")
            found = pairs[("high", "high")]
            told = sum(c for (_, b), c in pairs.items() if b == "high")
            print(f"    high: recall {found}/{high}, precision {found}/{told}")


def main() -> None:
    from harness import bench_parser, postgres_of, run_both

    parser = bench_parser(
        __doc__,
        n=2000,
        what="buyer messages for the task after ingest",
        postgres="postgres://postgres@127.0.0.1:5432/comptoir_bench",
    )
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.child:
        child(args.n)
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    import django

    django.setup()
    _print_quality(quality())
    s = speed(args.repeat)
    load = os.getloadavg()[0]
    mark = "ok" if s["per_s"] >= TARGETS["read_per_s"] else "BELOW 1000"
    print(
        f"Reading (language + intent + urgency + entities), one process: {s['per_s']:,.0f} "
        f"messages/s ({mark}), {s['cpu_ms']:.2f} ms CPU per message, {s['chars']:.0f} characters "
        f"on average, load {load:.1f}"
    )
    results = run_both(__file__, args.n, postgres_of(args))
    for label, r in zip(("SQLite", "PostgreSQL"), results, strict=False):
        print(
            f"Task after ingest on {label}: {r['read']} messages read at {r['per_s']:,.0f}/s, "
            f"{r['cpu_ms']:.2f} ms CPU per message (load {os.getloadavg()[0]:.1f})"
        )


if __name__ == "__main__":
    main()
