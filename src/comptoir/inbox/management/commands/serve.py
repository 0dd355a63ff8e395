"""`comptoir serve`: the ASGI web server (uvicorn), static files by whitenoise."""

from __future__ import annotations

from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server (ASGI, for live updates) on 127.0.0.1:8000."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1, help="processes (default 1)")
        parser.add_argument("--reload", action="store_true", help="restart on code changes")
        parser.add_argument(
            "--log-level",
            default="info",
            choices=["debug", "info", "warning", "error"],
            help="info logs every request; warning only problems (default info)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        import uvicorn

        uvicorn.run(
            # Each process keeps its request threads' database connections (comptoir/asgi.py;
            # `comptoir serve` marks its processes for the settings, cli.py).
            "comptoir.asgi:application",
            host=options["host"],
            port=options["port"],
            workers=options["workers"],
            reload=options["reload"],
            log_level=options["log_level"],
            access_log=options["log_level"] in ("debug", "info"),
            lifespan="off",
            # Proxies are trusted by the settings (COMPTOIR_PROXY_COUNT), not by uvicorn too:
            # applying X-Forwarded-For twice would name the wrong client.
            proxy_headers=False,
        )
