from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "comptoir.web"
    label = "web"

    def ready(self) -> None:
        from comptoir.inbox import chat_views

        # The live chat asks the desk who is at it and writing (connectors.chat.ports).
        chat_views.install()
