"""`comptoir createuser`: add a user with a role, optionally to teams."""

from __future__ import annotations

import getpass
import os
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from comptoir.accounts.models import Role, Team, User


class Command(BaseCommand):
    help = (
        "Create a user. The password is asked for, or read from COMPTOIR_NEW_PASSWORD "
        "(for scripts); --team adds them to a team (created if missing)."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--role", choices=Role.values, default=Role.AGENT)
        parser.add_argument("--first-name", default="")
        parser.add_argument("--last-name", default="")
        parser.add_argument("--team", action="append", default=[], help="team name (repeatable)")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        if User.objects.filter(username=username).exists():
            raise CommandError(f"a user named {username!r} already exists")
        password = os.environ.get("COMPTOIR_NEW_PASSWORD") or self._ask()
        user = User(
            username=username,
            email=options["email"],
            role=options["role"],
            first_name=options["first_name"],
            last_name=options["last_name"],
            is_staff=options["role"] in (Role.OWNER, Role.ADMIN),
            is_superuser=options["role"] == Role.OWNER,
        )
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise CommandError("password rejected: " + " ".join(exc.messages)) from None
        user.set_password(password)
        with transaction.atomic():
            user.save()
            for name in options["team"]:
                team, _ = Team.objects.get_or_create(name=name)
                team.members.add(user)
        self.stdout.write(f"created {options['role']} {username}")

    def _ask(self) -> str:
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("the passwords differ")
        return first
