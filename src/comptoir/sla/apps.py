from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "comptoir.sla"
    label = "sla"
    verbose_name = "SLA"

    def ready(self) -> None:
        from comptoir.sla import policies

        policies.connect_signals()
