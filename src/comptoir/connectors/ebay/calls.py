"""What the eBay connector's parts (claims, case steps, first messages) use of `EbayConnector`:
one declaration for the type checker, so each part need not repeat the signatures. At run
time the class is empty; the methods come from `EbayConnector` and `Connector`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from comptoir.connectors.base import ChannelInfo, OutboundMessage, SendResult, SentCandidate
    from comptoir.connectors.ebay.connector import EbaySettings


class EbayCalls:
    if TYPE_CHECKING:
        channel: ChannelInfo
        cursor: dict[str, Any]

        def conf(self) -> EbaySettings: ...
        def username(self) -> str: ...
        def close(self) -> None: ...
        def pick_sent(
            self, outbound: OutboundMessage, candidates: Iterable[SentCandidate]
        ) -> SendResult | None: ...
        def _get(
            self, path: str, params: dict[str, Any] | None = None, which: str = "api"
        ) -> Any: ...
        def _call(
            self,
            method: str,
            path: str,
            *,
            params: dict[str, Any] | None = None,
            json_body: Any = None,
            idempotent: bool | None = None,
            which: str = "api",
        ) -> Any: ...
        # ClaimsMixin's, used by the case steps.
        def _claim_detail(self, kind: str, claim_id: str) -> dict[str, Any]: ...
        def _claim_entries(
            self, kind: str, detail: dict[str, Any]
        ) -> list[tuple[datetime, str, str, str, str]]: ...
