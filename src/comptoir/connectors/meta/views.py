"""Meta's webhook endpoint, one per channel: `/hooks/meta/<channel id>/`.

GET answers Meta's verification; POST checks `X-Hub-Signature-256` against the app secret (in
constant time), keeps the raw body (`connectors.webhooks`) and asks for a poll of the channel,
which reads it outside this request (media downloads take time; Meta wants an answer within
seconds and retries otherwise). Nothing is parsed here: a body that is signed is kept, whatever
it holds.
"""

from __future__ import annotations

import hmac
import logging

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from comptoir.connectors.base import ConnectorError, channel_store
from comptoir.connectors.meta.common import MetaSettings, signature_ok
from comptoir.connectors.registry import get_connector
from comptoir.connectors.webhooks import webhook_store
from comptoir.lib.meta_window import META_KINDS

logger = logging.getLogger("comptoir.meta")


def _settings(channel_id: int) -> MetaSettings | None:
    channel = webhook_store().channel(channel_id, META_KINDS)
    if channel is None:
        return None
    try:
        conf = get_connector(channel).settings()
    except ConnectorError:
        return None
    return conf if isinstance(conf, MetaSettings) else None


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, channel_id: int) -> HttpResponse:
    conf = _settings(channel_id)
    if conf is None:
        return HttpResponse("no such Meta channel, or its settings are incomplete", status=404)
    if request.method == "GET":
        mode = request.GET.get("hub.mode", "")
        token = request.GET.get("hub.verify_token", "")
        if mode == "subscribe" and hmac.compare_digest(token.encode(), conf.verify_token.encode()):
            challenge = request.GET.get("hub.challenge", "")
            return HttpResponse(challenge, content_type="text/plain")
        return HttpResponse("verification refused", status=403)
    body = request.body
    if not signature_ok(conf.app_secret, body, request.headers.get("X-Hub-Signature-256")):
        logger.warning("Meta webhook for channel %s: bad or missing signature", channel_id)
        return HttpResponse("bad signature", status=403)
    webhook_store().keep(channel_id, body)
    channel_store().request_channel_poll(channel_id)
    return HttpResponse("EVENT_RECEIVED", content_type="text/plain")
