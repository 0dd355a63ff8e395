"""Language detection: the candidate detectors side by side, then triage's own `detect`.

    .venv/bin/python bench/triage_language.py [--repeat 20]

Sample: the held-out labelled texts of `comptoir.triage.samples` (fr, en, de, es, it, nl, pt, pl;
long = 20 characters or more, short = fewer) and the demo's buyer phrases (fr, en, de, es, it),
with their fields filled. Each candidate is restricted to the eight languages. Printed per
candidate: accuracy of its best guess on long and short texts, speed (messages/s, one core,
one process), memory taken by loading and using it (peak RSS) and its installed size. Then
triage's `detect` (the chosen detector with its threshold): right, "unknown" and wrong, on long
and short texts,
and the texts that must stay "unknown". Printed, not a timed test. Candidates not installed are
skipped (`pip install py3langid lingua-language-detector`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

LANGS = ("fr", "en", "de", "es", "it", "nl", "pt", "pl")


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return {"order": "402-1234567-7654321", "total": "49,90", "tracking": "6A12345678901"}.get(
            key, "Dupont"
        )


def sample() -> list[tuple[str, str]]:
    """(language, text) pairs: the labelled samples, then the demo's buyer phrases."""
    from comptoir.demo import phrases
    from comptoir.triage import samples

    pairs = [(lang, t) for lang, texts in samples.LONG.items() for t in texts]
    pairs += [(lang, t) for lang, texts in samples.SHORT.items() for t in texts]
    for table in (phrases.OPENINGS, phrases.FOLLOW_UPS, phrases.SUBJECTS):
        for by_lang in table.values():
            for lang, texts in by_lang.items():
                pairs += [(lang, t.format_map(_Blank())) for t in texts]
    for lang, texts in phrases.THANKS_FOLLOW_UPS.items():
        pairs += [(lang, t) for t in texts]
    return pairs


def _py3langid() -> Callable[[str], tuple[str, float]]:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    identifier.set_languages(list(LANGS))

    def guess(text: str) -> tuple[str, float]:
        lang, prob = identifier.classify(text)
        return str(lang), float(prob)

    return guess


def _lingua(low_accuracy: bool = False) -> Callable[[str], tuple[str, float]]:
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(getattr(IsoCode639_1, c.upper())) for c in LANGS]
    builder = LanguageDetectorBuilder.from_languages(*languages).with_preloaded_language_models()
    if low_accuracy:
        builder = builder.with_low_accuracy_mode()
    detector = builder.build()

    def guess(text: str) -> tuple[str, float]:
        values = detector.compute_language_confidence_values(text)
        if not values:
            return "unknown", 0.0
        best = values[0]
        return best.language.iso_code_639_1.name.lower(), float(best.value)

    return guess


CANDIDATES: dict[str, tuple[str, Callable[[], Callable[[str], tuple[str, float]]]]] = {
    "py3langid": ("py3langid", _py3langid),
    "lingua": ("lingua-language-detector", _lingua),
    "lingua (low accuracy mode)": ("lingua-language-detector", lambda: _lingua(True)),
}


def installed_size(dist: str) -> int:
    files = importlib.metadata.distribution(dist).files or []
    return sum(f.locate().stat().st_size for f in files if Path(f.locate()).is_file())


def measure(name: str, repeat: int) -> dict[str, Any]:
    """One candidate, in this process (run in a child process: memory is per process)."""
    dist, load = CANDIDATES[name]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    guess = load()
    guess("warm up")
    load_s = time.perf_counter() - started
    pairs = sample()
    right = {"long": 0, "short": 0}
    total = {"long": 0, "short": 0}
    for lang, text in pairs:
        kind = "long" if len(text) >= 20 else "short"
        total[kind] += 1
        right[kind] += guess(text)[0] == lang
    # Peak RSS once loaded and used on every text (a lazy model is loaded by then too).
    rss_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    started = time.perf_counter()
    for _ in range(repeat):
        for _lang, text in pairs:
            guess(text)
    per_s = repeat * len(pairs) / (time.perf_counter() - started)
    return {
        "candidate": name,
        "long": f"{right['long']}/{total['long']} = {right['long'] / total['long']:.3f}",
        "short": f"{right['short']}/{total['short']} = {right['short'] / total['short']:.3f}",
        "messages_per_s": round(per_s),
        "load_s": round(load_s, 2),
        "rss_mb": round(rss_mb),
        "installed_mb": round(installed_size(dist) / 1e6, 1),
    }


def triage_detect(repeat: int) -> dict[str, Any]:
    from comptoir.triage import language, samples

    counts: dict[str, dict[str, int]] = {
        k: {"right": 0, "unknown": 0, "wrong": 0} for k in ("long", "short")
    }
    wrong: list[str] = []
    pairs = sample()
    for lang, text in pairs:
        kind = "long" if len(text) >= 20 else "short"
        code, confidence = language.detect(text)
        outcome = "right" if code == lang else "unknown" if code == "unknown" else "wrong"
        counts[kind][outcome] += 1
        if outcome == "wrong":
            wrong.append(f"{lang}->{code} {confidence:.2f} {text[:60]!r}")
    unknown_ok = sum(language.detect(t)[0] == "unknown" for t in samples.UNKNOWN)
    started = time.perf_counter()
    for _ in range(repeat):
        for _lang, text in pairs:
            language.detect(text)
    per_s = repeat * len(pairs) / (time.perf_counter() - started)
    return {
        "detect": language.DETECTOR,
        "threshold": language.THRESHOLD,
        "long": counts["long"],
        "short": counts["short"],
        "must_be_unknown": f"{unknown_ok}/{len(samples.UNKNOWN)}",
        "messages_per_s (quotes stripped too)": round(per_s),
        "wrong": wrong,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.repeat)))
        return
    print(f"sample: {len(sample())} labelled texts")
    for name, (dist, _load) in CANDIDATES.items():
        try:
            importlib.metadata.distribution(dist)
        except importlib.metadata.PackageNotFoundError:
            print(f"{name}: not installed, skipped")
            continue
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--repeat", str(args.repeat)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        print(out.stdout.strip())
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comptoir.settings")
    print(json.dumps(triage_detect(args.repeat), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
