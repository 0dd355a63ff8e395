"""`comptoir import FILE`: bulk import of InboundMessage JSON lines, with a progress bar."""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError

from comptoir.inbox.ingest import Outcome, ingest_many
from comptoir.inbox.management.progress import progress_bar
from comptoir.inbox.models import Channel


class Command(BaseCommand):
    help = (
        "Import InboundMessage records from a JSON-lines file ('-' for standard input). Each raw "
        "line is kept before it is parsed: a bad line ends as a failed inbound record "
        "(see `comptoir inbound list --failed`), the others are stored."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="path to a .jsonl file, or - for standard input")
        parser.add_argument(
            "--channel", type=int, help="channel id for lines that do not name one (channel_id)"
        )
        parser.add_argument("--batch-size", type=int, default=500, help="messages per transaction")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        channel_id = options["channel"]
        if channel_id is not None and not Channel.objects.filter(pk=channel_id).exists():
            raise CommandError(f"no channel with id {channel_id}")
        if not 1 <= options["batch_size"] <= 10_000:
            raise CommandError("--batch-size must be between 1 and 10000")
        path = options["file"]
        if path == "-":
            total = None
            counts = self._run(sys.stdin.buffer, total, channel_id, options)
        else:
            file = Path(path)
            if not file.is_file():
                raise CommandError(f"{path}: no such file")
            total = _count_lines(file)
            with file.open("rb") as fh:
                counts = self._run(fh, total, channel_id, options)
        self.stdout.write(
            f"stored {counts[Outcome.STORED]}, duplicates {counts[Outcome.DUPLICATE]}, "
            f"failed {counts[Outcome.FAILED]}"
        )
        if counts[Outcome.FAILED]:
            self.stdout.write("see failures with: comptoir inbound list --failed")

    def _run(
        self, fh: BinaryIO, total: int | None, channel_id: int | None, options: dict[str, Any]
    ) -> dict[Outcome, int]:
        lines = _lines(fh)
        if options["no_progress"]:
            return ingest_many(
                lines, batch_size=options["batch_size"], channel_id=channel_id, source="import"
            )
        with progress_bar(total) as advance:
            return ingest_many(
                lines,
                batch_size=options["batch_size"],
                channel_id=channel_id,
                source="import",
                progress=advance,
            )


def _lines(fh: BinaryIO) -> Iterator[bytes]:
    # Bytes, not text: a line with invalid UTF-8 must still be kept and reported, not crash.
    for line in fh:
        stripped = line.strip()
        if stripped:
            yield stripped


def _count_lines(file: Path) -> int:
    with file.open("rb") as fh:
        return sum(1 for line in fh if line.strip())
