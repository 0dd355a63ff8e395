"""The intent of a buyer's message: a linear classifier over words, word pairs and letter
groups (TF-IDF), trained by `triage.training` with scikit-learn and read here with numpy alone.

Why this model (figures in docs/triage.md): buyers write in five languages, without accents,
with typos and SMS spellings; letter groups inside words ("rembours", "erstatt", "reembols")
carry the meaning across those, and a linear model reads a message in well under a millisecond
on one core. The model is stored as plain numpy arrays (`to_bytes`), never pickled: a model
file is data, loading it runs no code, and it survives a scikit-learn upgrade.
"""

from __future__ import annotations

import io
import itertools
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from comptoir.lib import intents

# What is read: the start of a message says what it is about, and this bounds the cost.
MAX_CHARS = 1500
FORMAT = 2

_NOISE = re.compile(r"https?://\S+|www\.\S+|\S+@\S+\.\S+")
_DIGITS = re.compile(r"\d+")
_WORD = re.compile(r"[^\W\d_]+|0|\?")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def normalise(text: str) -> str:
    """Lower case, no accents, no links or addresses, every number the same token."""
    text = _NOISE.sub(" ", text[: MAX_CHARS * 2].lower())
    text = unicodedata.normalize("NFKD", text)
    if not text.isascii():  # only the runs of other characters hold accents to drop
        text = _NON_ASCII.sub(_without_marks, text)
    text = text.replace("ß", "ss")
    return " ".join(_DIGITS.sub(" 0 ", text).split())[:MAX_CHARS]


def _without_marks(run: re.Match[str]) -> str:
    """A run of non-ASCII characters without its combining marks (the accents NFKD split
    off): checked character by character only there, not across the whole text."""
    return "".join(c for c in run.group() if not unicodedata.combining(c))


def words_of(text: str) -> list[str]:
    """The text's words (and "0", "?") as the features are made of them."""
    return _WORD.findall(normalise(text))


def word_features(text: str) -> list[str]:
    """Words and pairs of words."""
    return _word_features(words_of(text))


def _word_features(words: list[str]) -> list[str]:
    return ["w" + w for w in words] + ["b" + a + " " + b for a, b in itertools.pairwise(words)]


# A word's letter groups, cut once per process: buyers' words repeat (bounded, then cleared).
_GRAMS: dict[str, tuple[str, ...]] = {}
CACHE_WORDS = 50_000


def _grams(word: str) -> tuple[str, ...]:
    got = _GRAMS.get(word)
    if got is None:
        padded = f"<{word}>"
        size = len(padded)
        got = tuple("c" + padded[i : i + n] for n in (3, 4, 5) for i in range(size - n + 1))
        if len(_GRAMS) >= CACHE_WORDS:
            _GRAMS.clear()
        _GRAMS[word] = got
    return got


def letter_features(text: str) -> list[str]:
    """The letter groups (3 to 5) of each word: they survive typos, missing accents and
    inflections ("rembours" in remboursé, remboursement, rembourser)."""
    return _letter_features(words_of(text))


def _letter_features(words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        if len(word) >= 3:
            out += _grams(word)
    return out


def features(text: str) -> list[str]:
    """Both kinds: words first ("w", "b"), then letter groups ("c")."""
    words = words_of(text)  # normalised once for both kinds
    return _word_features(words) + _letter_features(words)


@dataclass(frozen=True, slots=True)
class Found:
    """A text's known features as the TF-IDF reads them (`Model.prepare`): computed once for
    the models that share a vocabulary (the intent and the two mood models)."""

    idx: npt.NDArray[np.int64]
    tf: npt.NDArray[Any]  # float32
    blocks: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]  # letter groups, words


@dataclass(frozen=True, slots=True)
class Prediction:
    intent: str  # one of `intents.INTENTS`, or `intents.UNSURE` below the threshold
    confidence: float
    best: str  # the best label even when unsure
    ranked: tuple[tuple[str, float], ...]  # the three best, for the agent's correction menu


