"""The Cdiscount simulator for `comptoir demo`: a seller whose buyers write about their orders,
started with the discussions the demo loaded."""

from __future__ import annotations

from typing import Any

from comptoir.connectors.cdiscount.simulator.server import CdiscountSimulator
from comptoir.connectors.cdiscount.simulator.state import API, SimDiscussion, SimMessage


class _Demo:
    """A Cdiscount seller whose buyers write about their orders (for `comptoir demo`)."""

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = CdiscountSimulator(seed=seed)

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "seller_id": sim.seller_id,
            "base_url": f"{sim.url}{API}",
            "auth_url": sim.url,
        }

    def adopt(self, threads: list[Any]) -> None:
        sim = self.simulator
        for seeded in threads:
            if not seeded.order_id:
                continue  # Octopia's discussions are all about an order
            if seeded.order_id not in sim.orders:
                sim.add_order(seeded.order_id, customer_id=seeded.customer_id)
            discussion = SimDiscussion(
                discussion_id=seeded.thread_id,
                order_id=seeded.order_id,
                subject=seeded.subject or f"Commande {seeded.order_id}",
                customer_id=seeded.customer_id,
                first_name=seeded.first_name,
                last_name=seeded.last_name,
                created_at=seeded.messages[0].sent_at,
                updated_at=seeded.messages[-1].sent_at,
            )
            discussion.messages = [
                SimMessage(
                    message_id=m.external_id,
                    discussion_id=seeded.thread_id,
                    body=m.text,
                    sender_type="Seller" if m.outbound else "Customer",
                    sender_id=sim.seller_id if m.outbound else seeded.customer_id,
                    receivers=["Customer"] if m.outbound else ["Seller"],
                    created_at=m.sent_at,
                    has_read=True,
                )
                for m in seeded.messages
            ]
            sim.discussions[seeded.thread_id] = discussion

    def buyer_writes(self, written: Any) -> None:
        sim = self.simulator
        order_id = written.order_id.replace("-", "")
        if order_id not in sim.orders:
            sim.add_order(order_id, customer_id=written.customer_id)
        sim.buyer_writes(
            order_id=order_id,
            text=written.text,
            subject=written.subject,
            customer_id=written.customer_id,
            attachments=written.attachments,
        )


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
