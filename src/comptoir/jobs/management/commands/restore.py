"""`comptoir restore FILE --yes`: put a backup made by `comptoir backup` back."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from comptoir.jobs.backup import BackupError, restore


class Command(BaseCommand):
    help = (
        "Replace the database with a backup made by `comptoir backup`. Stop the web server "
        "and the workers first; --yes confirms."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", type=Path)
        parser.add_argument("--yes", action="store_true", help="replace the current data")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["yes"]:
            raise CommandError("this replaces the current database: run again with --yes")
        try:
            kind = restore(options["file"])
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"{kind} database restored from {options['file']}")
