from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "comptoir.automation"
    label = "automation"

    def ready(self) -> None:
        # Registers the rules pump's periodic runs and its after-ingest and after-event kicks,
        # in every process.
        from comptoir.automation import tasks  # noqa: F401
