"""One message read: language, intent, urgency, sentiment and entities together, the same way
for the ingest task, the CLI and the benchmark."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from comptoir.lib import intents, quotes
from comptoir.triage import entities, language, urgency
from comptoir.triage.intent import Found, Model, Prediction, words_of
from comptoir.triage.training import Mood

# A new text shorter than this says little: the subject is read with it ("Remboursement").
SHORT_TEXT = 40
_REPLY = re.compile(r"\s*(re|aw|r|sv|antw|rif)\s*:", re.IGNORECASE)
# What the classifier reads (the start of a message says what it is about).
MAX_CHARS = 4000


@dataclass(frozen=True, slots=True)
class Reading:
    language: str
    language_confidence: float
    intent: str
    confidence: float
    intent_source: str  # "marketplace" when the marketplace said it, else "triage"
    urgency: str
    sentiment: str
    reasons: tuple[str, ...] = ()
    entities: list[dict[str, str]] = field(default_factory=list)
    ranked: tuple[tuple[str, float], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "language_confidence": round(self.language_confidence, 3),
            "intent": self.intent,
            "confidence": round(self.confidence, 3),
            "intent_source": self.intent_source,
            "alternatives": [{"intent": i, "confidence": c} for i, c in self.ranked[1:]],
            "urgency": self.urgency,
            "sentiment": self.sentiment,
            "reasons": list(self.reasons),
            "entities": self.entities,
        }


def new_text(text: str) -> str:
    """The buyer's own words: quoted history and signature cut off."""
    text = text[:MAX_CHARS]
    return quotes.new_text(text) if "\n" in text.strip() else text


def read(
    text: str,
    model: Model,
    *,
    mood: Mood | None = None,
    subject: str = "",
    hint: str = "",
    marketplace_intent: str = "",
    unanswered: int = 0,
    is_new_text: bool = False,
) -> Reading:
    """Read one message. `is_new_text`: `text` is already the buyer's new words (ingest cut
    them); `marketplace_intent`: what the marketplace said, taken before the classifier;
    `mood`: the learnt sentiment and urgency models (without them, the lexicons alone)."""
    words = text[:MAX_CHARS] if is_new_text else new_text(text)
    lang, lang_confidence = language.detect(words if words.strip() else subject)
    ranked: tuple[tuple[str, float], ...] = ()
    tokens = words_of(words)  # normalised and cut once for the three models
    found_terms = model.lookup_words(tokens)
    prepared = model.prepare(found_terms)
    if marketplace_intent:
        intent, confidence, source = marketplace_intent, 1.0, "marketplace"
    else:
        prediction = _predict(model, words, subject, found_terms, prepared)
        intent, confidence, ranked = prediction.intent, prediction.confidence, prediction.ranked
        source = "triage"
    said = urgency.read(words, lang, unanswered=unanswered, intent=intent)
    pressing, sounds = said.urgency, said.sentiment
    if mood is not None and words.strip():
        # The learnt models read the whole message; the lexicons' threats, repeats and safety
        # words still make it urgent (measured: 0.88 of the writers' urgencies, against 0.68
        # for the lexicons alone and 0.87 for the model alone; sentiment 0.80 against 0.68).
        # The mood models share the base model's terms: looked up once (another when a
        # seller's own intent model is in use).
        if mood.sentiment.shares_terms(model):
            shared = prepared
        else:
            shared = mood.sentiment.prepare(mood.sentiment.lookup_words(tokens))
        sounds = mood.sentiment.predict(words, prepared=shared).best
        pressing = mood.urgency.predict(words, prepared=shared).best
        pressing = "high" if said.urgency == "high" else pressing
    found = entities.extract(words, hint=hint)
    return Reading(
        language=lang,
        language_confidence=lang_confidence,
        intent=intent,
        confidence=confidence,
        intent_source=source,
        urgency=pressing,
        sentiment=sounds,
        reasons=said.reasons,
        entities=entities.to_json(found),
        ranked=ranked,
    )


def _predict(
    model: Model,
    words: str,
    subject: str,
    found: list[tuple[int, int]],
    prepared: Found | None,
) -> Prediction:
    prediction = model.predict(words, found=found, prepared=prepared)
    # A short text the model cannot place takes its subject along ("Remboursement" / "svp"),
    # unless the subject is the one of the message answered ("Re: ..."). Only then: a thread
    # keeps its first subject, and "Merci !" under "Où est ma commande ?" is a thanks.
    if (
        prediction.intent == intents.UNSURE
        and len(words.strip()) < SHORT_TEXT
        and subject.strip()
        and not _REPLY.match(subject)
    ):
        return model.predict(f"{subject.strip()}\n{words}")
    return prediction


def asks_something(text: str) -> bool:
    """A question or a request in the buyer's words: a "thanks" that asks something still
    needs an answer."""
    return "?" in text
