"""FAQ mining's clustering on 50,000 buyer messages, one core.

    .venv/bin/python bench/faq.py [-n 50000] [--threshold 0.3]

Sample: the labelled buyer messages shipped with triage (fr, en, de, es, it; train and
held-out), drawn again and again until N, each copy with a word dropped and an order number
changed so that no two are the same text, as buyers' messages are not. Prints the time of
`faq.mining.cluster` (vectorising and clustering, no database), the clusters found and the
share of messages in a cluster, and the five largest. The target: under a minute.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
os.environ.setdefault("COMPTOIR_DATA_DIR", str(ROOT / "var" / "bench"))


def sample(n: int, seed: int = 7) -> list[object]:
    from django.utils import timezone

    from comptoir.faq import mining
    from comptoir.triage import dataset

    rng = random.Random(seed)
    examples = [e for split in dataset.SPLITS for e in dataset.load(split)]
    now = timezone.now()
    out = []
    for i in range(n):
        example = rng.choice(examples)
        words = example.text.split()
        if len(words) > 4:
            del words[rng.randrange(len(words))]
        text = " ".join(words) + f" {rng.randrange(10**6):06d}"
        market = rng.choice(("amazon", "ebay", "mirakl", "cdiscount", "fnac"))
        at = now - timedelta(days=rng.uniform(0, 90))
        out.append(mining.Question(i, i, example.lang, example.intent, text, market, at))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=50_000)
    parser.add_argument("--threshold", type=float, default=None)
    args = parser.parse_args()
    import django

    django.setup()
    from django.utils import timezone

    from comptoir.faq import mining

    asked = sample(args.n)
    threshold = mining.THRESHOLD if args.threshold is None else args.threshold
    start = time.perf_counter()
    found = mining.cluster(asked, timezone.now(), threshold)
    took = time.perf_counter() - start
    kept = sum(len(f.members) for f in found)
    considered = sum(1 for q in asked if q.intent not in mining.SKIPPED_INTENTS)
    print(f"{len(asked)} messages, threshold {threshold}: {took:.1f} s (target < 60 s)")
    print(f"{len(found)} clusters; {kept / max(considered, 1):.0%} of the questions in one")
    for f in found[:5]:
        print(f"  {len(f.members):>6} [{f.language}] {f.intent}: {f.label}")


if __name__ == "__main__":
    main()
