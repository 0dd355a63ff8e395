"""The Fnac simulator for `comptoir demo`: a shop whose buyers write about their orders,
started with the messages the demo loaded."""

from __future__ import annotations

from typing import Any

from comptoir.connectors.fnac.simulator.server import FnacSimulator
from comptoir.connectors.fnac.simulator.state import SimMessage


class _Demo:
    """A Fnac shop whose buyers write about their orders (for `comptoir demo`)."""

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = FnacSimulator(seed=seed)
        self.orders: dict[str, str] = {}  # the demo's order -> Fnac's order id

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "partner_id": sim.partner_id,
            "shop_id": sim.shop_id,
            "key": sim.key,
            "base_url": sim.base_url,
        }

    def adopt(self, threads: list[Any]) -> None:
        sim = self.simulator
        for seeded in threads:
            if not seeded.order_id:
                continue  # an offer question: nothing the demo seeds
            if seeded.order_id not in sim.orders:
                sim.add_order(
                    order_id=seeded.order_id,
                    firstname=seeded.first_name,
                    lastname=seeded.last_name,
                )
            short = f"{seeded.first_name} {seeded.last_name[:1]}."
            for m in seeded.messages:
                sim.messages.append(
                    SimMessage(
                        message_id=m.external_id,
                        referer_type="ORDER",
                        referer=seeded.order_id,
                        from_type="SELLER" if m.outbound else "CLIENT",
                        from_name="Maison Lumière" if m.outbound else short,
                        subject="order_information",
                        description=m.text,
                        created_at=m.sent_at,
                        updated_at=m.sent_at,
                        state="READ",
                        to="CLIENT" if m.outbound else "",
                    )
                )
        # The simulator's own messages start from 20 days back (tests want distinct past
        # times); the demo's buyers write now, after the history it just adopted.
        sim.catch_up()

    def buyer_writes(self, written: Any) -> None:
        sim = self.simulator
        if written.order_id not in self.orders:
            first, _, last = written.customer_name.partition(" ")
            self.orders[written.order_id] = sim.add_order(firstname=first, lastname=last or first)
        sim.buyer_writes(order_id=self.orders[written.order_id], text=written.text)


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
