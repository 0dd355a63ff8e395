"""`comptoir demo`: load demo data (and, with --serve, run the web server and the worker)."""

from __future__ import annotations

import os
import socket
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from comptoir.demo import generate
from comptoir.demo.processes import demo_commands, run_together
from comptoir.demo.world import DEMO_PASSWORD, USERS

# Where `--serve` leaves the address it serves on, for `comptoir demo --logins` later.
URL_FILE = "demo-url"


def logins(url: str) -> str:
    """The address and the accounts, as `--serve` prints them last and `--logins` again."""
    users = "\n".join(
        f"  {spec.username:<11} {spec.first_name} {spec.last_name}, {spec.role}" for spec in USERS
    )
    return (
        f"Comptoir demo on {url}/\n"
        f"Log in with the password {DEMO_PASSWORD} as one of:\n{users}\n"
        "(`comptoir demo --logins` prints this again; Ctrl-C stops the demo)"
    )


class Command(BaseCommand):
    help = (
        "Load a demo and run it with --serve (--logins: print its address and accounts). "
        "Two shops, eight marketplace channels, a team (supervisor, agent1..agent4, analyst, "
        "admin; password comptoir-demo), the live weeks' conversations in five languages and "
        "a year of resolved history before them. "
        "The same --seed on the same day gives the same data."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        parser.add_argument(
            "--conversations", type=int, default=2000, help="how many (default 2000)"
        )
        parser.add_argument("--days", type=int, default=90, help="live weeks, in days (default 90)")
        parser.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="volume of the year of resolved history before them (default 1; 0: none)",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="do nothing when the database already holds data (so it can run twice)",
        )
        parser.add_argument(
            "--serve",
            action="store_true",
            help="then run the web server, the worker and the marketplace simulators",
        )
        parser.add_argument("--host", default="127.0.0.1", help="with --serve (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="with --serve (default 8000)")
        parser.add_argument(
            "--logins",
            action="store_true",
            help="print the demo's address and accounts (of the running demo) and exit",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["logins"]:
            self.stdout.write(logins(_last_url() or settings.SITE_URL))
            return
        if not 1 <= options["conversations"] <= 100_000:
            raise CommandError("--conversations must be between 1 and 100000")
        if not 1 <= options["days"] <= 3650:
            raise CommandError("--days must be between 1 and 3650")
        if not 0 <= options["scale"] <= 10:
            raise CommandError("--scale must be between 0 and 10")
        if not 1 <= options["port"] <= 65535:
            raise CommandError("--port must be between 1 and 65535")
        if options["serve"]:
            _require_demo_servers()
        # The simulated marketplaces and the demo's webhooks answer on this machine.
        settings.OUTBOUND_ALLOW_PRIVATE = True
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
                year_scale=options["scale"],
                log=self.stdout.write if options["verbosity"] > 1 else None,
            )
            self.stdout.write(
                f"Demo loaded in {summary.seconds:.1f} s: {summary.conversations} conversations, "
                f"{summary.messages} messages, {summary.orders} orders, {summary.users} users."
            )
        if options["serve"]:
            self._serve(options["host"], options["port"], options["verbosity"])

    def _serve(self, host: str, port: int, verbosity: int) -> None:
        from comptoir.notifications import demo as notifications_demo

        url = f"http://{host}:{port}"
        if _answers(host, port):
            raise CommandError(f"port {port} is already in use: choose another with --port")
        env = dict(os.environ)
        # Links in notifications and the demo's webhooks go to this server, whatever its port.
        site_url = env.setdefault("COMPTOIR_SITE_URL", url)
        if verbosity <= 1:
            env.setdefault("COMPTOIR_LOG_LEVEL", "WARNING")
        # The notification mail of the demo's accounts, kept rather than printed.
        env.setdefault("COMPTOIR_EMAIL_DIR", str(Path(settings.DATA_DIR) / "demo-mail"))
        env["COMPTOIR_OUTBOUND_ALLOW_PRIVATE"] = "true"
        notifications_demo.point_at(site_url)
        _url_file().write_text(url + "\n")
        ended = run_together(
            demo_commands(host=host, port=port, verbosity=verbosity),
            env=env,
            ready=lambda: _answers(host, port),
            on_started=lambda: self.stdout.write("\n" + logins(url)),
        )
        if ended is None:
            self.stdout.write("Stopped.")
            return
        name, code = ended
        raise CommandError(f"`comptoir {name}` exited with code {code}; the others were stopped")


def _answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _url_file() -> Path:
    return Path(settings.DATA_DIR) / URL_FILE


def _last_url() -> str:
    try:
        return _url_file().read_text().strip()
    except OSError:
        return ""


def _migrate_if_needed() -> None:
    # `comptoir demo` on a fresh data directory should just work, as `make demo` does.
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", interactive=False, verbosity=0)


def _require_demo_servers() -> None:
    """Before loading anything: the demo's mail servers come with the `demo` extra."""
    from comptoir.connectors.email.simulator import INSTALL_HINT, missing_demo_packages

    missing = missing_demo_packages()
    if missing:
        raise CommandError(f"the demo's mail servers need {' and '.join(missing)}: {INSTALL_HINT}")
