"""A connector for tests: records what it is asked to send and plays a script of outcomes.

Register it for a channel kind with `install(monkeypatch)`; then queue outcomes with
`FakeConnector.script.append(...)`: a `SendResult` to return, or an exception to raise. With an
empty script every send succeeds with the external id `fake-<message id>`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from comptoir.connectors import registry
from comptoir.connectors.base import Connector, OutboundMessage, SendResult

if TYPE_CHECKING:
    import pytest

PATH = "tests.fake_connector.FakeConnector"


class FakeConnector(Connector):
    kind = "api"

    script: ClassVar[list[SendResult | BaseException]] = []
    sent: ClassVar[list[OutboundMessage]] = []

    def send(self, outbound: OutboundMessage) -> SendResult:
        FakeConnector.sent.append(outbound)
        if FakeConnector.script:
            outcome = FakeConnector.script.pop(0)
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        return SendResult(external_id=f"fake-{outbound.message_id}")


def install(monkeypatch: pytest.MonkeyPatch, kind: str = "api") -> type[FakeConnector]:
    """Serve channels of `kind` with a fresh FakeConnector (undone after the test)."""
    monkeypatch.setitem(registry.CONNECTORS, kind, PATH)
    monkeypatch.setattr(FakeConnector, "script", [])
    monkeypatch.setattr(FakeConnector, "sent", [])
    return FakeConnector
