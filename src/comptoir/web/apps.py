from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "comptoir.web"
    label = "web"
