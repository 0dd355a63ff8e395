"""`comptoir report --from DAY --to DAY --out report.html`: the analyst's report, one HTML file
that opens offline (see `analytics.report`)."""

from __future__ import annotations

import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.http import QueryDict
from django.utils import translation

from comptoir.accounts.models import Team
from comptoir.analytics import facts, filters, report
from comptoir.inbox.models import Channel, Shop


class Command(BaseCommand):
    help = (
        "Write the analyst's report of a period as one self-contained HTML file (key figures "
        "against the previous period, channels, trends, SLA breaches, intents, surveys, longest "
        "waits). Days are the server's; --to is included."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--from", dest="start", metavar="YYYY-MM-DD", help="first day")
        parser.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day (included)")
        parser.add_argument("--out", required=True, help="the HTML file to write")
        parser.add_argument("--shop", help="a shop's name, slug or id (default: all)")
        parser.add_argument("--channel", help="a channel's name or id (default: all)")
        parser.add_argument("--team", help="a team's name or id (default: all)")
        languages = [code for code, _name in settings.LANGUAGES]
        parser.add_argument(
            "--lang", choices=languages, default=settings.LANGUAGE_CODE, help="the language"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        query = QueryDict(mutable=True)
        if options["start"] or options["end"]:
            query["from"], query["to"] = options["start"] or "", options["end"] or ""
        for name, model, fields in (
            ("shop", Shop, ("name", "slug")),
            ("channel", Channel, ("name",)),
            ("team", Team, ("name",)),
        ):
            if options[name]:
                query[name] = str(_find(model, name, options[name], fields))
        out = Path(options["out"])
        if not out.parent.is_dir():
            raise CommandError(f"{out.parent}: no such folder")
        with translation.override(options["lang"]):
            try:
                chosen = filters.parse(query)
            except filters.BadFilter as exc:
                raise CommandError(str(exc)) from None
            self._say(started, f"report from {chosen.start_day} to {chosen.end_day}")
            missing = report.missing_facts(chosen)
            if missing:
                self._say(started, f"computing the facts of {len(missing)} conversations")
                facts.refresh(missing)
            html = report.build_html(chosen, lambda step: self._say(started, step))
        out.write_text(html, encoding="utf-8")
        seconds = time.perf_counter() - started
        size = len(html.encode()) / 1024
        self.stdout.write(f"{out}: {size:.0f} kB written in {seconds:.1f} s")

    def _say(self, started: float, what: str) -> None:
        self.stderr.write(f"[{time.perf_counter() - started:6.1f} s] {what}")


def _find(model: Any, what: str, raw: str, fields: tuple[str, ...]) -> int:
    """A shop (channel, team) named by its id, or its name (or slug), exactly."""
    if raw.isdigit() and model.objects.filter(pk=int(raw)).exists():
        return int(raw)
    for name in fields:
        found = list(model.objects.filter(**{f"{name}__iexact": raw}).values_list("pk", flat=True))
        if len(found) == 1:
            return int(found[0])
        if len(found) > 1:
            raise CommandError(f"{what} {raw!r}: several match, give its id")
    raise CommandError(f"{what} {raw!r}: none is called so")
