# TEMP STUB (replaced by the entities branch)
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Reading:
    urgency: str
    sentiment: str
    reasons: tuple[str, ...]


def read(text: str, language: str = "", *, unanswered: int = 0, intent: str = "") -> Reading:
    return Reading("high" if unanswered >= 3 else "normal", "neutral", ())
