"""The spelling check: words the reply's language does not know, with a suggestion."""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator

from django.utils.translation import gettext as _

from comptoir.automation.check_patterns import (
    EMAIL_RE,
    GREETINGS,
    URL_RE,
    Found,
    buyer_names,
    fold,
    reply_language,
)
from comptoir.automation.templating import LANGUAGES
from comptoir.inbox.actions import Draft

WORD_RE = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")


@functools.cache
def _speller(language: str) -> object | None:
    from spellchecker import SpellChecker

    try:
        return SpellChecker(language=language, distance=1)
    except ValueError:
        return None


_ES_IT_ENDINGS = (
    "ían",
    "ías",
    "ía",
    "emo",
    "ete",
    "anno",
    "mos",
    "nos",
    "me",
    "se",
    "lo",
    "la",
    "le",
    "ó",
    "á",
    "é",
    "í",
    "à",
    "è",
    "ì",
    "ò",
    "ù",
)


def _inflected(word: str, speller: object) -> bool:
    """Spanish and Italian verb forms the dictionaries lack (salió, llegará, llámenos,
    arriverà): the word is taken as right when its stem is a known infinitive."""
    for ending in _ES_IT_ENDINGS:
        if not word.endswith(ending) or len(word) - len(ending) < 3:
            continue
        stem = word[: -len(ending)]
        bases = {stem, fold(stem)}
        candidates = set()
        for base in bases:
            for b in (base, base[:-1], base[:-2]):
                candidates |= {
                    b,
                    b + "e",
                    b + "r",
                    b + "ar",
                    b + "er",
                    b + "ir",
                    b + "are",
                    b + "ere",
                }
                candidates.add(b + "ire")
        if speller.known(c for c in candidates if len(c) > 3):  # type: ignore[attr-defined]
            return True
    return False


def _unknown(parts: list[str], language: str, speller: object) -> set[str]:
    unknown: set[str] = speller.unknown(parts)  # type: ignore[attr-defined]
    if unknown and language in ("es", "it"):
        unknown = {u for u in unknown if not _inflected(u, speller)}
    if unknown and language == "de":
        unknown = {u for u in unknown if not _compound(u, speller)}
    return unknown


def _compound(word: str, speller: object) -> bool:
    """German compounds the dictionary lacks (Sendungsnummer = Sendung + s + Nummer)."""
    known = speller.known  # type: ignore[attr-defined]
    for cut in range(3, len(word) - 2):
        head, tail = word[:cut], word[cut:]
        if not known([tail]) and not _compound_tail(tail, speller):
            continue
        if known([head]) or (head.endswith("s") and known([head[:-1]])):
            return True
    return False


def _compound_tail(tail: str, speller: object) -> bool:
    known = speller.known  # type: ignore[attr-defined]
    return any(known([tail[:cut]]) and known([tail[cut:]]) for cut in range(3, len(tail) - 2))


# A word of the reply to check: as written, its span, and its parts ("l'adresse": "adresse").
Word = tuple[str, int, int, list[str]]
MOST_FOUND = 20


def check_spelling(draft: Draft) -> Iterable[Found]:
    words = _words_to_check(draft)
    language = reply_language(draft.conversation)
    speller = _speller(language)
    if speller is None or not words:
        return
    language, speller = _reply_language(words, language, speller)
    for word, start, end, unknown in itertools.islice(
        _misspelt(words, language, speller), MOST_FOUND
    ):
        yield _spelling_message(word, unknown, speller), start, end


def _ignored(draft: Draft) -> set[str]:
    """Not words to correct: names (the buyer's, the shop's, the agent's, the products'), and
    greetings; folded."""
    conv = draft.conversation
    ignored = {fold(n) for n in buyer_names(conv)} | {fold(g) for g in GREETINGS}
    for value in (conv.shop.name, draft.actor.get_full_name() if draft.actor else ""):
        ignored |= {fold(p) for p in value.split()}
    if conv.order is not None:
        for item in conv.order.items or []:
            if isinstance(item, dict):
                ignored |= {fold(p) for p in str(item.get("title", "")).split()}
    return ignored


def _words_to_check(draft: Draft) -> list[Word]:
    text = draft.text
    # Not words either: links and addresses.
    skip = [(m.start(), m.end()) for r in (URL_RE, EMAIL_RE) for m in r.finditer(text)]
    ignored = _ignored(draft)
    words: list[Word] = []
    sentence_start = True
    for match in WORD_RE.finditer(text):
        word = match.group(0)
        at_start = sentence_start
        tail = text[match.end() : match.end() + 2]
        sentence_start = tail[:1] in ".!?:" or "\n" in tail
        if any(s <= match.start() < e for s, e in skip):
            continue
        if len(word) < 3 or fold(word) in ignored or word.isupper():
            continue
        # A capitalised word inside a sentence is a name (a product, a town, a carrier).
        if word[0].isupper() and not at_start:
            continue
        parts = [p for p in re.split(r"['\u2019-]", word.lower()) if len(p) > 2]
        if parts:
            words.append((word, match.start(), match.end(), parts))
    return words


def _reply_language(words: list[Word], language: str, speller: object) -> tuple[str, object]:
    """The answer may be in another language than the buyer's message was detected in: when
    most words are unknown, the language that knows the most of them is taken."""
    flat = [p for w in words for p in w[3]]
    if len(flat) < 4 or len(_unknown(flat, language, speller)) <= len(flat) * 0.4:
        return language, speller
    scores = []
    for other in LANGUAGES:
        other_speller = _speller(other)
        if other_speller is not None:
            scores.append((len(_unknown(flat, other, other_speller)), other, other_speller))
    best = min(scores, key=lambda t: t[0])
    return best[1], best[2]


def _misspelt(
    words: list[Word], language: str, speller: object
) -> Iterator[tuple[str, int, int, set[str]]]:
    """The words with unknown parts, and those parts."""
    for word, start, end, parts in words:
        unknown = _unknown(parts, language, speller)
        if unknown:
            yield word, start, end, unknown


def _spelling_message(word: str, unknown: set[str], speller: object) -> str:
    guess = speller.correction(sorted(unknown)[0])  # type: ignore[attr-defined]
    if guess and guess not in unknown:
        return _("Spelling: “%(word)s” (did you mean “%(guess)s”?)") % {
            "word": word,
            "guess": guess,
        }
    return _("Spelling: “%(word)s”") % {"word": word}
