"""FAQ mining: the buyer questions that come back, grouped by meaning.

Per (language, intent) the new text of every buyer message becomes a TF-IDF vector (letter groups
of 3 to 5 inside words, which survive typos and missing accents, plus words), and a greedy
"leader" clustering joins each message to the first cluster whose leader is close enough
(cosine), else makes it the leader of a new one. It is one pass of sparse products, chunk by
chunk: linear in messages times clusters, 50,000 messages in seconds on one core
(`bench/faq.py`), where an agglomerative clustering would be quadratic in memory.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from comptoir.triage.intent import normalise

# Chosen on hand-written paraphrases (tests/test_faq.py): paraphrases of one question score
# 0.3 to 0.7 against each other, different questions of one intent under 0.2. Not yet measured
# on a seller's real messages: the first thing to tune.
THRESHOLD = 0.3
MIN_SIZE = 2  # a question asked once is not a frequent one
EXAMPLES = 5
TERMS = 6
LABEL_CHARS = 120
CHUNK = 256
# Not questions: nothing to answer with a template.
SKIPPED_INTENTS = frozenset({"thanks_or_closing", "other", ""})


@dataclass(frozen=True, slots=True)
class Question:
    id: int
    conversation_id: int
    language: str
    intent: str
    text: str
    marketplace: str
    at: datetime


@dataclass(slots=True)
class Found:
    language: str
    intent: str
    members: list[Question]
    label: str = ""
    terms: list[str] = field(default_factory=list)
    examples: list[int] = field(default_factory=list)
    marketplaces: dict[str, int] = field(default_factory=dict)
    recent: int = 0
    previous: int = 0


def vectorise(texts: Sequence[str]) -> tuple[sp.csr_matrix, TfidfVectorizer]:
    """Letter groups and words, TF-IDF, each row of unit length. Returns the word vectoriser
    too: its columns come last in the matrix and name a cluster's terms."""
    cleaned = [normalise(t) for t in texts]
    letters = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(3, 5), strip_accents="unicode", sublinear_tf=True
    )
    words = TfidfVectorizer(
        analyzer="word", strip_accents="unicode", sublinear_tf=True, token_pattern=r"(?u)\b\w\w+\b"
    )
    matrix = sp.hstack([letters.fit_transform(cleaned), words.fit_transform(cleaned)]).tocsr()
    return normalize(matrix), words


def leaders(matrix: sp.csr_matrix, threshold: float = THRESHOLD) -> list[int]:
    """The cluster of each row: rows are joined to the best leader at or above `threshold`,
    else lead a cluster of their own."""
    labels = [-1] * matrix.shape[0]
    lead_rows: list[int] = []
    position: dict[int, int] = {}  # a leader's row -> its cluster
    for start in range(0, matrix.shape[0], CHUNK):
        chunk = matrix[start : start + CHUNK]
        best = np.full(chunk.shape[0], -1)
        if lead_rows:
            sims = (chunk @ matrix[lead_rows].T).toarray()
            top = sims.argmax(axis=1)
            best = np.where(sims[np.arange(len(top)), top] >= threshold, top, -1)
        inner = (chunk @ chunk.T).toarray()
        fresh: list[int] = []  # rows of this chunk that lead, in order
        for i in range(chunk.shape[0]):
            if best[i] < 0:
                close = [j for j in fresh if inner[i, j] >= threshold]
                if close:
                    best[i] = position[start + max(close, key=lambda j: inner[i, j])]
                else:
                    fresh.append(i)
                    position[start + i] = len(lead_rows)
                    best[i] = len(lead_rows)
                    lead_rows.append(start + i)
            labels[start + i] = int(best[i])
    return labels


def refine(matrix: sp.csr_matrix, labels: list[int], threshold: float = THRESHOLD) -> list[int]:
    """One pass of k-means: each row moves to the closest cluster centre at or above `threshold`
    (a centre stands for a cluster better than its first message did); a row close to none keeps
    its own cluster."""
    k = max(labels) + 1
    members = sp.csr_matrix(
        (np.ones(len(labels)), (labels, np.arange(len(labels)))), shape=(k, len(labels))
    )
    centres = normalize(members @ matrix).T.tocsc()
    # A message alone is no centre: it would keep every other single message to itself.
    alone = np.asarray(members.sum(axis=1)).ravel() < MIN_SIZE
    out = list(labels)
    for start in range(0, matrix.shape[0], CHUNK):
        sims = (matrix[start : start + CHUNK] @ centres).toarray()
        sims[:, alone] = -1.0
        top = sims.argmax(axis=1)
        for i, c in enumerate(top):
            if sims[i, c] >= threshold:
                out[start + i] = int(c)
    return out


def _describe(found: Found, rows: sp.csr_matrix, words: TfidfVectorizer, now: datetime) -> None:
    centre = np.asarray(rows.mean(axis=0)).ravel()
    closeness = rows @ centre
    order = np.argsort(-closeness)
    found.members = [found.members[i] for i in order]
    text = " ".join(found.members[0].text.split())
    found.label = text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"
    vocabulary = words.get_feature_names_out()
    word_part = centre[-len(vocabulary) :]
    found.terms = [str(vocabulary[i]) for i in np.argsort(-word_part)[:TERMS] if word_part[i] > 0]
    found.examples = [q.id for q in found.members[:EXAMPLES]]
    found.marketplaces = dict(Counter(q.marketplace for q in found.members).most_common())
    found.recent = sum(1 for q in found.members if q.at >= now - timedelta(days=30))
    found.previous = sum(
        1 for q in found.members if now - timedelta(days=60) <= q.at < now - timedelta(days=30)
    )


def cluster_group(
    questions: Sequence[Question],
    matrix: sp.csr_matrix,
    words: TfidfVectorizer,
    now: datetime,
    threshold: float = THRESHOLD,
) -> list[Found]:
    """The clusters of one (language, intent) group (`matrix`: its rows), largest first."""
    if len(questions) < MIN_SIZE:
        return []
    members: dict[int, list[int]] = defaultdict(list)
    for row, label in enumerate(refine(matrix, leaders(matrix, threshold), threshold)):
        members[label].append(row)
    out = []
    for rows in members.values():
        if len(rows) < MIN_SIZE:
            continue
        found = Found(questions[0].language, questions[0].intent, [questions[r] for r in rows])
        _describe(found, matrix[rows], words, now)
        out.append(found)
    return out


def cluster(
    questions: Iterable[Question], now: datetime, threshold: float = THRESHOLD
) -> list[Found]:
    """Every group's clusters, largest first. The weights (IDF) are learnt per language over
    all its intents: "commande" or "bonjour" weigh little everywhere, where a small group alone
    would weigh them as much as the words that make its question."""
    by_language: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        if q.intent not in SKIPPED_INTENTS and q.text.strip():
            by_language[q.language].append(q)
    out: list[Found] = []
    for asked in by_language.values():
        matrix, words = vectorise([q.text for q in asked])
        rows: dict[str, list[int]] = defaultdict(list)
        for i, q in enumerate(asked):
            rows[q.intent].append(i)
        for group in rows.values():
            picked = [asked[i] for i in group]
            out += cluster_group(picked, matrix[group], words, now, threshold)
    return sorted(out, key=lambda f: -len(f.members))
