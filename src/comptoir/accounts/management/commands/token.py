"""`comptoir token create USERNAME NAME`, `comptoir token revoke PREFIX`, `comptoir token list`."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from comptoir.accounts import two_factor
from comptoir.accounts.models import APIToken, User, hash_token


class Command(BaseCommand):
    help = "Create, list and revoke API tokens (bearer tokens for /api/v1/)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,revoke,list}")
        create = sub.add_parser("create", help="issue a token; it is printed once")
        create.add_argument("username", help="the user the token acts as")
        create.add_argument("name", help="what the token is for, e.g. 'ERP sync'")
        revoke = sub.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("prefix", help="the first 12 characters shown by `list` (or the token)")
        listing = sub.add_parser("list", help="list tokens (prefixes only)")
        listing.add_argument("--all", action="store_true", help="include revoked tokens")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            self._create(options["username"], options["name"])
        elif action == "revoke":
            self._revoke(options["prefix"])
        else:
            self._list(include_revoked=options["all"])

    def _create(self, username: str, name: str) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        if not user.is_active:
            raise CommandError(f"user {username!r} is inactive")
        if not name.strip():
            raise CommandError("give the token a name that says what it is for")
        # A token is not a way around two-factor sign-in required of this user's role.
        if two_factor.two_factor_required(user) and not two_factor.has_two_factor(user):
            raise CommandError(
                f"{username!r} must set up two-factor sign-in first (required for their role)"
            )
        token, raw = APIToken.issue(user, name.strip()[:100])
        self.stderr.write(f"Token {token.prefix}… for {username}; it is shown only this once:")
        self.stdout.write(raw)

    def _revoke(self, prefix: str) -> None:
        live = APIToken.objects.filter(revoked_at__isnull=True)
        # A full token is matched by hash; a prefix may be shared, so it must be unambiguous.
        rows = list(live.filter(token_hash=hash_token(prefix))) or list(
            live.filter(prefix=prefix[:12]).select_related("user")
        )
        if not rows:
            raise CommandError(f"no active token with prefix {prefix!r}")
        if len(rows) > 1:
            names = ", ".join(f"{t.name} ({t.user.username})" for t in rows)
            raise CommandError(f"{len(rows)} tokens share this prefix ({names}); pass the token")
        APIToken.objects.filter(pk=rows[0].pk).update(revoked_at=timezone.now())
        self.stdout.write(f"Revoked {rows[0].prefix}… ({rows[0].name})")

    def _list(self, *, include_revoked: bool) -> None:
        rows = APIToken.objects.select_related("user").order_by("created_at")
        if not include_revoked:
            rows = rows.filter(revoked_at__isnull=True)
        for t in rows:
            used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
            state = " revoked" if t.revoked_at else ""
            self.stdout.write(f"{t.prefix}  {t.user.username:<20} {t.name:<30} used {used}{state}")
