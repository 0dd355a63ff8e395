"""Settings pages: channels with their health, and a connection test run by the worker."""

from __future__ import annotations

from django.test import Client
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import User
from comptoir.inbox.models import Channel


def test_admins_see_each_channels_health_and_why_it_stopped(
    client: Client, channel: Channel, agent: User
) -> None:
    admin = User.objects.create_user("admin2", "a@x.fr", "x", role="admin")
    Channel.objects.filter(pk=channel.pk).update(is_healthy=False, last_error="401: key revoked")
    client.force_login(agent)
    assert client.get("/settings/channels/").status_code == 403

    client.force_login(admin)
    html = client.get("/settings/channels/").content.decode()

    assert channel.name in html
    assert "stopped" in html
    assert "401: key revoked" in html


def test_a_connection_test_is_queued_then_its_outcome_shown(
    client: Client, channel: Channel
) -> None:
    admin = User.objects.create_user("admin2", "a@x.fr", "x", role="admin")
    client.force_login(admin)

    started = client.post(f"/settings/channels/{channel.pk}/test").content.decode()
    (queued,) = DBTaskResult.objects.all()
    waiting = client.get(f"/settings/channels/{channel.pk}/test/{queued.id}").content.decode()
    # The worker runs it (as `comptoir worker` does, minus closing the test's connection).
    queued.claim("test-worker")
    queued.set_successful(queued.task.call(*queued.args_kwargs["args"]))
    done = client.get(f"/settings/channels/{channel.pk}/test/{queued.id}").content.decode()

    assert "Testing" in started
    assert f"/settings/channels/{channel.pk}/test/{queued.id}" in started
    assert "Testing" in waiting
    assert 'class="ok test-outcome">ok</p>' in done
    other = Channel.objects.create(shop=channel.shop, kind="api", name="Autre")
    assert client.get(f"/settings/channels/{other.pk}/test/{queued.id}").status_code == 404
    assert client.get(f"/settings/channels/{channel.pk}/test/nope").status_code == 404
