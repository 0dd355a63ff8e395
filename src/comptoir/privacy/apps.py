from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "comptoir.privacy"
    label = "privacy"

    def ready(self) -> None:
        # Registers the daily retention job.
        from comptoir.privacy import tasks  # noqa: F401
