"""The port through which a connector sees its channel and asks what the inbox stores.

A connector sees its channel as a `ChannelInfo` (identity, settings, cursor) and reaches the
inbox's storage only through `ChannelStore`, which the inbox provides at start-up
(`provide_store`). `connectors.base` re-exports these names."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from comptoir.connectors.base import InboundMessage


class ChannelInfo(Protocol):
    """What a connector knows of its channel: who it is, its settings and its cursor (the
    inbox's `Channel` is one)."""

    @property
    def pk(self) -> Any: ...
    @property
    def kind(self) -> str: ...
    @property
    def marketplace(self) -> str: ...
    @property
    def name(self) -> str: ...

    cursor: Any  # the JSON object the last poll left, or None; `checkpoint` updates it

    def get_settings(self) -> dict[str, Any]: ...


class StoredChannel(ChannelInfo, Protocol):
    """A channel as a connector's background service lists them (`ChannelStore.channels`)."""

    @property
    def settings_encrypted(self) -> str: ...  # compared to notice that the settings changed


class ChannelStore(Protocol):
    """What a connector may ask of the inbox (provided by the inbox at start-up: the contract
    never imports it)."""

    def save_cursor(self, channel: ChannelInfo, cursor: dict[str, Any]) -> None:
        """Keep the channel's cursor now (a poll saves it itself once its messages are stored)."""
        ...

    def stored_external_ids(self, channel_id: int, external_ids: list[str]) -> set[str]:
        """Which of these marketplace message ids the channel already stores."""
        ...

    def claimed_external_ids(
        self,
        channel_id: int,
        external_ids: list[str],
        but: int,
        *,
        stored_before: datetime | None,
    ) -> set[str]:
        """See `Connector.claimed_external_ids`."""
        ...

    def queued_at(self, message_id: int) -> datetime | None:
        """When the Comptoir message was queued (None: no such message)."""
        ...

    def mark_unhealthy(self, channel: ChannelInfo, error: str) -> None:
        """The channel needs a human (its credentials were refused): stop it, with the reason."""
        ...

    def update_settings(
        self, channel: ChannelInfo, change: Callable[[dict[str, Any]], dict[str, Any] | None]
    ) -> dict[str, Any]:
        """Change the channel's stored settings under a lock on it (an OAuth token refreshed:
        two workers never both refresh). `change` gets the settings as stored now and returns
        the new ones, or None to keep them; returns the settings in force."""
        ...

    def store_file(self, data: bytes) -> str:
        """Keep these bytes (an original, an attachment) once; returns their sha256."""
        ...

    def ingest(self, messages: list[InboundMessage]) -> None:
        """Store these messages now (a source that forgets what it served once read)."""
        ...

    def record_bounce(self, channel_id: int, message_id: str, reason: str) -> None:
        """A delivery report says our message (by its Message-ID) never reached the buyer."""
        ...

    def request_poll(self, marketplace: str) -> list[int]:
        """A marketplace said (by mail) that something new is waiting: poll its channels that
        fetch, now. Returns the channels queued (none: no such channel)."""
        ...

    def request_channel_poll(self, channel_id: int) -> None:
        """Poll this channel now (its source said new messages arrived)."""
        ...

    def channels(self, kind: str) -> list[StoredChannel]:
        """The active, healthy channels of this kind."""
        ...


_store: list[ChannelStore] = []


def provide_store(store: ChannelStore) -> None:
    """The inbox hands its implementation of the port (InboxConfig.ready)."""
    _store[:] = [store]


def channel_store() -> ChannelStore:
    if not _store:
        raise RuntimeError("no channel store: the inbox app provides it when Django starts")
    return _store[0]
