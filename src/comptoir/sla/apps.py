from django.apps import AppConfig


class SlaConfig(AppConfig):
    name = "comptoir.sla"
    label = "sla"
    verbose_name = "SLA"

    def ready(self) -> None:
        from comptoir.inbox import hooks
        from comptoir.sla import policies
        from comptoir.sla.tasks import sync_no_response_needed

        policies.connect_signals()
        hooks.no_response_needed.subscribe(sync_no_response_needed)
