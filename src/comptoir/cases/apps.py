from __future__ import annotations

from django.apps import AppConfig


class CasesConfig(AppConfig):
    name = "comptoir.cases"
    label = "cases"

    def ready(self) -> None:
        # A claim a connector stored opens or updates its case, in a task after commit.
        from comptoir.cases import sync_out, tasks
        from comptoir.inbox import hooks

        hooks.messages_stored.subscribe(tasks.queue_claims)
        # The steps told to the marketplace: their sweep is a periodic job.
        assert sync_out.sweep_stuck_operations
