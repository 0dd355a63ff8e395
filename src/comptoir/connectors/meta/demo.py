"""Messenger, Instagram and WhatsApp buyers for `comptoir demo`: they write through the Meta
simulator, whose signed webhooks go to the channel's real webhook view (in this process: a demo
has no public URL for Meta to call), and the replies sent from Comptoir come back read."""

from __future__ import annotations

import hashlib
from typing import Any

from django.test import RequestFactory

from comptoir.connectors.meta import views
from comptoir.connectors.meta.simulator import MetaSimulator


class MetaDemo:
    def __init__(self, channel: Any, seed: int) -> None:
        self.channel_id = int(channel.pk)
        self.simulator = MetaSimulator(channel.kind, seed=seed)
        self.reported = 0  # replies whose receipts were sent

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        common = {"app_secret": sim.app_secret, "verify_token": sim.verify_token}
        common["graph_url"] = sim.url
        if sim.platform == "whatsapp":
            account = {"phone_number_id": sim.account_id, "access_token": sim.token}
            return common | account | {"business_account_id": sim.waba_id}
        return common | {"page_id": sim.account_id, "page_access_token": sim.token}

    def adopt(self, threads: list[Any]) -> None:
        """No history to know: the demo seeds none on Meta's channels."""

    def buyer_id(self, customer_id: str) -> str:
        digits = str(int(hashlib.sha256(customer_id.encode()).hexdigest()[:12], 16))
        return "336" + digits[:8] if self.simulator.platform == "whatsapp" else "7" + digits[:15]

    def buyer_writes(self, written: Any) -> None:
        sim = self.simulator
        # The replies sent since the last message were delivered and read.
        self.reported += sim.receipts(first=self.reported)
        attachment = written.attachments[0] if written.attachments else None
        sim.buyer_writes(
            self.buyer_id(written.customer_id),
            written.text,
            name=written.customer_name,
            attachment=attachment,
        )
        sim.deliver(self.post)

    def post(self, body: bytes, signature: str) -> int:
        request = RequestFactory().post(
            f"/hooks/meta/{self.channel_id}/",
            data=body,
            content_type="application/json",
            headers={"X-Hub-Signature-256": signature},
        )
        return int(views.webhook(request, self.channel_id).status_code)


def demo(channel: Any, seed: int = 0) -> MetaDemo:
    return MetaDemo(channel, seed)