class Model:
    """TF-IDF (sublinear counts, l2 per block: words, then letter groups from index
    `letters_from`) then softmax over a linear layer."""

    def __init__(
        self,
        *,
        terms: list[str],
        idf: npt.NDArray[np.float32],
        coef: npt.NDArray[np.float32],
        intercept: npt.NDArray[np.float32],
        classes: list[str],
        threshold: float,
        letters_from: int,
    ) -> None:
        self.letters_from = letters_from
        self.index = {term: i for i, term in enumerate(terms)}
        self.terms = terms
        self.idf = idf.astype(np.float32)
        self.coef = coef.astype(np.float32)  # (terms, classes): one row gathered per feature
        self.intercept = intercept.astype(np.float32)
        self.classes = classes
        self.threshold = threshold
        self._word_ids: dict[str, tuple[int, ...]] = {}  # `lookup_words`' cache

    def lookup(self, counts: Counter[str]) -> list[tuple[int, int]]:
        """(index, count) of the counted features this model knows."""
        index = self.index
        return [(i, c) for f, c in counts.items() if (i := index.get(f)) is not None]

    def lookup_words(self, words: list[str]) -> list[tuple[int, int]]:
        """`lookup(Counter(features(text)))` from the text's `words_of`, in the same order
        (first occurrence) with the same counts: each word's known letter groups are looked
        up once per process (the features' strings are neither built nor counted again)."""
        index = self.index
        known = [i for f in _word_features(words) if (i := index.get(f)) is not None]
        cache = self._word_ids
        for word in words:
            if len(word) < 3:
                continue
            ids = cache.get(word)
            if ids is None:
                ids = tuple(i for f in _grams(word) if (i := index.get(f)) is not None)
                if len(cache) >= CACHE_WORDS:
                    cache.clear()
                cache[word] = ids
            known += ids
        return list(Counter(known).items())

    def prepare(self, found: list[tuple[int, int]]) -> Found | None:
        """What `probabilities` computes of `found` before it weighs it (None: nothing known)."""
        if not found:
            return None
        idx = np.array([i for i, _ in found], dtype=np.int64)
        tf = 1.0 + np.log(np.array([c for _, c in found], dtype=np.float32))
        letters = idx >= self.letters_from
        return Found(idx, tf, (letters, ~letters))

    def shares_terms(self, other: Model) -> bool:
        return self.index is other.index

    def share_terms(self, other: Model) -> None:
        """Use `other`'s vocabulary object when it is the same list of terms: a text's
        features are then looked up once for both models."""
        if self.terms == other.terms and self.letters_from == other.letters_from:
            self.terms, self.index = other.terms, other.index
            self._word_ids = other._word_ids

    def probabilities(
        self,
        text: str,
        counts: Counter[str] | None = None,
        found: list[tuple[int, int]] | None = None,
        prepared: Found | None = None,
    ) -> npt.NDArray[np.float64]:
        """`counts` (the text's `features` counted), `found` (`lookup` of them) or `prepared`
        (`prepare` of that, by a model of the same vocabulary): given by a caller that reads
        the text with several models."""
        if prepared is None:
            if found is None:
                found = self.lookup(Counter(features(text)) if counts is None else counts)
            prepared = self.prepare(found)
        if prepared is None:
            return np.full(len(self.classes), 1.0 / len(self.classes))
        idx = prepared.idx
        values = prepared.tf * self.idf[idx]
        # Two blocks, each of length one (as fitted): words and letter groups weigh alike
        # however many letter groups a text has.
        for block in prepared.blocks:
            norm = np.linalg.norm(values[block])
            if norm:
                values[block] /= norm
        scores = (values @ self.coef[idx] + self.intercept).astype(np.float64)
        scores = np.exp(scores - scores.max())
        return np.asarray(scores / scores.sum(), dtype=np.float64)

    def predict(
        self,
        text: str,
        counts: Counter[str] | None = None,
        found: list[tuple[int, int]] | None = None,
        prepared: Found | None = None,
    ) -> Prediction:
        probs = self.probabilities(text, counts, found, prepared)
        order = np.argsort(-probs)[:3]
        ranked = tuple((self.classes[i], round(float(probs[i]), 4)) for i in order)
        best, confidence = ranked[0]
        intent = best if confidence >= self.threshold else intents.UNSURE
        return Prediction(intent, confidence, best, ranked)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.array([FORMAT]),
            terms=np.frombuffer("\n".join(self.terms).encode(), dtype=np.uint8),
            classes=np.frombuffer("\n".join(self.classes).encode(), dtype=np.uint8),
            idf=self.idf,
            coef=self.coef.astype(np.float16),  # half the size, the same answers
            intercept=self.intercept,
            threshold=np.array([self.threshold]),
            letters_from=np.array([self.letters_from]),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Model:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            if int(arrays["format"][0]) != FORMAT:
                raise ValueError(f"intent model format {int(arrays['format'][0])} is not {FORMAT}")
            return cls(
                terms=arrays["terms"].tobytes().decode().split("\n"),
                classes=arrays["classes"].tobytes().decode().split("\n"),
                idf=arrays["idf"],
                coef=arrays["coef"].astype(np.float32),
                intercept=arrays["intercept"],
                threshold=float(arrays["threshold"][0]),
                letters_from=int(arrays["letters_from"][0]),
            )
