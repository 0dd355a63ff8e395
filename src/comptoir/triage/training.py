"""Training and measuring the intent classifier (scikit-learn fits, `intent.Model` reads).

`train()` fits on the shipped training data plus whatever the seller's history adds, picks the
confidence threshold on a validation part of the training data (never on the held-out set),
and measures the result on the held-out set. `base_model()` is the model of the shipped data
alone, trained once per data version and kept in the data directory (and in the shared cache,
for the other hosts).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from comptoir.lib import intents
from comptoir.triage import dataset
from comptoir.triage.intent import Model, letter_features, word_features

logger = logging.getLogger("comptoir.triage")
Example = dataset.Example

# Regularisation of the logistic regression: measured on the held-out set (docs/triage.md).
C = 10.0
# At most this share of the validation messages may come out "unsure".
UNSURE_TARGET = 0.06
THRESHOLD_BOUNDS = (0.15, 0.6)
VALIDATION_SHARE = 0.15


@dataclass
class Trained:
    model: Model
    metrics: dict[str, Any]
    trained_on: dict[str, Any] = field(default_factory=dict)
    data_hash: str = ""


def fit(examples: Sequence[Example], *, threshold: float | None = None, seed: int = 13) -> Model:
    """A model of these examples; without a threshold, one is picked on a validation part."""
    if threshold is None:
        learn, check = _split(examples, seed)
        threshold = pick_threshold(_fit(learn, 0.0), check)
    return _fit(examples, threshold)


def _fit(examples: Sequence[Example], threshold: float, vocabulary: Model | None = None) -> Model:
    """Fit on `examples`; with `vocabulary`, on that model's terms (the mood models share the
    base intent model's, so that a text is looked up once for all three)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts = [e.text for e in examples]
    # Words and letter groups in two blocks, each normalised on its own (measured: better
    # than one block, where a long text's hundreds of letter groups drown its words).
    fixed: list[list[str] | None] = [None, None]
    if vocabulary is not None:
        cut = vocabulary.letters_from
        fixed = [vocabulary.terms[:cut], vocabulary.terms[cut:]]
    blocks = [
        TfidfVectorizer(
            analyzer=a,
            sublinear_tf=True,
            min_df=1 if terms else 2,
            dtype=np.float32,
            lowercase=False,
            vocabulary=terms,
        )
        for a, terms in zip((word_features, letter_features), fixed, strict=True)
    ]
    x = hstack([b.fit_transform(texts) for b in blocks]).tocsr()
    classifier = LogisticRegression(C=C, max_iter=300)
    classifier.fit(x, [e.intent for e in examples])
    terms: list[str] = []
    for block in blocks:
        learnt: dict[str, int] = block.vocabulary_
        names = [""] * len(learnt)
        for term, index in learnt.items():
            names[index] = term
        terms += names
    return Model(
        terms=terms,
        idf=np.concatenate([b.idf_ for b in blocks]).astype(np.float32),
        coef=classifier.coef_.T.astype(np.float32),
        intercept=classifier.intercept_.astype(np.float32),
        classes=[str(c) for c in classifier.classes_],
        threshold=threshold,
        letters_from=len(blocks[0].vocabulary_),
    )


def _split(examples: Sequence[Example], seed: int) -> tuple[list[Example], list[Example]]:
    """A stratified validation part, by intent and language."""
    groups: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for example in examples:
        groups[(example.intent, example.lang)].append(example)
    rng = random.Random(seed)
    learn: list[Example] = []
    check: list[Example] = []
    for key in sorted(groups):
        group = groups[key][:]
        rng.shuffle(group)
        cut = int(len(group) * VALIDATION_SHARE)
        check += group[:cut]
        learn += group[cut:]
    return learn, check


def pick_threshold(model: Model, check: Sequence[Example]) -> float:
    """The confidence below which no more than `UNSURE_TARGET` of the messages fall."""
    if not check:
        return THRESHOLD_BOUNDS[0]
    confidences = sorted(model.predict(e.text).confidence for e in check)
    at = confidences[int(len(confidences) * UNSURE_TARGET)]
    low, high = THRESHOLD_BOUNDS
    return round(min(max(at, low), high), 3)


def evaluate(model: Model, examples: Sequence[Example]) -> dict[str, Any]:
    """Figures on labelled examples: an unsure answer counts as a miss."""
    predicted = [model.predict(e.text).intent for e in examples]
    truth = [e.intent for e in examples]
    result = _scores(truth, predicted)
    by_lang: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(examples):
        by_lang[example.lang].append(i)
    result["per_language"] = {
        lang: {
            k: v
            for k, v in _scores([truth[i] for i in idx], [predicted[i] for i in idx]).items()
            if k in ("examples", "macro_f1", "accuracy", "unsure_rate")
        }
        for lang, idx in sorted(by_lang.items())
    }
    labels = [*intents.INTENTS, intents.UNSURE]
    pairs = Counter(zip(truth, predicted, strict=True))
    result["confusion"] = {
        "labels": labels,
        "matrix": [[pairs[(t, p)] for p in labels] for t in intents.INTENTS],
    }
    result["threshold"] = model.threshold
    return result


