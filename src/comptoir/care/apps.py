from __future__ import annotations

from django.apps import AppConfig


class CareConfig(AppConfig):
    name = "comptoir.care"
    label = "care"
    verbose_name = "Proactive care"

    def ready(self) -> None:
        # The detection is a periodic job: registered when its module is imported.
        from comptoir.care import tasks

        assert tasks.detect_at_risk
