from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "comptoir.orders"
    label = "orders"

    def ready(self) -> None:
        # Registers the periodic refresh and the after-ingest hook, in every process.
        from comptoir.orders import tasks  # noqa: F401
