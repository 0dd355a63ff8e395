"""The language of a buyer's new text: py3langid, restricted to the languages we support.

Why py3langid (figures in docs/triage.md, `bench/triage_language.py`): as accurate as lingua on
our sample, seven times faster, a 5 MB package against 300 MB. Short texts are where any
detector guesses: below `THRESHOLD` (measured on the held-out sample) the answer is "unknown",
and the words buyers send alone ("Merci !", "Danke") are known by heart.
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING

from comptoir.lib import quotes

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

DETECTOR = "py3langid"
LANGUAGES = ("fr", "en", "de", "es", "it", "nl", "pt", "pl")
UNKNOWN = "unknown"
# Below this the best guess is wrong too often (see docs/triage.md): "unknown" instead.
THRESHOLD = 0.6
# Fewer letters than this tell nothing ("ok", "3x", an order number).
MIN_LETTERS = 3
# What is read: the first few thousand characters say it all, and bound the cost.
MAX_CHARS = 2000

# Whole messages buyers send in a word or two, too short for a detector: known by heart.
_SHORT: dict[str, str] = {
    **dict.fromkeys(("merci", "merci beaucoup", "bonjour", "bonsoir", "bien recu"), "fr"),
    **dict.fromkeys(("thanks", "thank you", "thx", "many thanks", "cheers", "hello"), "en"),
    **dict.fromkeys(("danke", "danke schon", "vielen dank", "hallo", "guten tag"), "de"),
    **dict.fromkeys(("gracias", "muchas gracias", "hola", "buenos dias"), "es"),
    **dict.fromkeys(("grazie", "grazie mille", "buongiorno", "ciao"), "it"),
    **dict.fromkeys(("bedankt", "dank je", "dank je wel", "dank u wel", "goedemiddag"), "nl"),
    **dict.fromkeys(("obrigado", "obrigada", "muito obrigado", "muito obrigada", "ola"), "pt"),
    **dict.fromkeys(("dziekuje", "dzieki", "dzien dobry"), "pl"),
}
_ACCENTS = str.maketrans("àâäáãçéèêëíîïñóôöõúùûüœßęąłńśźżć", "aaaaaceeeeiiinoooouuuuosealnszzc")
# Not words: links, addresses, order and parcel numbers (digits pull towards any language).
_NOISE = re.compile(r"https?://\S+|\S+@\S+|\S*\d\S*")
_LETTER = re.compile(r"[^\W\d_]")

_lock = threading.Lock()
_identifier: LanguageIdentifier | None = None
# Texts already classified (the detector reads every byte; buyers send the same short texts
# again and again, an import reads a thread's quoted repeats): bounded, then cleared.
CACHE_TEXTS = 20_000
_seen: dict[str, tuple[str, float]] = {}


def _model() -> LanguageIdentifier:
    """Loaded once per process, on first use (under a second)."""
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            identifier.set_languages(list(LANGUAGES))
            _identifier = identifier
        return _identifier


def detect(text: str) -> tuple[str, float]:
    """(language code, confidence 0-1) of the new part of `text`, or ("unknown", confidence)."""
    text = text[: MAX_CHARS * 2]
    # Quoted history takes lines: a one-line text has none (and skips the costly parser).
    new = quotes.new_text(text) if "\n" in text.strip() else text
    words = _NOISE.sub(" ", new[:MAX_CHARS])
    letters = len(_LETTER.findall(words))
    if letters < MIN_LETTERS:
        return UNKNOWN, 0.0
    known = _SHORT.get(" ".join(re.findall(r"\w+", words.lower().translate(_ACCENTS))))
    if known:
        return known, 0.9
    found = _seen.get(words)
    if found is None:
        code, confidence = _model().classify(words)
        found = (UNKNOWN if confidence < THRESHOLD else str(code)), float(confidence)
        if len(_seen) >= CACHE_TEXTS:
            _seen.clear()
        _seen[words] = found
    return found
