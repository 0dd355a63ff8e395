"""Marketplace simulators for `comptoir demo`: each channel of a simulated kind gets its own
simulator, with buyers who keep writing (see the `simulate` command)."""

from __future__ import annotations

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


class DemoMarketplace(Protocol):
    simulator: DemoSimulator

    def settings(self) -> dict[str, Any]:
        """The channel settings that point the connector at this simulator."""
        ...

    def buyer_writes(self, written: Written) -> None: ...


# channel kind -> a factory `(channel, seed) -> DemoMarketplace` (not started)
DEMO_SIMULATORS: dict[str, str] = {
    "mirakl": "comptoir.connectors.mirakl.simulator.demo",
    "ebay": "comptoir.connectors.ebay.simulator.demo",
    "cdiscount": "comptoir.connectors.cdiscount.simulator.demo",
    "fnac": "comptoir.connectors.fnac.simulator.demo",
    "rakuten": "comptoir.connectors.rakuten.simulator.demo",
    "email": "comptoir.connectors.email.simulator.demo",
}


def demo_for(channel: Channel, seed: int = 0) -> DemoMarketplace | None:
    path = DEMO_SIMULATORS.get(channel.kind)
    if path is None:
        return None
    factory = import_string(path)
    market: DemoMarketplace = factory(channel, seed)
    return market
