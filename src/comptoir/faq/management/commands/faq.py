"""`comptoir faq mine --since 90d`: cluster the buyers' questions and print the largest."""

from __future__ import annotations

import re
from argparse import ArgumentParser
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from comptoir.faq import actions
from comptoir.faq.models import Cluster
from comptoir.lib import intents

ARROWS = {"up": "↑", "down": "↓", "flat": "→"}


def parse_since(value: str) -> timedelta:
    found = re.fullmatch(r"(\d+)([dw])", value.strip())
    if not found:
        raise CommandError(f"--since takes days or weeks (90d, 12w), not {value!r}")
    n = int(found.group(1))
    return timedelta(days=n * (7 if found.group(2) == "w" else 1))


class Command(BaseCommand):
    help = (
        "Find the questions buyers ask again and again. `comptoir faq mine --since 90d` groups "
        "the buyer messages of the last 90 days by meaning, per language and intent, stores "
        "the clusters for the FAQ page and prints the largest."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("command", choices=["mine"])
        parser.add_argument("--since", default="90d", help="how far back: 90d, 12w")
        parser.add_argument("--top", type=int, default=20, help="how many clusters to print")

    def handle(self, *args: Any, **options: Any) -> None:
        since = timezone.now() - parse_since(options["since"])
        run = actions.mine(since)
        self.stdout.write(
            f"{run.messages} buyer messages since {since:%Y-%m-%d}: {run.clusters} clusters "
            f"in {(run.finished_at or run.started_at) - run.started_at}"
        )
        for c in Cluster.objects.filter(run=run).select_related("template")[: options["top"]]:
            answered = c.template.name if c.template else "no template yet"
            self.stdout.write(
                f"{c.size:>6} {ARROWS[c.trend]} [{c.language or '?'}] "
                f"{intents.label(c.intent)}: {c.label}  ({answered})"
            )
