from django.apps import AppConfig


class FaqConfig(AppConfig):
    name = "comptoir.faq"
    label = "faq"
