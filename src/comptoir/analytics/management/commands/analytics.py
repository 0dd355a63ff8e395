"""`comptoir analytics rebuild`: every conversation's facts recomputed from the raw rows."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from comptoir.analytics import facts


class Command(BaseCommand):
    help = (
        "The analytics rollup. `comptoir analytics rebuild` recomputes the facts of every "
        "conversation exactly from its messages and events (the worker keeps them current "
        "otherwise)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("command", choices=["rebuild"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] != "rebuild":
            raise CommandError("unknown command")
        started = time.perf_counter()
        count = facts.rebuild()
        seconds = time.perf_counter() - started
        self.stdout.write(f"{count} conversations' facts rebuilt in {seconds:.1f} s")
