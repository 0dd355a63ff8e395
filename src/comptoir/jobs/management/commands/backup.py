"""`comptoir backup FILE`: a consistent copy of the database while Comptoir runs."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from comptoir.jobs.backup import BackupError, backup


class Command(BaseCommand):
    help = (
        "Back up the database to FILE while Comptoir runs (SQLite: its online backup API; "
        "PostgreSQL: pg_dump, custom format). Copy COMPTOIR_DATA_DIR/files beside it."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            kind = backup(options["file"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        size = options["file"].stat().st_size
        self.stdout.write(f"{kind} backup written to {options['file']} ({size:,} bytes)")
