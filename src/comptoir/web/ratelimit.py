"""Request rate limits on what is reachable without a session: the API (per token and per
address), the public pages (the survey page, the public FAQ, the webhook test hook) per
address, and the live chat widget's endpoints per address and per shop key. Past the limit:
429 with Retry-After, before any session or database work.

Counted per minute in fixed windows in Django's cache: with COMPTOIR_CACHE_URL (Redis) every
process and host shares the counts; without it each process counts on its own, so the limit
is per process. An address is the client's own behind COMPTOIR_PROXY_COUNT proxies (set it, or
every client shares the proxy's address), an IPv6 address counted by its /64. A token is
counted by a hash of what was presented (no database read; an invalid token is counted too).
Sign-in has its own throttle and lockout (`accounts.login_guard`).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from comptoir.accounts.login_guard import network_of

WINDOW = 60  # seconds
PUBLIC_PREFIXES = ("/s/", "/help/", "/hooks/test/")


@dataclass(frozen=True)
class Limit:
    scope: str  # api-token, api-ip, public-ip
    key: str
    per_minute: int


def limits_for(request: HttpRequest) -> list[Limit]:
    """The counters this request adds to (a limit of 0 is off)."""
    path = request.path
    address = network_of(str(request.META.get("REMOTE_ADDR", "")))
    if path.startswith("/api/"):
        found = [Limit("api-ip", address, settings.RATE_LIMIT_API_IP)]
        presented = str(request.META.get("HTTP_AUTHORIZATION", ""))
        if presented:
            digest = hashlib.sha256(presented.encode()).hexdigest()[:32]
            found.append(Limit("api-token", digest, settings.RATE_LIMIT_API_TOKEN))
        return [limit for limit in found if limit.per_minute]
    if path.startswith("/chat/"):
        # The widget's endpoints name the shop key first (/chat/<key>/messages); its two
        # files (/chat/widget.js) are counted per address only.
        key = path[len("/chat/") :].partition("/")[0] if path.count("/") > 2 else ""
        found = [Limit("chat-ip", address, settings.RATE_LIMIT_CHAT_IP)]
        if key:
            found.append(Limit("chat-key", key[:64], settings.RATE_LIMIT_CHAT_KEY))
        return [limit for limit in found if limit.per_minute]
    if path.startswith(PUBLIC_PREFIXES) and settings.RATE_LIMIT_PUBLIC_IP:
        return [Limit("public-ip", address, settings.RATE_LIMIT_PUBLIC_IP)]
    return []


def hit(limit: Limit, now: float | None = None) -> int | None:
    """Count one request; the seconds until the window ends if it is over the limit."""
    now = time.time() if now is None else now
    window = int(now // WINDOW)
    name = f"ratelimit:{limit.scope}:{limit.key}:{window}"
    cache.add(name, 0, timeout=WINDOW + 5)
    try:
        count = cache.incr(name)
    except ValueError:  # evicted between add and incr: this request starts the window
        cache.set(name, 1, timeout=WINDOW + 5)
        count = 1
    if count <= limit.per_minute:
        return None
    return max(1, math.ceil((window + 1) * WINDOW - now))


def too_many(request: HttpRequest, limit: Limit, retry_after: int) -> HttpResponse:
    text = _("Too many requests. Try again in %(seconds)d seconds.") % {"seconds": retry_after}
    response: HttpResponse
    if limit.scope.startswith(("api", "chat")):
        response = JsonResponse({"detail": text}, status=429)
    else:
        response = HttpResponse(text, status=429, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(retry_after)
    return response


class RateLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for limit in limits_for(request):
            retry_after = hit(limit)
            if retry_after is not None:
                return too_many(request, limit, retry_after)
        return self.get_response(request)
