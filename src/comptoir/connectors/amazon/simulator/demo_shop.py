"""The Amazon simulator for `comptoir demo`: the shop's SP-API authorisation, where every order
a buyer names exists."""

from __future__ import annotations

from typing import Any

from comptoir.connectors.amazon.simulator.server import AmazonSimulator


class _Demo:
    """The shop's Amazon SP-API authorisation (for `comptoir demo`): it reads the orders named
    in the Amazon mailbox's buyer mail and sends proactive messages. Buyers do not write
    through it (Amazon relays their mail to the mailbox)."""

    buyers_write = False

    def __init__(self, channel: Any, seed: int) -> None:
        self.simulator = AmazonSimulator(seed=seed, enforce_rate_limits=False)
        self.simulator.every_order_exists = True

    def settings(self) -> dict[str, Any]:
        sim = self.simulator
        return {
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "refresh_token": sim.refresh_token,
            "seller_id": sim.seller_id,
            "marketplace_id": sim.marketplace_id,
            "shop_name": "Maison Lumière",
            "endpoint": sim.url,
            "token_url": f"{sim.url}/auth/o2/token",
        }

    def adopt(self, threads: list[Any]) -> None:
        """Nothing to know: the mailbox holds the conversations, and every order exists."""

    def buyer_writes(self, written: Any) -> None:
        raise NotImplementedError("Amazon buyers write through the Amazon mailbox")


def demo(channel: Any, seed: int = 0) -> _Demo:
    return _Demo(channel, seed)
