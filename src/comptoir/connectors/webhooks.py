"""The port for connectors fed by webhooks (Meta's): what they ask of the inbox beyond
`ChannelStore` (kept apart: `base` is full).

A webhook's body is kept as it came, before anything is answered (`keep`): a crash after that
loses nothing. The channel's poll then reads the kept bodies (`pending`), turns them into
messages (downloading their media outside the web request), and once those are stored marks
the bodies done (`done`). Reading a body twice stores nothing twice: ingest is idempotent on
the message id. Delivery and read receipts go to `record_status`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from comptoir.connectors.base import ChannelInfo


class WebhookStore(Protocol):
    def channel(self, channel_id: int, kinds: frozenset[str]) -> ChannelInfo | None:
        """The active channel of one of these kinds, healthy or not: a channel stopped for a
        refused token still keeps what its buyers write."""
        ...

    def keep(self, channel_id: int, raw: bytes) -> int:
        """Keep one delivery's raw body (committed before returning); returns its id."""
        ...

    def note(self, channel_id: int, *, signed: bool, receipts: bool = False) -> None:
        """A delivery came: signed (kept; `receipts` when it holds delivery, read or status
        events), or refused for its signature. For the channel's health."""
        ...

    def pending(self, channel_id: int, limit: int) -> list[tuple[int, bytes]]:
        """The channel's kept bodies not yet done, oldest first: (id, raw)."""
        ...

    def done(self, ids: list[int]) -> None:
        """These bodies' messages are stored."""
        ...

    def failed(self, record_id: int, error: str) -> None:
        """This body cannot be read (visible and retryable with the failed inbound)."""
        ...

    def record_status(
        self, channel_id: int, external_id: str, status: str, at: datetime, error: str = ""
    ) -> bool:
        """The platform says our message `external_id` was `delivered`, `read` or `failed`
        (with `error`). Once per message and status; False when no sent message has that id."""
        ...


_store: list[WebhookStore] = []


def provide_webhook_store(store: WebhookStore) -> None:
    _store[:] = [store]


def webhook_store() -> WebhookStore:
    if not _store:
        raise RuntimeError("no webhook store: the inbox app provides it when Django starts")
    return _store[0]
