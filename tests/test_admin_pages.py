"""The user's profile (language, timezone, password) and the admins' pages for shops, channels,
users and teams."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from comptoir.accounts.models import Role, Team, User
from comptoir.inbox.models import Channel, Shop


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("adele", "adele@example.com", "pw", role=Role.ADMIN)


@pytest.fixture
def as_admin(client: Client, admin: User) -> Client:
    client.force_login(admin)
    return client


def test_the_profile_sets_language_and_timezone_for_every_page(client: Client, agent: User) -> None:
    client.force_login(agent)

    response = client.post(
        "/profile/",
        {
            "first_name": "Marie",
            "last_name": "Curie",
            "language": "fr",
            "timezone": "America/Montreal",
        },
    )
    agent.refresh_from_db()

    assert response.status_code == 302
    assert (agent.language, agent.timezone, agent.last_name) == ("fr", "America/Montreal", "Curie")
    # French now, whatever the browser says.
    html = client.get("/inbox/", headers={"accept-language": "en"}).content.decode()
    assert "Répondre" in html or "Tout" in html
    refused = client.post("/profile/", {"language": "fr", "timezone": "Mars/Olympus"})
    assert refused.status_code == 400
    assert "unknown timezone" in refused.content.decode()


def test_the_header_language_switch_is_remembered_in_the_profile(
    client: Client, agent: User
) -> None:
    client.force_login(agent)

    client.post("/i18n/setlang/", {"language": "fr", "next": "/inbox/"})

    agent.refresh_from_db()
    assert agent.language == "fr"


def test_a_forgotten_password_is_reset_through_a_mailed_link(client: Client, agent: User) -> None:
    client.post("/password-reset/", {"email": "marie@example.com"})
    client.post("/password-reset/", {"email": "nobody@example.com"})  # says nothing more

    (sent,) = mail.outbox
    assert sent.to == ["marie@example.com"]
    link = re.search(r"http://testserver(/password-reset/\S+/)", sent.body)
    assert link is not None
    form = client.get(link.group(1), follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-long-new-passphrase", "new_password2": "a-long-new-passphrase"},
    )
    assert done.status_code == 302
    agent.refresh_from_db()
    assert agent.check_password("a-long-new-passphrase")
    again = client.get(link.group(1), follow=True).content.decode()
    assert "expired or was already used" in again


def test_only_owners_and_admins_reach_the_admin_pages(client: Client, agent: User) -> None:
    client.force_login(agent)
    for url in (
        "/settings/shops/",
        "/settings/users/",
        "/settings/teams/",
        "/settings/channels/new",
    ):
        assert client.get(url).status_code == 403, url


def test_an_admin_adds_a_shop_and_a_mailbox_channel_whose_secret_is_never_shown(
    as_admin: Client, team: Team
) -> None:
    as_admin.post(
        "/settings/shops/new",
        {"name": "Maison Lumière", "language": "fr", "country": "fr", "timezone": "Europe/Paris"},
    )
    shop = Shop.objects.get(name="Maison Lumière")
    assert (shop.slug, shop.country) == ("maison-lumiere", "FR")

    assert "Email" in as_admin.get("/settings/channels/new").content.decode()
    form = {
        "kind": "email", "name": "SAV", "shop": shop.pk, "marketplace": "shop", "team": team.pk,
        "is_active": "on", "imap_host": "imap.example.com", "imap_port": "993",
        "imap_security": "ssl", "username": "sav@example.com", "password": "s3cret!",
        "folders": "INBOX, Litiges", "idle": "on",
    }  # fmt: skip
    created = as_admin.post("/settings/channels/new", form)
    channel = Channel.objects.get(name="SAV")

    assert created.status_code == 302
    stored = channel.get_settings()
    assert stored["password"] == "s3cret!"
    assert stored["folders"] == ["INBOX", "Litiges"]
    assert stored["verify_tls"] is False  # an unticked box is off
    assert channel.team == team
    page = as_admin.get(f"/settings/channels/{channel.pk}/edit").content.decode()
    assert "s3cret!" not in page
    assert 'value="imap.example.com"' in page

    # Saving again with the password left blank keeps it; a wrong port is refused by name.
    as_admin.post(
        f"/settings/channels/{channel.pk}/edit", {**form, "password": "", "imap_port": "143"}
    )
    channel.refresh_from_db()
    assert channel.get_settings()["password"] == "s3cret!"
    assert channel.get_settings()["imap_port"] == 143
    wrong = as_admin.post(f"/settings/channels/{channel.pk}/edit", {**form, "imap_port": "abc"})
    assert wrong.status_code == 400
    assert "imap_port" in wrong.content.decode()


def test_new_settings_give_a_stopped_channel_another_go(as_admin: Client, channel: Channel) -> None:
    Channel.objects.filter(pk=channel.pk).update(is_healthy=False, last_error="401")
    as_admin.post(
        f"/settings/channels/{channel.pk}/edit",
        {"name": channel.name, "shop": channel.shop_id, "marketplace": channel.marketplace,
         "is_active": "on", "webhook_url": "https://shop.example/hook"},
    )  # fmt: skip

    channel.refresh_from_db()
    assert channel.is_healthy
    assert channel.last_error == ""


def test_an_admin_adds_a_user_to_a_team_and_deactivates_another(
    as_admin: Client, admin: User, team: Team, agent: User
) -> None:
    response = as_admin.post(
        "/settings/users/new",
        {"username": "karim", "email": "k@example.com", "role": "agent",
         "password": "a-long-new-passphrase", "teams": [team.pk]},
    )  # fmt: skip
    karim = User.objects.get(username="karim")
    as_admin.post(f"/settings/users/{agent.pk}/edit", {"role": "agent", "teams": [team.pk]})
    weak = as_admin.post(
        "/settings/users/new",
        {"username": "lea", "email": "l@example.com", "role": "agent", "password": "123"},
    )
    owner = as_admin.post(
        "/settings/users/new",
        {"username": "boss", "email": "b@example.com", "role": "owner",
         "password": "a-long-new-passphrase"},
    )  # fmt: skip
    self_demote = as_admin.post(f"/settings/users/{admin.pk}/edit", {"role": "agent"})

    assert response.status_code == 302
    assert list(karim.teams.all()) == [team]
    assert karim.check_password("a-long-new-passphrase")
    agent.refresh_from_db()
    assert not agent.is_active  # the box was left unticked
    assert weak.status_code == 400
    assert owner.status_code == 403  # only an owner makes owners
    assert self_demote.status_code == 400
    assert not User.objects.filter(username__in=["lea", "boss"]).exists()


def test_teams_list_their_members_and_channels(
    as_admin: Client, team: Team, agent: User, channel: Channel
) -> None:
    as_admin.post("/settings/teams/new", {"name": "Logistique", "members": [agent.pk]})
    clash = as_admin.post("/settings/teams/new", {"name": "logistique"})

    html = as_admin.get("/settings/teams/").content.decode()
    assert Team.objects.get(name="Logistique").members.get() == agent
    assert clash.status_code == 400
    assert channel.name in html
    assert "Logistique" in html


@pytest.mark.parametrize(
    ("language", "named", "raw"),
    [("fr", "Serveur IMAP", "Imap host"), ("en", "IMAP server", "Imap host")],
)
def test_a_channels_settings_are_named_for_people_in_the_users_language(
    as_admin: Client, admin: User, shop: Shop, language: str, named: str, raw: str
) -> None:
    admin.language = language
    admin.save(update_fields=["language"])
    channel = Channel.objects.create(shop=shop, kind="email", name="SAV")
    channel.set_settings({"imap_host": "imap.example.com", "username": "u", "password": "p"})
    channel.save()

    page = as_admin.get(f"/settings/channels/{channel.pk}/edit").content.decode()

    assert named in page
    assert raw not in page
    # A number keeps the form a number field reads ("30", not the French "30,0", which the
    # browser would show as an empty field).
    timeout = re.search(r'name="timeout_seconds" value="([^"]*)"', page)
    assert timeout is not None
    assert float(timeout[1]) > 0
