"""Triage's per-process caches (a word's letter groups and known terms, a text's language) and
the features shared by the three models change no reading: a batch read with the caches warm
gives what each message read alone with them cleared gives, and the shortcuts compute what
the plain paths compute."""

from __future__ import annotations

import unicodedata
from collections import Counter

import numpy as np
import pytest

from comptoir.triage import dataset, intent, language, reading, training
from comptoir.triage.intent import Model

SHORT = ["", "ok", "Merci !", "Danke", "12345678", "?", "Re: ma commande", "svp"]


@pytest.fixture(scope="module")
def sample() -> list[str]:
    texts = [e.text for e in dataset.load("heldout")]
    return texts[:: max(1, len(texts) // 150)] + SHORT


def _clear(model: Model) -> None:
    intent._GRAMS.clear()
    model._word_ids.clear()
    language._seen.clear()


def test_a_batch_reads_as_one_message_at_a_time(sample: list[str]) -> None:
    model, mood = training.base_model(), training.mood_models()
    alone = []
    for text in sample:
        _clear(model)
        alone.append(reading.read(text, model, mood=mood, subject="Remboursement", unanswered=2))
    # The batch twice over: the second pass reads every word and text from the caches.
    batch = [
        reading.read(t, model, mood=mood, subject="Remboursement", unanswered=2) for t in sample
    ]
    again = [
        reading.read(t, model, mood=mood, subject="Remboursement", unanswered=2) for t in sample
    ]
    assert batch == alone
    assert again == alone
    assert len({r.intent for r in alone}) > 3  # a varied sample, not one answer


def test_the_shortcuts_compute_what_the_plain_paths_compute(sample: list[str]) -> None:
    model, mood = training.base_model(), training.mood_models()
    for text in sample:
        counted = model.lookup(Counter(intent.features(text)))
        assert model.lookup_words(intent.words_of(text)) == counted  # same order, same counts
        prepared = model.prepare(counted)
        for m in (model, mood.sentiment, mood.urgency):
            plain = m.probabilities(text)
            assert np.array_equal(m.probabilities(text, prepared=prepared), plain)
    uncached = intent.word_features("Remboursé svp") + intent.letter_features("Remboursé svp")
    assert intent.features("Remboursé svp") == uncached


def test_accents_are_dropped_as_a_character_by_character_filter_drops_them() -> None:
    def plain(text: str) -> str:
        text = unicodedata.normalize("NFKD", text)
        return "".join(c for c in text if not unicodedata.combining(c))

    # Every character there is, in runs long enough to cross ASCII and the rest.
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
    for start in range(0, len(every), 50_000):
        chunk = "Ça reçoit " + every[start : start + 50_000] + " ok"
        assert intent._NON_ASCII.sub(
            intent._without_marks, unicodedata.normalize("NFKD", chunk)
        ) == plain(chunk)
    assert intent.normalise("Remboursé, Straße, Łódź") == "rembourse, strasse, łodz"
