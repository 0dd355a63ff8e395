"""The generic API channel: messages come in through `POST /api/v1/inbound`.

Replies are delivered to the integrator's webhook when one is configured; otherwise they are
marked sent and the integrator reads them from `GET /api/v1/conversations/{id}/messages`.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, HttpUrl

from comptoir.connectors.base import Connector, ConnectorError, OutboundMessage, SendResult
from comptoir.lib import http


class ApiSettings(BaseModel):
    webhook_url: HttpUrl | None = None
    timeout_seconds: float = 10.0


class ApiConnector(Connector):
    kind = "api"
    settings_model = ApiSettings

    def send(self, outbound: OutboundMessage) -> SendResult:
        conf = self.settings()
        assert isinstance(conf, ApiSettings)
        if conf.webhook_url is None:
            return SendResult(external_id=f"comptoir-{outbound.message_id}")
        body = json.dumps(
            {
                "idempotency_key": outbound.idempotency_key,
                "thread_id": outbound.conversation_thread_id,
                "to": outbound.to,
                "subject": outbound.subject,
                "text": outbound.text,
                "order_number": outbound.order_number,
            }
        ).encode()
        try:
            response = http.post(
                str(conf.webhook_url),
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Idempotency-Key": outbound.idempotency_key,
                },
                timeout=conf.timeout_seconds,
            )
        except http.HttpError as exc:
            raise ConnectorError(f"webhook unreachable: {exc}", permanent=exc.permanent) from exc
        code = response.status_code
        if not 200 <= code < 300:
            permanent = 400 <= code < 500 and code not in (408, 429)
            raise ConnectorError(f"webhook answered HTTP {code}", permanent=permanent)
        try:
            payload = json.loads(response.content or b"{}")
        except ValueError as exc:
            raise ConnectorError("webhook answered something that is not JSON") from exc
        return SendResult(external_id=str(payload.get("id") or f"comptoir-{outbound.message_id}"))
