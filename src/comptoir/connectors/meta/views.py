"""Meta's webhook endpoint, one per channel: `/hooks/meta/<channel id>/`.

GET answers Meta's verification; POST checks `X-Hub-Signature-256` against the app secret (in
constant time), keeps the raw body (`connectors.webhooks`) and asks for a poll of the channel,
which reads it outside this request (media downloads take time; Meta wants an answer within
seconds and retries otherwise). Nothing is parsed here: a body that is signed is kept, whatever
it holds. What came (and signatures refused) is noted for the channel's health.
"""

from __future__ import annotations

import hmac
import logging
import re

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from comptoir.connectors.base import ConnectorError, channel_store
from comptoir.connectors.meta.common import MetaSettings, signature_ok
from comptoir.connectors.registry import get_connector
from comptoir.connectors.webhooks import webhook_store
from comptoir.lib.meta_window import META_KINDS

logger = logging.getLogger("comptoir.meta")
# A body with receipts (Messenger's `delivery`/`read`, WhatsApp's `statuses`), told by its keys
# alone (nothing is parsed here); a buyer's text cannot hold a bare `"read":` (JSON escapes it).
RECEIPTS = re.compile(rb'"(?:statuses|delivery|read)"\s*:')


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
        webhook_store().note(channel_id, signed=False)
        return HttpResponse("bad signature", status=403)
    webhook_store().keep(channel_id, body)
    webhook_store().note(channel_id, signed=True, receipts=RECEIPTS.search(body) is not None)
    channel_store().request_channel_poll(channel_id)
    return HttpResponse("EVENT_RECEIVED", content_type="text/plain")
