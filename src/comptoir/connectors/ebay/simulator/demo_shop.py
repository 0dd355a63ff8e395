"""The eBay simulator for `comptoir demo`: a seller account whose buyers write about their
orders, started with the conversations the demo loaded."""

from __future__ import annotations

from typing import Any

from comptoir.connectors.ebay.simulator.server import EbaySimulator
from comptoir.connectors.ebay.simulator.state import SimConversation, SimMessage


class _Demo:
    """An eBay seller account whose buyers write about their orders (for `comptoir demo`)."""

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = EbaySimulator(seed=seed)
        self.conversations: dict[str, str] = {}  # order -> eBay conversation id

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "refresh_token": sim.refresh_token,
            "api_url": sim.url,
            "apiz_url": sim.url,
        }

    def adopt(self, threads: list[Any]) -> None:
        sim = self.simulator
        for seeded in threads:
            if seeded.order_id and seeded.order_id not in sim.orders:
                sim.add_order(seeded.order_id, buyer=seeded.customer_id)
            subject = f"{seeded.customer_id} sent a message about your item"
            if seeded.order_id:
                subject = f"{seeded.customer_id} sent a message about order {seeded.order_id}"
            conv = SimConversation(
                conversation_id=seeded.thread_id,
                conversation_type="FROM_MEMBERS",
                title=subject,
                other_party=seeded.customer_id,
                created=seeded.messages[0].sent_at,
            )
            for m in seeded.messages:
                seller, buyer = sim.seller, seeded.customer_id
                conv.messages.append(
                    SimMessage(
                        message_id=m.external_id,
                        sender=seller if m.outbound else buyer,
                        recipient=buyer if m.outbound else seller,
                        body=m.text,
                        subject=subject,
                        created=m.sent_at,
                        read=True,
                    )
                )
            sim.conversations[seeded.thread_id] = conv

    def buyer_writes(self, written: Any) -> None:
        sim = self.simulator
        number = int("".join(c for c in written.order_id if c.isdigit()) or "0")
        order_id = f"{number % 100:02d}-{number % 100_000:05d}-{number * 7 % 100_000:05d}"
        if order_id not in sim.orders:
            sim.add_order(order_id, buyer=written.customer_id)
        sim.buyer_writes(
            written.text,
            buyer=written.customer_id,
            order_id=order_id,
            listing_id=f"1100{written.order_id[-5:]}",
        )


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
