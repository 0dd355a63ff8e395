"""`comptoir search reindex`: rebuild the full-text indexes from the stored rows."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand

from comptoir.inbox import search


class Command(BaseCommand):
    help = "Full-text search: `reindex` rebuilds its indexes from the stored rows."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser(
            "reindex",
            help="rebuild the search indexes (after a restore or a bulk load that bypassed them)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        search.install()
        counts = search.reindex()
        took = time.monotonic() - started
        summary = ", ".join(f"{n:,} {what}" for what, n in counts.items())
        self.stdout.write(f"search indexes rebuilt in {took:.1f} s: {summary}")
