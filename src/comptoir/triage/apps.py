from django.apps import AppConfig


class TriageConfig(AppConfig):
    name = "comptoir.triage"
    label = "triage"

    def ready(self) -> None:
        # Reads what ingest stored, in a task after commit: never on the live path.
        from comptoir.inbox import hooks
        from comptoir.triage import tasks

        hooks.messages_stored.subscribe(tasks.queue_reading)
