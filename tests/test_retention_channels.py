"""Retention per channel: a marketplace's published maximum is its channels' default (Amazon:
30 days, anonymised), a shop may be stricter, a channel may have its own; the page states each
channel's rule; the daily job and its dry run apply exactly that."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import Role, User
from comptoir.audit.models import AuditEvent
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.privacy import actions
from comptoir.privacy.models import Anonymised, ChannelRetention, RetentionPolicy


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("olivia", "olivia@example.com", "pw", role=Role.OWNER)


def conversation(channel: Channel, days_old: int) -> Conversation:
    conv = Conversation.objects.create(shop=channel.shop, channel=channel, subject="Où est-il ?")
    Conversation.objects.filter(pk=conv.pk).update(
        last_message_at=timezone.now() - timedelta(days=days_old)
    )
    return conv


@pytest.fixture
def channels(shop: Shop) -> dict[str, Channel]:
    make = Channel.objects.create
    return {
        "amazon": make(shop=shop, kind="amazon", marketplace="amazon", name="Amazon FR"),
        "ebay": make(shop=shop, kind="ebay", marketplace="ebay", name="eBay FR"),
        "darty": make(shop=shop, kind="mirakl", marketplace="darty", name="Darty"),
        "email": make(shop=shop, kind="email", marketplace="shop", name="Boutique"),
    }


def policies() -> dict[str, tuple[int, str, str]]:
    return {c.name: (p.days, p.mode, p.source) for c, p in actions.channel_policies()}


def test_amazon_defaults_to_its_30_days_others_to_the_shop(
    owner: User, shop: Shop, channels: dict[str, Channel]
) -> None:
    assert policies() == {
        "Amazon FR": (30, "anonymise", "marketplace"),
        "eBay FR": (0, "anonymise", "default"),
        "Darty": (0, "anonymise", "default"),
        "Boutique": (0, "anonymise", "default"),
    }
    # A shop keeping a year: Amazon's channel still 30 days (the rule is a ceiling)...
    actions.save_retention(shop, actor=owner, days=365, mode="delete")
    assert policies()["Amazon FR"] == (30, "anonymise", "marketplace")
    assert policies()["eBay FR"] == (365, "delete", "shop")
    # ...a stricter shop wins over it...
    actions.save_retention(shop, actor=owner, days=14, mode="anonymise")
    assert policies()["Amazon FR"] == (14, "anonymise", "shop")
    # ...and a channel's own beats both, until it follows the default again.
    actions.save_channel_retention(channels["amazon"], actor=owner, days=20, mode="delete")
    assert policies()["Amazon FR"] == (20, "delete", "channel")
    actions.save_channel_retention(channels["amazon"], actor=owner, days=None, mode="")
    assert policies()["Amazon FR"] == (14, "anonymise", "shop")
    changed = AuditEvent.objects.filter(action="retention.changed", object_type="inbox.channel")
    assert [e.changes for e in changed.order_by("pk")] == [
        {"days": [None, 20], "mode": [None, "delete"]},
        {"days": [20, None], "mode": ["delete", None]},
    ]


def test_the_daily_job_and_its_dry_run_follow_each_channel(
    owner: User, channels: dict[str, Channel]
) -> None:
    old_amazon = conversation(channels["amazon"], 31)
    recent_amazon = conversation(channels["amazon"], 29)
    old_ebay = conversation(channels["ebay"], 400)
    old_darty = conversation(channels["darty"], 100)
    actions.save_channel_retention(channels["darty"], actor=owner, days=90, mode="delete")

    out = StringIO()
    call_command("privacy", "retention", "--dry-run", stdout=out)
    lines = out.getvalue().splitlines()
    assert (
        f"Amazon FR (#{channels['amazon'].pk}): 1 to anonymise after 30 days (marketplace)" in lines
    )
    assert f"Darty (#{channels['darty'].pk}): 1 to delete after 90 days (channel)" in lines
    assert lines[-1] == "due: 1 anonymised, 1 deleted"
    assert not Anonymised.objects.exists()

    assert actions.apply_retention() == {"anonymised": 1, "deleted": 1}
    assert set(Anonymised.objects.values_list("conversation_id", flat=True)) == {old_amazon.pk}
    assert Conversation.objects.get(pk=old_amazon.pk).subject == ""
    assert Conversation.objects.get(pk=recent_amazon.pk).subject == "Où est-il ?"
    assert Conversation.objects.get(pk=old_darty.pk).deleted_at is not None
    # eBay publishes no period and the shop keeps for ever: kept.
    assert Conversation.objects.get(pk=old_ebay.pk).subject == "Où est-il ?"
    applied = AuditEvent.objects.filter(action="retention.applied").order_by("object_id")
    assert {e.object_id for e in applied} == {str(channels["amazon"].pk), str(channels["darty"].pk)}


def test_the_page_states_each_channels_rule_and_sets_its_own(
    owner: User, channels: dict[str, Channel]
) -> None:
    conversation(channels["amazon"], 45)
    client = Client()
    client.force_login(owner)
    page = client.get("/settings/privacy/").content.decode()
    row = page.split(f'id="retention-channel-{channels["amazon"].pk}"')[1].split("</tr>")[0]
    assert "Amazon&#x27;s Data Protection Policy" in row
    assert "no longer than 30 days after the order is delivered" in row
    assert "https://developer-docs.amazon.com/sp-api/docs/policies-and-agreements" in row
    assert "30 days, anonymised" in row
    assert "(marketplace's rule)" in row
    assert '<td data-label="Due now">1</td>' in row
    darty = page.split(f'id="retention-channel-{channels["darty"].pk}"')[1].split("</tr>")[0]
    assert "Run on Mirakl" in darty
    email = page.split(f'id="retention-channel-{channels["email"].pk}"')[1].split("</tr>")[0]
    assert "None: the seller's own policy." in email

    url = f"/settings/privacy/retention/channel/{channels['ebay'].pk}"
    assert client.post(url, {"days": "60", "mode": "delete"}).status_code == 302
    assert ChannelRetention.objects.get(channel=channels["ebay"]).days == 60
    assert client.post(url, {"follow": "1", "days": "60"}).status_code == 302
    assert not ChannelRetention.objects.filter(channel=channels["ebay"]).exists()
    assert client.post(url, {"days": "-3", "mode": "delete"}).status_code == 302
    assert not ChannelRetention.objects.filter(channel=channels["ebay"]).exists()

    french = Client(HTTP_ACCEPT_LANGUAGE="fr")
    french.force_login(owner)
    french.cookies["django_language"] = "fr"
    text = french.get("/settings/privacy/").content.decode()
    assert "Politique de protection des données d&#x27;Amazon" in text


def test_an_agent_cannot_set_a_channels_retention(
    agent: User, channels: dict[str, Channel]
) -> None:
    client = Client()
    client.force_login(agent)
    url = f"/settings/privacy/retention/channel/{channels['amazon'].pk}"
    assert client.post(url, {"days": "0", "mode": "anonymise"}).status_code == 403
    assert not ChannelRetention.objects.exists()


def test_the_upgrade_pins_existing_amazon_channels_to_what_they_had(
    shop: Shop, channels: dict[str, Channel]
) -> None:
    """The data migration: an existing Amazon channel keeps its shop's retention (no backlog
    anonymised by an upgrade); others are left to their default."""
    from importlib import import_module

    from django.apps import apps

    RetentionPolicy.objects.create(shop=shop, days=200, mode="delete")
    migration = import_module("comptoir.privacy.migrations.0003_pin_existing_channels")
    migration.pin(apps, None)
    pinned = {r.channel_id: (r.days, r.mode) for r in ChannelRetention.objects.all()}
    assert pinned == {channels["amazon"].pk: (200, "delete")}
    assert policies()["Amazon FR"] == (200, "delete", "channel")
