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


def test_the_settings_index_links_each_page_the_role_may_open_and_no_other(
    client: Client, channel: Channel, agent: User, supervisor: User, analyst: User
) -> None:
    from django.urls import reverse

    from comptoir.web.settings_views import SETTINGS_PAGES

    owner = User.objects.create_user("owner2", "o@x.fr", "x", role="owner")
    admin = User.objects.create_user("admin2", "a@x.fr", "x", role="admin")
    every_page = {reverse(page.url_name) for page in SETTINGS_PAGES}
    shown: dict[str, set[str]] = {}
    for user in (owner, admin, supervisor, agent, analyst):
        client.force_login(user)
        answer = client.get("/settings/")
        assert answer.status_code == 200
        html = answer.content.decode()
        shown[user.username] = {url for url in every_page if f'href="{url}"' in html}
        for url in every_page:
            opened = client.get(url).status_code
            assert opened == (200 if url in shown[user.username] else 403), (user.role, url)

    assert shown["owner2"] == every_page
    assert shown["admin2"] == every_page
    assert shown["paul"] == {
        "/settings/templates/",
        "/settings/checks/",
        "/settings/rules/",
        "/settings/notifications/",
    }
    assert shown["marie"] == {"/settings/notifications/"}


def test_the_header_s_settings_link_leads_owners_to_the_index(
    client: Client, channel: Channel
) -> None:
    owner = User.objects.create_user("owner2", "o@x.fr", "x", role="owner")
    client.force_login(owner)

    html = client.get("/settings/").content.decode()

    assert '<a href="/settings/">' in html
    assert "Respond-by targets per channel" in html
