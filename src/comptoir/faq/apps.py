from django.apps import AppConfig


class FaqConfig(AppConfig):
    name = "comptoir.faq"
    label = "faq"

    def ready(self) -> None:
        # Registers the weekly mining, in every process.
        from comptoir.faq import tasks  # noqa: F401
