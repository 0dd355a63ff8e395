from __future__ import annotations

from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "comptoir.connectors"
    label = "connectors"

    def ready(self) -> None:
        from django.conf import settings

        from comptoir.lib import http

        # Read at each connection, so that a test's override_settings applies too.
        http.allow_private = lambda: bool(getattr(settings, "OUTBOUND_ALLOW_PRIVATE", False))
