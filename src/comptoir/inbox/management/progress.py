"""The progress bar of the bulk imports (`comptoir import`, `comptoir import-history`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn


@contextmanager
def progress_bar(total: int | None, *, label: str = "importing") -> Iterator[Callable[[int], None]]:
    """A bar on standard error (standard output keeps the summary a script may read); yields
    the callback `ingest_many(progress=...)` calls with each batch's size.

    Redrawn by the callback (at most ten times a second), never by rich's refresh thread:
    `import-history` forks its triage reader during the import, and a fork while another
    thread holds the console's lock would leave the child a lock nobody releases."""
    with Progress(
        TextColumn(label),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} messages"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        auto_refresh=False,
    ) as progress:
        bar = progress.add_task(label, total=total)
        drawn = 0.0

        def step(n: int) -> None:
            nonlocal drawn
            progress.advance(bar, n)
            if (now := time.monotonic()) - drawn >= 0.1:
                drawn = now
                progress.refresh()

        yield step
