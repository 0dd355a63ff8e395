"""`comptoir demo`: load demo data (and, with --serve, run the web server and the worker)."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from comptoir.demo import generate
from comptoir.demo.processes import DEMO_COMMANDS, run_together

BANNER = (
    "Comptoir demo on http://127.0.0.1:8000 — log in as supervisor / comptoir-demo "
    "(agents: agent1..agent4, analyst: analyst, admin: admin)"
)


class Command(BaseCommand):
    help = (
        "Load a demo: two shops, seven marketplace channels, a team (supervisor, agent1..agent4, "
        "analyst, admin; password comptoir-demo) and months of conversations in five languages. "
        "The same --seed on the same day gives the same data."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument(
            "--conversations", type=int, default=2000, help="how many (default 2000)"
        )
        parser.add_argument("--days", type=int, default=90, help="history length (default 90)")
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the database already holds data (so it can run twice)",
        )
        parser.add_argument(
            "--serve", action="store_true", help="then run `comptoir serve` and `comptoir worker`"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["conversations"] <= 100_000:
            raise CommandError("--conversations must be between 1 and 100000")
        if not 1 <= options["days"] <= 3650:
            raise CommandError("--days must be between 1 and 3650")
        _migrate_if_needed()
        if generate.has_data():
            if not options["if_empty"]:
                raise CommandError(
                    "the database already holds data: run with --if-empty to keep it, or point "
                    "COMPTOIR_DATA_DIR (or DATABASE_URL) at an empty database"
                )
            self.stdout.write("The database already holds data: demo not loaded.")
        else:
            summary = generate.load(
                seed=options["seed"],
                conversations=options["conversations"],
                days=options["days"],
                log=self.stdout.write if options["verbosity"] > 1 else None,
            )
            self.stdout.write(
                f"Demo loaded in {summary.seconds:.1f} s: {summary.conversations} conversations, "
                f"{summary.messages} messages, {summary.orders} orders, {summary.users} users."
            )
        if options["serve"]:
            self._serve()

    def _serve(self) -> None:
        ended = run_together(DEMO_COMMANDS, on_started=lambda: self.stdout.write(BANNER))
        if ended is None:
            self.stdout.write("Stopped.")
            return
        name, code = ended
        raise CommandError(f"`comptoir {name}` exited with code {code}; the other was stopped")


def _migrate_if_needed() -> None:
    # `comptoir demo` on a fresh data directory should just work, as `make demo` does.
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", interactive=False, verbosity=0)
