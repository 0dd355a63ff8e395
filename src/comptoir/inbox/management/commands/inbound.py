"""`comptoir inbound list [--failed|--stale]` and `comptoir inbound retry [ID ...|--stale]`."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from comptoir.inbox.ingest import STALE_AFTER, Outcome, Result, recover_stale, retry_failed
from comptoir.inbox.models import InboundRecord, InboundState


class Command(BaseCommand):
    help = (
        "List raw inbound messages and process them again (--failed: storing failed; "
        "--stale: never stored, left by a crash)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="list raw inbound records, newest first")
        listing.add_argument("--failed", action="store_true", help="only records that failed")
        listing.add_argument(
            "--stale",
            action="store_true",
            help=f"only records still unstored after {_minutes()} minutes (a crash left them)",
        )
        listing.add_argument("--channel", type=int, help="only this channel id")
        listing.add_argument("--limit", type=int, default=50, help="at most this many (50)")
        retry = sub.add_parser("retry", help="process failed records again")
        retry.add_argument("ids", nargs="*", type=int, help="record ids (default: every failed)")
        retry.add_argument(
            "--stale",
            action="store_true",
            help="store the stale records instead (the worker also does it every 5 minutes)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            self._list(options)
        elif options["stale"]:
            if options["ids"]:
                raise CommandError("give record ids or --stale, not both")
            self._report(recover_stale())
        else:
            self._retry(options["ids"] or None)

    def _list(self, options: dict[str, Any]) -> None:
        records = InboundRecord.objects.order_by("-id")
        if options["failed"]:
            records = records.filter(state=InboundState.FAILED)
        if options["stale"]:
            records = records.filter(
                state=InboundState.RECEIVED, received_at__lt=timezone.now() - STALE_AFTER
            )
        if options["channel"]:
            records = records.filter(channel_id=options["channel"])
        rows = records.values_list(
            "id", "channel_id", "source", "external_id", "state", "attempts", "received_at", "error"
        )[: options["limit"]]
        for rid, channel, source, ext, state, attempts, at, error in rows:
            line = f"{rid:>8}  {at:%Y-%m-%d %H:%M:%S}  ch={channel or '-'}  {source:<9} {state:<9}"
            line += f" tries={attempts} ext={ext or '-'}"
            if error:
                line += f"\n          error: {error[:300]}"
            self.stdout.write(line)
        if not rows:
            self.stdout.write("no records")

    def _retry(self, ids: list[int] | None) -> None:
        if ids:
            states = dict(InboundRecord.objects.filter(id__in=ids).values_list("id", "state"))
            missing = [i for i in ids if i not in states]
            if missing:
                raise CommandError(f"no inbound record with id {', '.join(map(str, missing))}")
            not_failed = [i for i, s in states.items() if s != InboundState.FAILED]
            if not_failed:
                raise CommandError(f"not failed, nothing to retry: {not_failed}")
        self._report(retry_failed(ids))

    def _report(self, results: list[Result]) -> None:
        for r in results:
            detail = f" ({r.error})" if r.error else ""
            self.stdout.write(f"record {r.record_id}: {r.outcome}{detail}")
        failed = sum(1 for r in results if r.outcome == Outcome.FAILED)
        self.stdout.write(f"{len(results) - failed} stored or duplicate, {failed} still failed")
        if failed:
            raise SystemExit(1)


def _minutes() -> int:
    return int(STALE_AFTER.total_seconds() // 60)
