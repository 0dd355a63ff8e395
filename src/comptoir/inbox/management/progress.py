"""The progress bar of the bulk imports (`comptoir import`, `comptoir import-history`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


@contextmanager
def progress_bar(total: int | None, *, label: str = "importing") -> Iterator[Callable[[int], None]]:
    """A bar on standard error (standard output keeps the summary a script may read); yields
    the callback `ingest_many(progress=...)` calls with each batch's size."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} messages"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as progress:
        bar = progress.add_task(label, total=total)
        yield lambda n: progress.advance(bar, n)
