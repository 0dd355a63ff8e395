"""The Mirakl simulator and the Darty channel that the order, health, attachment and order-thread
test files share, as fixtures (loaded by `pytest_plugins` in conftest.py; a module's own `sim`
or `darty`, as test_mirakl.py has, wins over these)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox.models import Channel, Shop


@pytest.fixture
def sim() -> Iterator[MiraklSimulator]:
    simulator = MiraklSimulator(seed=5)
    simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture
def darty(shop: Shop, team: Any, sim: MiraklSimulator, sleeps: list[float]) -> Channel:
    channel = Channel(shop=shop, kind="mirakl", marketplace="darty", name="Darty", team=team)
    channel.set_settings({"base_url": sim.url, "api_key": "sim-key", "timeout_seconds": 2})
    channel.save()
    return channel