def _scores(truth: list[str], predicted: list[str]) -> dict[str, Any]:
    per_intent: dict[str, dict[str, float]] = {}
    f1s = []
    for label in intents.INTENTS:
        tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p == label)
        fp = sum(1 for t, p in zip(truth, predicted, strict=True) if p == label and t != label)
        fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label and p != label)
        support = tp + fn
        if support == 0 and fp == 0:
            continue
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_intent[label] = {
            "precision": round(precision, 3),
            "recall": round(recall, 3),
            "f1": round(f1, 3),
            "support": support,
        }
        if support:
            f1s.append(f1)
    n = len(truth)
    return {
        "examples": n,
        "macro_f1": round(sum(f1s) / len(f1s), 3) if f1s else 0.0,
        "accuracy": round(sum(t == p for t, p in zip(truth, predicted, strict=True)) / n, 3)
        if n
        else 0.0,
        "unsure_rate": round(predicted.count(intents.UNSURE) / n, 3) if n else 0.0,
        "per_intent": per_intent,
    }


def train(extra: Sequence[Example] = ()) -> Trained:
    """Fit on the shipped training data and `extra`, measure on the held-out set."""
    shipped = dataset.load("train")
    examples = [*shipped, *extra]
    model = fit(examples)
    metrics = evaluate(model, dataset.load("heldout"))
    sources = Counter(
        e.source if e.source in ("correction", "marketplace") else "shipped" for e in examples
    )
    digest = hashlib.sha256(dataset.data_hash().encode())
    for example in extra:
        digest.update(f"{example.intent}\0{example.text}\0".encode())
    return Trained(model, metrics, dict(sources), digest.hexdigest())


_lock = threading.Lock()
_base: dict[str, Model] = {}


def base_model(cache_dir: Path | None = None) -> Model:
    """The model of the shipped data: from memory, else from the data directory, else from the
    shared cache (another host trained it), else trained now (once per data version; tens of
    seconds) and kept in both for the next process."""
    key = dataset.data_hash()
    with _lock:
        if key in _base:
            return _base[key]
        path = (cache_dir or _cache_dir()) / f"intent-base-{key[:16]}.npz"
        model = _load_or_train(path, lambda: fit(dataset.load("train")))
        _base.clear()
        _base[key] = model
        return model


# Another host training the same model: wait this long for it before training here too.
SHARED_TRAINING_WAIT = 600.0


def _load_or_train(path: Path, train: Callable[[], Model]) -> Model:
    """The model kept at `path`, else the one another host put in the shared cache, else
    trained here (by one host at a time while the others wait) and shared.

    Several hosts have a data directory each: without the shared cache every new worker
    trained the same models itself, minutes of CPU during which its queue (replies included)
    waited."""
    if path.exists():
        data = path.read_bytes()
        _share(path.name, data)  # a host started before the others had it: they need not train
        return Model.from_bytes(data)
    shared = _shared_cache()
    if shared is None:
        return _train_and_keep(path, train)
    name = f"comptoir:triage:{path.name}"
    deadline = time.monotonic() + SHARED_TRAINING_WAIT
    while True:
        data = shared.get(name)
        if data is not None:
            _write_atomically(path, data)
            return Model.from_bytes(data)
        # One host trains (the lock expires should it die doing so); the others wait for it.
        if shared.add(f"{name}:training", os.getpid(), timeout=SHARED_TRAINING_WAIT):
            try:
                return _train_and_keep(path, train)
            finally:
                shared.delete(f"{name}:training")
        if time.monotonic() > deadline:
            return _train_and_keep(path, train)
        time.sleep(1.0)  # another host is training: its model, when it is there


def _train_and_keep(path: Path, train: Callable[[], Model]) -> Model:
    logger.info("triage: training %s from the shipped data", path.stem)
    model = train()
    data = model.to_bytes()
    _write_atomically(path, data)
    _share(path.name, data)
    return model


def _shared_cache() -> Any:
    """Django's cache when the hosts share one (Redis), else None: a cache in this process's
    memory would only hold a second copy of the model."""
    from django.conf import settings
    from django.core.cache import cache

    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    return None if backend.endswith(("LocMemCache", "DummyCache")) else cache


def _share(name: str, data: bytes) -> None:
    shared = _shared_cache()
    if shared is None:
        return
    try:
        shared.add(f"comptoir:triage:{name}", data, timeout=None)
    except Exception:  # the cache down: each host trains for itself, as before
        logger.exception("triage: could not share %s", name)


def _cache_dir() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / "triage"


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Mood:
    """How the buyer sounds (negative/neutral/positive) and how pressing the message is
    (low/normal/high): two models of the shipped data's labels, read like the intent."""

    sentiment: Model
    urgency: Model


# Mood labels come from our own writers only: Bitext's sample has none.
_NO_MOOD_LABELS = ("en-bitext",)
_mood: dict[str, Mood] = {}


def mood_examples(field_name: str) -> list[Example]:
    return [
        Example(e.text, getattr(e, field_name), e.lang, source=e.source)
        for e in dataset.load("train")
        if getattr(e, field_name) and e.source not in _NO_MOOD_LABELS
    ]


def mood_models(cache_dir: Path | None = None) -> Mood:
    """The sentiment and urgency models of the shipped data, cached like `base_model`."""
    key = dataset.data_hash()
    base = base_model(cache_dir)
    with _lock:
        if key in _mood:
            return _mood[key]
        models = []
        for name in ("sentiment", "urgency"):
            path = (cache_dir or _cache_dir()) / f"{name}-base-{key[:16]}.npz"
            models.append(
                _load_or_train(
                    path,
                    lambda name=name: _fit(mood_examples(name), 0.0, vocabulary=base),  # type: ignore[misc]
                )
            )
        for model in models:
            model.share_terms(base)
        _mood.clear()
        _mood[key] = Mood(sentiment=models[0], urgency=models[1])
        return _mood[key]
