"""The eBay simulator and channel settings the eBay test files share."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from comptoir.connectors.ebay import connector as ebay
from comptoir.connectors.ebay.simulator import EbaySimulator


def running_simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[EbaySimulator]:
    """A started simulator (stopped after the test), and no access token cached from before."""
    monkeypatch.setattr(ebay, "_tokens", {})
    simulator = EbaySimulator(seed=11)
    simulator.faults.hang_seconds = 1.4  # longer than the client's 1 s timeout
    simulator.start()
    yield simulator
    simulator.stop()


def channel_settings(sim: EbaySimulator) -> dict[str, Any]:
    return {
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
        "refresh_token": sim.refresh_token,
        "api_url": sim.url,
        "apiz_url": sim.url,
        "timeout_seconds": 1.0,
        "requests_per_second": 0,
    }
