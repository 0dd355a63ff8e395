"""`comptoir unlock USERNAME [--reset-2fa]`: the operator's way back in for someone locked out
(too many failed sign-ins) or who lost both their phone and their recovery codes, when no
owner or admin can do it from Settings → Security."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from comptoir.accounts import login_guard, two_factor
from comptoir.accounts.models import User


class Command(BaseCommand):
    help = "Lift a sign-in lockout; with --reset-2fa, also remove the user's second factor."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--reset-2fa",
            action="store_true",
            help="remove the authenticator app and recovery codes (a lost phone)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["username"]).first()
        if user is None:
            raise CommandError(f"no user named {options['username']!r}")
        cleared = login_guard.unlock_account(user, actor=None)
        self.stdout.write(f"{user.username}: {cleared} failed sign-in(s) forgotten")
        if options["reset_2fa"]:
            two_factor.reset_two_factor(user, actor=None)
            self.stdout.write(f"{user.username}: two-factor sign-in removed")
