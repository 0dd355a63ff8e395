from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "comptoir.inbox"
    label = "inbox"

    def ready(self) -> None:
        from comptoir.inbox import tasks  # noqa: F401  (registers periodic jobs)
