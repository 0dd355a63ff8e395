"""Speed of triage's entities and urgency readers: messages per second on one core.

    taskset -c 1 .venv/bin/python bench/triage_parts.py [--repeat 20]

Sample: the labelled texts of `comptoir.triage.samples` and the demo's buyer phrases (their
fields filled with an order, an amount and a parcel number), each also joined with the next two
of its language into a text of about 300 characters, the size the issue's budgets are set for
(entities: 5,000 messages/s, urgency: 10,000). Urgency is timed with the language known (as the
pipeline calls it, after the language) and unknown (all eight lexicons). Printed, not a test.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

FIELDS = {
    "order": "402-1234567-7654321",
    "total": "49,90 €",
    "tracking": "6A12345678901",
    "carrier": "Colissimo",
}


class _Filled(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return FIELDS.get(key, "Dupont")


def sample() -> list[tuple[str, str]]:
    """(language, text): single texts, then each joined with the next two of its language."""
    from comptoir.demo import phrases
    from comptoir.triage import samples

    pairs = [(lang, t) for lang, texts in samples.LONG.items() for t in texts]
    pairs += [(lang, t) for lang, texts in samples.SHORT.items() for t in texts]
    for table in (phrases.OPENINGS, phrases.FOLLOW_UPS):
        for by_lang in table.values():
            for lang, texts in by_lang.items():
                pairs += [(lang, t.format_map(_Filled())) for t in texts]
    by_lang: dict[str, list[str]] = {}
    for lang, text in pairs:
        by_lang.setdefault(lang, []).append(text)
    joined = [
        (lang, " ".join(texts[i : i + 3])[:300])
        for lang, texts in by_lang.items()
        for i in range(len(texts))
    ]
    return pairs + joined


def _rate(
    name: str, texts: list[tuple[str, str]], fn: Callable[[str, str], object], repeat: int
) -> None:
    fn(*texts[0])  # compile and warm up
    start = time.perf_counter()
    for _ in range(repeat):
        for lang, text in texts:
            fn(lang, text)
    elapsed = time.perf_counter() - start
    print(f"{name:<28} {len(texts) * repeat / elapsed:>10,.0f} messages/s")


def main() -> None:
    from comptoir.triage import entities, urgency

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    texts = sample()
    long = [(lang, t) for lang, t in texts if len(t) >= 250]
    today = date(2026, 3, 20)
    print(f"{len(texts)} texts, {len(long)} of 250-300 characters")
    for label, chosen in (("all", texts), ("~300 chars", long)):
        print(f"-- {label}")
        _rate(
            "entities.extract", chosen, lambda _l, t: entities.extract(t, today=today), args.repeat
        )
        _rate("urgency.read (language)", chosen, lambda lang, t: urgency.read(t, lang), args.repeat)
        _rate("urgency.read (unknown)", chosen, lambda _l, t: urgency.read(t), args.repeat)
    kinds = Counter(e.kind for _, t in texts for e in entities.extract(t, today=today))
    readings = [urgency.read(t, lang) for lang, t in texts]
    print("entities found:", dict(kinds))
    print("urgency:", dict(Counter(r.urgency for r in readings)))
    print("sentiment:", dict(Counter(r.sentiment for r in readings)))


if __name__ == "__main__":
    main()
