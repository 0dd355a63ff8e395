from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "comptoir.notifications"
    label = "notifications"

    def ready(self) -> None:
        # The inbox never imports notifications: it emits its events, we subscribe here.
        from comptoir.inbox import hooks
        from comptoir.notifications import subscribers

        hooks.conversation_assigned.subscribe(subscribers.conversation_assigned)
        hooks.note_added.subscribe(subscribers.note_added)
        hooks.channel_failing.subscribe(subscribers.channel_failing)
