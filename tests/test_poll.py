"""Polling a channel: fetch from the cursor, store, then move the cursor; errors leave it."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import pytest

from comptoir.connectors import registry
from comptoir.connectors.base import Connector, ConnectorError, InboundMessage
from comptoir.inbox.models import Channel, Conversation, Message
from comptoir.inbox.tasks import poll_channel, poll_channels
from tests.conftest import ago


class PagedConnector(Connector):
    """Serves `pages` after the cursor's page number, like a marketplace's seek pagination."""

    kind = "paged"
    pages: ClassVar[list[list[dict[str, Any]]]] = []
    fail_after: ClassVar[int | None] = None
    error: ClassVar[ConnectorError | None] = None

    def fetch(self, since: dict[str, Any]) -> Iterable[InboundMessage]:
        return self._pages(int(since.get("page", 0)))

    def _pages(self, start: int) -> Iterator[InboundMessage]:
        for number in range(start, len(self.pages)):
            if self.fail_after is not None and number >= self.fail_after:
                assert self.error is not None
                raise self.error
            for data in self.pages[number]:
                yield InboundMessage.model_validate({"channel_id": self.channel.pk, **data})
            self.cursor = {"page": number + 1}


def _page(n: int, size: int = 3) -> list[dict[str, Any]]:
    return [
        {
            "external_id": f"p{n}-{i}",
            "thread_id": f"thread-{n}",
            "sender": {"identity_value": f"buyer{n}@example.com"},
            "text": f"page {n} message {i}",
            "sent_at": ago(hours=10 - n, minutes=10 - i).isoformat(),
        }
        for i in range(size)
    ]


@pytest.fixture
def paged(monkeypatch: pytest.MonkeyPatch, channel: Channel) -> type[PagedConnector]:
    monkeypatch.setitem(registry.CONNECTORS, "paged", f"{__name__}.PagedConnector")
    monkeypatch.setattr(PagedConnector, "pages", [_page(0), _page(1)])
    monkeypatch.setattr(PagedConnector, "fail_after", None)
    Channel.objects.filter(pk=channel.pk).update(kind="paged")
    return PagedConnector


def test_a_poll_stores_new_messages_and_moves_the_cursor(
    paged: type[PagedConnector], channel: Channel
) -> None:
    assert poll_channel.call(channel.pk) == 6

    channel.refresh_from_db()
    assert channel.cursor == {"page": 2}
    assert channel.last_sync_at is not None
    assert Message.objects.count() == 6
    assert Conversation.objects.count() == 2


def test_polling_again_fetches_only_what_is_new(
    paged: type[PagedConnector], channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    poll_channel.call(channel.pk)
    monkeypatch.setattr(PagedConnector, "pages", [_page(0), _page(1), _page(2)])

    assert poll_channel.call(channel.pk) == 3
    assert Message.objects.count() == 9


def test_a_full_resync_from_an_empty_cursor_stores_nothing_twice(
    paged: type[PagedConnector], channel: Channel
) -> None:
    poll_channel.call(channel.pk)
    Channel.objects.filter(pk=channel.pk).update(cursor={})

    poll_channel.call(channel.pk)

    assert Message.objects.count() == 6


def test_an_outage_mid_poll_keeps_the_cursor_and_the_channel_healthy(
    paged: type[PagedConnector], channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PagedConnector, "fail_after", 1)
    monkeypatch.setattr(PagedConnector, "error", ConnectorError("HTTP 503 from the marketplace"))

    poll_channel.call(channel.pk)

    channel.refresh_from_db()
    assert channel.cursor == {}
    assert channel.is_healthy is True
    assert channel.last_error == "HTTP 503 from the marketplace"

    monkeypatch.setattr(PagedConnector, "fail_after", None)
    poll_channel.call(channel.pk)
    assert Message.objects.count() == 6


def test_a_permanent_error_marks_the_channel_unhealthy_and_stops_polling_it(
    paged: type[PagedConnector], channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(PagedConnector, "fail_after", 0)
    monkeypatch.setattr(
        PagedConnector, "error", ConnectorError("401: token revoked", permanent=True)
    )

    poll_channel.call(channel.pk)

    channel.refresh_from_db()
    assert channel.is_healthy is False
    assert "token revoked" in channel.last_error
    assert poll_channels.call() == 0


def test_poll_channels_queues_only_active_healthy_channels_that_fetch(
    paged: type[PagedConnector], channel: Channel, shop: Any
) -> None:
    Channel.objects.create(shop=shop, kind="paged", name="paused", is_active=False)
    Channel.objects.create(shop=shop, kind="api", name="push only")
    # Never set up: a connector that needs settings has none yet.
    Channel.objects.create(shop=shop, kind="mirakl", name="Darty, to configure")

    assert poll_channels.call() == 1
