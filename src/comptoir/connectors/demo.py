"""Marketplace simulators for `comptoir demo`: each channel of a simulated kind gets its own
simulator, with buyers who keep writing (see the `simulate` command)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from comptoir.demo.buyers import Written
    from comptoir.inbox.models import Channel


class DemoSimulator(Protocol):
    violations: list[str]

    @property
    def url(self) -> str: ...

    def start(self) -> Any: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class SeededMessage:
    """A message of the demo's history, with the id Comptoir stored it under."""

    external_id: str
    outbound: bool  # the shop's reply
    text: str
    sent_at: datetime


@dataclass(frozen=True)
class SeededThread:
    """A conversation the demo loaded into Comptoir, for its simulator to know as well: a reply
    to it must reach a thread the marketplace has (and the next poll finds nothing new)."""

    thread_id: str
    order_id: str
    customer_id: str  # the buyer's identity on the marketplace
    customer_name: str
    subject: str
    messages: list[SeededMessage] = field(default_factory=list)

    @property
    def first_name(self) -> str:
        return self.customer_name.partition(" ")[0] or "Client"

    @property
    def last_name(self) -> str:
        return self.customer_name.partition(" ")[2] or self.first_name


class DemoMarketplace(Protocol):
    simulator: DemoSimulator

    def settings(self) -> dict[str, Any]:
        """The channel settings that point the connector at this simulator."""
        ...

    def buyer_writes(self, written: Written) -> None: ...

    def adopt(self, threads: list[SeededThread]) -> None:
        """Know the demo's seeded conversations (ids, order, buyer, messages) before starting."""
        ...


# channel kind -> a factory `(channel, seed) -> DemoMarketplace` (not started)
DEMO_SIMULATORS: dict[str, str] = {
    "amazon": "comptoir.connectors.amazon.simulator.demo",
    "mirakl": "comptoir.connectors.mirakl.simulator.demo",
    "ebay": "comptoir.connectors.ebay.simulator.demo",
    "cdiscount": "comptoir.connectors.cdiscount.simulator.demo",
    "fnac": "comptoir.connectors.fnac.simulator.demo",
    "rakuten": "comptoir.connectors.rakuten.simulator.demo",
    "spartoo": "comptoir.connectors.spartoo.simulator.demo",
    "email": "comptoir.connectors.email.simulator.demo",
    "messenger": "comptoir.connectors.meta.demo.demo",
    "instagram": "comptoir.connectors.meta.demo.demo",
    "whatsapp": "comptoir.connectors.meta.demo.demo",
}


def demo_for(channel: Channel, seed: int = 0) -> DemoMarketplace | None:
    path = DEMO_SIMULATORS.get(channel.kind)
    if path is None:
        return None
    factory = import_string(path)
    market: DemoMarketplace = factory(channel, seed)
    return market
