"""`comptoir token create USERNAME NAME`, `comptoir token revoke PREFIX`, `comptoir token list`."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from comptoir import audit
from comptoir.accounts.models import APIToken, TokenScope, User, hash_token
from comptoir.accounts.tokens import issue_token, revoke_token


class Command(BaseCommand):
    help = "Create, list and revoke API tokens (bearer tokens for /api/v1/)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{create,revoke,list}")
        create = sub.add_parser("create", help="issue a token; it is printed once")
        create.add_argument("username", help="the user the token acts as")
        create.add_argument("name", help="what the token is for, e.g. 'ERP sync'")
        create.add_argument(
            "--scope",
            choices=TokenScope.values,
            default=None,
            help="read (GET only), write, admin (owners' and admins' endpoints too); by default "
            "the widest the user's role can use",
        )
        revoke = sub.add_parser("revoke", help="revoke a token by its prefix")
        revoke.add_argument("prefix", help="the first 12 characters shown by `list` (or the token)")
        listing = sub.add_parser("list", help="list tokens (prefixes only)")
        listing.add_argument("--all", action="store_true", help="include revoked tokens")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        with audit.request_context(None, "cli"):
            if action == "create":
                self._create(options["username"], options["name"], options["scope"])
            elif action == "revoke":
                self._revoke(options["prefix"])
            else:
                self._list(include_revoked=options["all"])

    def _create(self, username: str, name: str, scope: str | None) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}")
        try:
            token, raw = issue_token(user, name=name, scope=scope, actor=None)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stderr.write(
            f"Token {token.prefix}… ({token.scope}) for {username}; it is shown only this once:"
        )
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
        revoke_token(rows[0], actor=None)
        self.stdout.write(f"Revoked {rows[0].prefix}… ({rows[0].name})")

    def _list(self, *, include_revoked: bool) -> None:
        rows = APIToken.objects.select_related("user").order_by("created_at")
        if not include_revoked:
            rows = rows.filter(revoked_at__isnull=True)
        for t in rows:
            used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
            state = " revoked" if t.revoked_at else ""
            self.stdout.write(
                f"{t.prefix}  {t.user.username:<20} {t.name:<30} {t.scope:<5} used {used}{state}"
            )
