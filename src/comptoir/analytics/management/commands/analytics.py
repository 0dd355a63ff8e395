"""`comptoir analytics rebuild`: every conversation's facts recomputed from the raw rows."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from comptoir.analytics import facts, rollup


class Command(BaseCommand):
    help = (
        "The analytics rollup. `comptoir analytics rebuild` recomputes the facts of every "
        "conversation exactly from its messages and events, then the daily rollup from the "
        "facts (the worker keeps both current otherwise)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("command", choices=["rebuild"])

    def handle(self, *args: Any, **options: Any) -> None:
        if options["command"] != "rebuild":
            raise CommandError("unknown command")
        started = time.perf_counter()
        count = facts.rebuild()
        seconds = time.perf_counter() - started
        days = sum(m.objects.count() for m in rollup.MODELS)
        self.stdout.write(
            f"{count} conversations' facts and {days} daily rollup rows rebuilt in {seconds:.1f} s"
        )
