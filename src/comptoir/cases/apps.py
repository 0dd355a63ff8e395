from __future__ import annotations

from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "comptoir.cases"
    label = "cases"

    def ready(self) -> None:
        # A claim a connector stored opens or updates its case, in a task after commit.
        from comptoir.cases import tasks
        from comptoir.inbox import hooks

        hooks.messages_stored.subscribe(tasks.queue_claims)
