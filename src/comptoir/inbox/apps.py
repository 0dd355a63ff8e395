from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InboxConfig(AppConfig):
    name = "comptoir.inbox"
    label = "inbox"

    def ready(self) -> None:
        from comptoir.inbox import tasks  # noqa: F401  (registers periodic jobs)

        post_migrate.connect(_search_triggers, sender=self)


def _search_triggers(using: str = "default", **kwargs: Any) -> None:
    # SQLite drops a table's triggers when a migration rebuilds the table.
    from django.db import connections

    from comptoir.inbox import search

    search.ensure_installed(connections[using])
