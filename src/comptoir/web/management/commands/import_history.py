"""`comptoir import-history FILE`: another help desk's history into a shop of its own.

It lives here, among the entry points, because it needs what no lower layer may hold together:
the inbox's bulk ingest, the email connector's MIME parsing (mbox) and triage's reading.
"""

from __future__ import annotations

from argparse import ArgumentParser
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from comptoir.history import sources
from comptoir.history.importer import HistoryImport, Report
from comptoir.history.mapping import PRESETS, ColumnMap
from comptoir.inbox.management.progress import progress_bar


class Command(BaseCommand):
    help = (
        "Import another help desk's history (CSV, JSON lines or mbox) into a separate shop, "
        "then run triage on it. One row per message; re-running the same file imports "
        "nothing twice. See docs/import-history.md for the columns of Zendesk, Freshdesk and "
        "Gorgias exports."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="the export file")
        parser.add_argument("--format", required=True, choices=sources.FORMATS)
        parser.add_argument("--shop", required=True, help="the shop to import into (created)")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=FIELD",
            help="which column holds which field (after the preset's)",
        )
        parser.add_argument("--preset", choices=sorted(PRESETS))
        parser.add_argument(
            "--channel-name",
            default="history",
            help="the channel of rows that name none (and of every mail of an mbox)",
        )
        parser.add_argument(
            "--our-address",
            action="append",
            default=[],
            help="mbox: a From address of ours (its mails are our answers)",
        )
        parser.add_argument("--no-triage", action="store_true", help="do not read the messages")
        parser.add_argument("--batch-size", type=int, default=500, help="messages per transaction")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        if not 1 <= options["batch_size"] <= 10_000:
            raise CommandError("--batch-size must be between 1 and 10000")
        fmt = options["format"]
        try:
            columns = ColumnMap.build(options["preset"], options["map"], options["channel_name"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if fmt != "mbox" and (missing := columns.missing()):
            raise CommandError(f"no column mapped to {', '.join(missing)} (use --map or --preset)")
        job = HistoryImport(options["shop"], columns)
        total = None if options["no_progress"] else sources.count(path, fmt)
        with progress_bar(total, label="importing") if total is not None else nullcontext() as step:
            if fmt == "mbox":
                job.import_mbox(
                    path, options["our_address"], batch_size=options["batch_size"], progress=step
                )
            else:
                # Triage reads each finished conversation meanwhile, on the other core.
                job.import_rows(
                    path,
                    fmt,
                    batch_size=options["batch_size"],
                    progress=step,
                    triage=not options["no_triage"],
                )
        job.apply_statuses()
        job.settle_deadlines()
        if not options["no_triage"]:
            unread = None if options["no_progress"] else job.unread_count()
            with progress_bar(unread, label="triage") if unread else nullcontext() as step:
                job.triage(progress=step)
        self._summary(job.shop.name, job.report)

    def _summary(self, shop: str, report: Report) -> None:
        self.stdout.write(
            f"shop {shop}: stored {report.stored}, duplicates {report.duplicates}, "
            f"failed {report.failed}, notes skipped {report.skipped}, bad rows "
            f"{report.bad_count}, resolved {report.resolved}, read by triage {report.read}"
        )
        for line, reason in report.bad:
            self.stdout.write(f"  line {line}: {reason}")
        if report.bad_count > len(report.bad):
            self.stdout.write(f"  ... and {report.bad_count - len(report.bad)} more")
        if report.failed:
            self.stdout.write("see failures with: comptoir inbound list --failed")
