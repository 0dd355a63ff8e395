"""The labelled buyer messages shipped with Comptoir (`triage/data/`): `train/` teaches the
base intent model, `heldout/` measures it and is never trained on. Written for Comptoir by
several authors in fr, en, de, es and it (docs/triage.md says how); `train/en-bitext.jsonl`
is a subset of Bitext's English customer-support sample mapped to our labels (CDLA-Sharing-1.0,
data/LICENSE-bitext.txt)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from comptoir.lib import intents

DATA_DIR = Path(__file__).parent / "data"
SPLITS = ("train", "heldout")


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    intent: str
    lang: str
    urgency: str = ""
    sentiment: str = ""
    source: str = ""  # the file it came from, or "correction" / "marketplace"


def files(split: str) -> list[Path]:
    if split not in SPLITS:
        raise ValueError(f"split is one of {SPLITS}, not {split!r}")
    return sorted((DATA_DIR / split).glob("*.jsonl"))


def load(split: str) -> list[Example]:
    """Every example of a split; a bad line is an error naming its file and line."""
    examples: list[Example] = []
    for path in files(split):
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    if row["intent"] not in intents.INTENTS:
                        raise ValueError(f"unknown intent {row['intent']!r}")
                    examples.append(
                        Example(
                            text=str(row["text"]),
                            intent=row["intent"],
                            lang=str(row["lang"]),
                            urgency=str(row.get("urgency", "")),
                            sentiment=str(row.get("sentiment", "")),
                            source=path.stem,
                        )
                    )
                except (ValueError, KeyError, TypeError) as exc:
                    raise ValueError(f"{path.name}:{number}: {exc}") from None
    return examples


# The hash of the files as last read, by what `os.stat` says of them: every triage batch asks
# for it (to find the base models), and reading the 2 MB again cost 20 ms a batch.
_hashed: dict[tuple[tuple[str, int, int, int], ...], str] = {}


def data_hash() -> str:
    """Changes when any shipped example does: the base model is retrained then."""
    paths = [path for split in SPLITS for path in files(split)]
    stamps = []
    for path in paths:
        stat = path.stat()
        stamps.append((str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino))
    key = tuple(stamps)
    found = _hashed.get(key)
    if found is None:
        digest = hashlib.sha256()
        for path in paths:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        found = digest.hexdigest()
        _hashed.clear()
        _hashed[key] = found
    return found
