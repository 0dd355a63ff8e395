from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "comptoir.orders"
    label = "orders"

    def ready(self) -> None:
        # Registers the periodic refresh in every process, and fetches the orders that newly
        # stored messages name (the inbox never imports orders: it announces what it stored).
        from comptoir.inbox import hooks
        from comptoir.orders import tasks

        hooks.messages_stored.subscribe(tasks.queue_missing_orders)
