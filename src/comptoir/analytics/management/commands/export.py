"""`comptoir export conversations|messages|kpis`: an export written to a file (docs/exports.md)."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from comptoir.analytics import exports, writers
from comptoir.analytics.filters import BadFilter


class Command(BaseCommand):
    help = (
        "Exports conversations, messages or a KPI table as CSV or Parquet. "
        "`comptoir export conversations --from 2026-01-01 --to 2026-03-31 --format parquet "
        "--out q1.parquet`; messages leave their subject and text out unless --with-bodies; "
        "`kpis --table overview|channels|agents|teams|volumes|daily` (default: overview). "
        "Without --from/--to: the last 30 days."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("what", choices=["conversations", "messages", "kpis"])
        parser.add_argument("--from", dest="start", default="", help="first day, YYYY-MM-DD")
        parser.add_argument("--to", dest="end", default="", help="last day (included)")
        parser.add_argument("--format", choices=writers.FORMATS, default="csv")
        parser.add_argument("--out", required=True, help="the file to write (replaced)")
        parser.add_argument("--table", choices=exports.KPI_TABLES, default="overview")
        parser.add_argument("--shop", default="", help="a shop id")
        parser.add_argument("--channel", default="", help="a channel id")
        parser.add_argument("--team", default="", help="a team id")
        parser.add_argument("--marketplace", default="", help="amazon, ebay, fnac...")
        parser.add_argument("--assignee", default="", help="a user id")
        parser.add_argument(
            "--with-bodies", action="store_true", help="subjects and message texts too"
        )
        parser.add_argument(
            "--bom", action="store_true", help="CSV: start with a UTF-8 byte-order mark (Excel)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        kind = options["table"] if options["what"] == "kpis" else options["what"]
        query = {
            "from": options["start"],
            "to": options["end"],
            **{k: options[k] for k in ("shop", "channel", "team", "marketplace", "assignee")},
        }
        try:
            chosen, filters = exports.scope(query)
            table = exports.build(
                kind,
                chosen.period,
                filters,
                with_bodies=options["with_bodies"],
                actor="cli",
            )
        except BadFilter as exc:
            raise CommandError(str(exc)) from None
        out = Path(options["out"])
        started = time.perf_counter()
        rows = writers.write(table, options["format"], out, bom=options["bom"])
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"{rows} rows of {kind} ({chosen.start_day} to {chosen.end_day}) written to "
            f"{out} in {seconds:.1f} s"
        )
