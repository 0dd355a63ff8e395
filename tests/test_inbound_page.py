"""Failed inbound messages in the web UI (/settings/inbound/): owners and admins see the channel,
when, why, download the raw payload and retry one or all, through the same code as
`comptoir inbound retry`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest import receive
from comptoir.inbox.models import Channel, InboundRecord, InboundState, Message
from comptoir.inbox.tasks import retry_failed_inbound

MakeInbound = Callable[..., InboundMessage]


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("alice", "alice@x.fr", "x", role="admin")


def failed_record(
    make_inbound: MakeInbound, channel: Channel, *, error: str = "database is locked", **kw: Any
) -> InboundRecord:
    """A valid payload whose storing failed (the cause is gone now: a retry stores it)."""
    raw = make_inbound(**kw).model_dump_json().encode()
    return InboundRecord.objects.create(
        channel=channel, raw=raw, state=InboundState.FAILED, error=error, attempts=1
    )


def test_an_admin_sees_failed_inbound_messages_with_channel_reason_and_raw_payload(
    client: Client, admin: User, channel: Channel, make_inbound: MakeInbound
) -> None:
    broken = receive(b'{"text": "half a payl', source="api", channel_id=channel.pk)
    record = InboundRecord.objects.get(pk=broken.record_id)
    assert record.state == InboundState.FAILED
    stored = receive(make_inbound().model_dump_json().encode(), channel_id=channel.pk)
    client.force_login(admin)

    html = client.get("/settings/inbound/").content.decode()

    assert f'id="inbound-{record.pk}"' in html
    assert f'id="inbound-{stored.record_id}"' not in html  # only the failed ones
    assert channel.name in html
    assert "payload is not valid JSON" in html
    assert f'href="/settings/inbound/{record.pk}/raw"' in html
    raw = client.get(f"/settings/inbound/{record.pk}/raw")
    assert raw.content == b'{"text": "half a payl'
    assert raw["Content-Type"] == "application/octet-stream"
    assert f'filename="inbound-{record.pk}.json"' in raw["Content-Disposition"]


def test_the_settings_nav_links_to_failed_inbound_messages(client: Client, admin: User) -> None:
    client.force_login(admin)

    html = client.get("/settings/channels/").content.decode()

    assert 'href="/settings/inbound/"' in html


def test_agents_may_not_see_or_retry_failed_inbound_messages(
    client: Client, agent: User, channel: Channel, make_inbound: MakeInbound
) -> None:
    record = failed_record(make_inbound, channel)
    client.force_login(agent)

    assert client.get("/settings/inbound/").status_code == 403
    assert client.get(f"/settings/inbound/{record.pk}/raw").status_code == 403
    assert client.post("/settings/inbound/retry", {"record": record.pk}).status_code == 403
    assert InboundRecord.objects.get(pk=record.pk).state == InboundState.FAILED


def test_retry_stores_a_failed_inbound_message_and_it_leaves_the_page(
    client: Client, admin: User, channel: Channel, make_inbound: MakeInbound
) -> None:
    record = failed_record(make_inbound, channel, text="Mon colis est arrivé cassé.")
    client.force_login(admin)

    response = client.post("/settings/inbound/retry", {"record": record.pk}, follow=True)

    assert InboundRecord.objects.get(pk=record.pk).state == InboundState.STORED
    assert Message.objects.filter(text="Mon colis est arrivé cassé.").count() == 1
    html = response.content.decode()
    assert "The message is stored in its conversation." in html
    assert f'id="inbound-{record.pk}"' not in html


def test_a_retry_that_fails_again_says_why_and_stays_listed(
    client: Client, admin: User, channel: Channel
) -> None:
    result = receive(b"not json", source="api", channel_id=channel.pk)
    client.force_login(admin)

    response = client.post("/settings/inbound/retry", {"record": result.record_id}, follow=True)

    html = response.content.decode()
    assert "It failed again: payload is not valid JSON" in html
    assert f'id="inbound-{result.record_id}"' in html
    assert InboundRecord.objects.get(pk=result.record_id).attempts == 2


def test_retry_all_is_queued_and_the_worker_retries_every_failed_record(
    client: Client, admin: User, channel: Channel, make_inbound: MakeInbound
) -> None:
    good = [failed_record(make_inbound, channel) for _ in range(3)]
    bad = receive(b"[]", source="api", channel_id=channel.pk)
    client.force_login(admin)

    client.post("/settings/inbound/retry", {"all": "1"})

    assert DBTaskResult.objects.filter(task_path__endswith="retry_failed_inbound").count() == 1
    assert retry_failed_inbound.call() == {"stored": 3, "failed": 1}
    states = dict(InboundRecord.objects.values_list("pk", "state"))
    assert [states[r.pk] for r in good] == [InboundState.STORED] * 3
    assert states[bad.record_id] == InboundState.FAILED


def test_failed_inbound_messages_are_paged_newest_first(
    client: Client, admin: User, channel: Channel, make_inbound: MakeInbound
) -> None:
    now = timezone.now()
    records = [failed_record(make_inbound, channel) for _ in range(55)]
    for i, r in enumerate(records):  # two by two on the same second: ties broken by id
        InboundRecord.objects.filter(pk=r.pk).update(received_at=now - timedelta(seconds=i // 2))
    client.force_login(admin)

    first = client.get("/settings/inbound/").content.decode()
    cursor = re.search(r'rel="next" href="\?cursor=([^"]+)"', first)
    assert cursor is not None
    second = client.get(f"/settings/inbound/?cursor={cursor.group(1)}").content.decode()

    shown = [int(x) for x in re.findall(r'id="inbound-(\d+)"', first + second)]
    newest_first = sorted(range(55), key=lambda i: (i // 2, -records[i].pk))
    assert shown == [records[i].pk for i in newest_first]
    assert "55 failed messages" in first
    assert 'rel="next"' not in second
    assert client.get("/settings/inbound/?cursor=garbage").status_code == 400


def test_the_failed_inbound_page_costs_the_same_queries_for_3_or_30_records(
    client: Client,
    admin: User,
    channel: Channel,
    make_inbound: MakeInbound,
    django_assert_num_queries: Any,
) -> None:
    other = Channel.objects.create(shop=channel.shop, kind="api", name="Fnac", team=channel.team)
    for i in range(3):
        failed_record(make_inbound, channel if i % 2 else other)
    client.force_login(admin)
    client.get("/settings/inbound/")  # the session and user are cached alike after this

    # session, user, the page of records with their channels, the count
    with django_assert_num_queries(4) as small:
        assert client.get("/settings/inbound/").status_code == 200
    for i in range(27):
        failed_record(make_inbound, channel if i % 2 else other)
    with django_assert_num_queries(len(small.captured_queries)):
        html = client.get("/settings/inbound/").content.decode()
    assert html.count('id="inbound-') == 30
