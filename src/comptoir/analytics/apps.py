from django.apps import AppConfig


class AnalyticsConfig(AppConfig):
    name = "comptoir.analytics"
    label = "analytics"

    def ready(self) -> None:
        # The facts follow the inbox: every timeline event and every stored message queues the
        # recomputation of its conversations' facts (once per transaction, in a task).
        from comptoir.analytics import tasks
        from comptoir.inbox import hooks

        hooks.events_written.subscribe(tasks.events_written)
        hooks.messages_stored.subscribe(tasks.messages_stored)
        hooks.conversations_purged.subscribe(tasks.touched)
