"""What the chat asks of the desk (the agents' side), which sits above it: provided when Django
starts (`comptoir.inbox.chat_views.install`), as the contract's `ChannelStore` is. Without it
(a connector test) the chat assumes someone is there and names nobody."""

from __future__ import annotations

from typing import Protocol


class Desk(Protocol):
    def agents_online(self, channel_id: int) -> bool:
        """Whether an agent who can answer this channel is at the desk now."""
        ...

    def agent_typing(self, channel_id: int, thread_id: str) -> str:
        """The first name of an agent writing an answer in this visitor's conversation, or ""."""
        ...

    def author_name(self, message_id: int) -> str:
        """The first name of the agent who wrote this reply (the inbox's message id), or ""."""
        ...


class _Nobody:
    def agents_online(self, channel_id: int) -> bool:
        return True

    def agent_typing(self, channel_id: int, thread_id: str) -> str:
        return ""

    def author_name(self, message_id: int) -> str:
        return ""


_desk: list[Desk] = [_Nobody()]


def provide_desk(desk: Desk) -> None:
    _desk[:] = [desk]


def desk() -> Desk:
    return _desk[0]
