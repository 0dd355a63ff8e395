"""Export files read one row (or one mail) at a time: never the whole file in memory."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FORMATS = ("csv", "jsonl", "mbox")

# A bad row's line and what is wrong with it, or the row itself.
type Row = tuple[int, dict[str, Any] | str]

_FROM_LINE = re.compile(rb"^From ")
_QUOTED_FROM = re.compile(rb"^>(>*From )")


def rows(path: Path, fmt: str) -> Iterator[Row]:
    """(line number, row) for CSV and JSON lines; a row that cannot be read is its error."""
    if fmt == "csv":
        yield from _csv_rows(path)
    elif fmt == "jsonl":
        yield from _jsonl_rows(path)
    else:
        raise ValueError(f"{fmt}: not a row format")


def count(path: Path, fmt: str) -> int:
    """How many rows (or mails) the file holds, for the progress bar: one quick pass."""
    if fmt == "mbox":
        return sum(1 for _ in mails(path))
    if fmt == "csv":
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
            return max(0, sum(1 for _ in csv.reader(fh)) - 1)
    with path.open("rb") as fh:
        return sum(1 for line in fh if line.strip())


def _csv_rows(path: Path) -> Iterator[Row]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.DictReader(fh)
        start = 2  # the header is line 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, f"unreadable CSV: {exc}"
            else:
                if None in row:
                    yield start, "more values than columns"
                else:
                    yield start, row
            start = reader.line_num + 1


def _jsonl_rows(path: Path) -> Iterator[Row]:
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                yield number, f"not JSON: {exc}"
                continue
            yield (number, row) if isinstance(row, dict) else (number, "not a JSON object")


def mails(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw mail) for each mail of an mbox file, its ">From " lines restored."""
    buffer = io.BytesIO()
    start, previous_blank, started = 1, True, False
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if previous_blank and _FROM_LINE.match(line):
                if started:
                    yield start, _without_separator(buffer.getvalue())
                buffer, start, started = io.BytesIO(), number, True
            elif started:
                buffer.write(_QUOTED_FROM.sub(rb"\1", line))
            previous_blank = not line.strip()
    if started:
        yield start, _without_separator(buffer.getvalue())


def _without_separator(mail: bytes) -> bytes:
    """The blank line before the next "From " line belongs to the mbox, not to the mail."""
    for blank in (b"\r\n", b"\n"):
        if mail.endswith(blank * 2):
            return mail[: -len(blank)]
    return mail
