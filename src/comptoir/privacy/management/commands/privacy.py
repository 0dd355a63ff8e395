"""`comptoir privacy find|export|erase|retention`: a buyer's requests from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from comptoir import audit
from comptoir.privacy import access, actions


class Command(BaseCommand):
    help = (
        "A buyer's data-protection requests: find them by any identity, export everything "
        "held about them (ZIP), erase them; apply the retention (with --dry-run)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(
            dest="what", required=True, metavar="{find,export,erase,retention}"
        )
        find = sub.add_parser("find", help="buyers named by an email, alias, name, order number")
        find.add_argument("query")
        export = sub.add_parser("export", help="everything held about buyers, as a ZIP")
        export.add_argument("customer_ids", type=int, nargs="+")
        export.add_argument("--out", required=True, help="the ZIP file to write")
        erase = sub.add_parser("erase", help="anonymise buyers everywhere (irreversible)")
        erase.add_argument("customer_ids", type=int, nargs="+")
        erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
        retention = sub.add_parser("retention", help="apply each shop's retention now")
        retention.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        with audit.request_context(None, "cli"):
            try:
                getattr(self, f"_{options['what']}")(options)
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None

    def _find(self, options: dict[str, Any]) -> None:
        for c in access.find_customers(options["query"]):
            self.stdout.write(f"#{c.pk}  {c.name or '-'}  {c.email or '-'}")

    def _export(self, options: dict[str, Any]) -> None:
        data = actions.export_subject(options["customer_ids"], actor=None)
        Path(options["out"]).write_bytes(data)
        self.stdout.write(f"wrote {options['out']} ({len(data)} bytes)")

    def _erase(self, options: dict[str, Any]) -> None:
        if not options["yes"]:
            raise CommandError("erasure cannot be undone: add --yes")
        ids = options["customer_ids"]
        result = actions.erase_subject(ids, actor=None, confirm=",".join(map(str, ids)))
        self.stdout.write(
            f"erased {result.customers} buyer(s): {result.conversations} conversations, "
            f"{result.messages} messages, {result.files} files"
        )

    def _retention(self, options: dict[str, Any]) -> None:
        if options["dry_run"]:
            # What each channel would lose, by the policy that applies (its own, its
            # marketplace's rule, the shop's): the same list the daily job works through.
            sources = {c.pk: p.source for c, p in actions.channel_policies()}
            for item in actions.due():
                self.stdout.write(
                    f"{item.channel.name} (#{item.channel.pk}): {len(item.conversation_ids)} "
                    f"to {item.mode} after {item.days} days ({sources[item.channel.pk]})"
                )
        counts = actions.apply_retention(dry_run=options["dry_run"])
        verb = "due" if options["dry_run"] else "done"
        self.stdout.write(f"{verb}: {counts['anonymised']} anonymised, {counts['deleted']} deleted")
