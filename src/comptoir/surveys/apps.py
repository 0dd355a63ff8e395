from __future__ import annotations

from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "comptoir.surveys"
    label = "surveys"

    def ready(self) -> None:
        # The periodic sender registers itself on import.
        from comptoir.surveys import tasks  # noqa: F401
