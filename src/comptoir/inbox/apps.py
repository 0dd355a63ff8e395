from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class InboxConfig(AppConfig):
    name = "comptoir.inbox"
    label = "inbox"

    def ready(self) -> None:
        from comptoir.connectors import base, webhooks
        from comptoir.inbox import (
            hooks,
            ports,
            queries,
            tasks,  # noqa: F401  (registers periodic jobs)
            webhook_ports,
        )
        from comptoir.sla import policies

        # The layers below know no inbox: they are handed what they ask of it here.
        base.provide_store(ports.InboxChannelStore())
        webhooks.provide_webhook_store(webhook_ports.InboxWebhookStore())
        policies.provide_channel_facts(ports.sla_channel_facts)
        hooks.events_written.subscribe(queries.forget_counts)

        post_migrate.connect(_search_triggers, sender=self)


def _search_triggers(using: str = "default", **kwargs: Any) -> None:
    # SQLite drops a table's triggers when a migration rebuilds the table.
    from django.db import connections

    from comptoir.inbox import search

    search.ensure_installed(connections[using])
