from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "comptoir.audit"
    label = "audit"

    def ready(self) -> None:
        # Registers the daily prune of entries past COMPTOIR_AUDIT_RETENTION_DAYS.
        from comptoir.audit import tasks  # noqa: F401
