"""Behind COMPTOIR_PROXY_COUNT reverse proxies, REMOTE_ADDR is the client's, not the proxy's."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from comptoir.lib.proxy import client_address


class ForwardedForMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.proxy_count: int = settings.PROXY_COUNT

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.proxy_count:
            meta = request.META
            meta["REMOTE_ADDR"] = client_address(
                meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR", ""), self.proxy_count
            )
        return self.get_response(request)
