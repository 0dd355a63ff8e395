"""`comptoir rotate-keys`: every stored secret encrypted again with the first key."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from comptoir import audit
from comptoir.audit import keys


class Command(BaseCommand):
    help = (
        "Encrypt every stored secret (channel credentials, webhook secrets, API keys) again "
        "with the first of COMPTOIR_ENCRYPTION_KEYS. Put the new key first, run this, then "
        "drop the old key."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="count what would be re-encrypted, change nothing",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        with audit.request_context(None, "cli"):
            result = keys.rotate(settings.ENCRYPTION_KEYS, dry_run=dry_run)
            if not dry_run and result.rotated:
                audit.record(
                    "keys.rotated",
                    actor=None,
                    changes={"rotated": result.rotated, "keys": len(settings.ENCRYPTION_KEYS)},
                )
        verb = "would re-encrypt" if dry_run else "re-encrypted"
        self.stdout.write(
            f"{verb} {result.rotated} secret(s); {result.current} already on the first key"
        )
        if result.unreadable:
            listed = "\n  ".join(result.unreadable)
            raise CommandError(
                f"{len(result.unreadable)} secret(s) no key decrypts (a key dropped too soon?):"
                f"\n  {listed}"
            )
