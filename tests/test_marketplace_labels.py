"""Each marketplace wears its own colour: a square of it before its name in the inbox's rows, its
nav and the conversation's header; every marketplace the product knows has one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

from comptoir.accounts.models import Team, User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.choices import Marketplace
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Shop

CSS = Path(__file__).parents[1] / "src/comptoir/web/static/web/app.css"


def test_every_marketplace_has_a_colour_and_its_rule() -> None:
    css = CSS.read_text()
    for key in Marketplace.values:
        assert f"--mkt-{key}: #" in css, key
        rule = f'[data-mkt="{key}"], .views a[data-marketplace="{key}"] '
        rule += f"{{ --mkt: var(--mkt-{key}); }}"
        assert rule in css


@pytest.mark.django_db
def test_rows_and_the_conversation_header_carry_the_marketplace_label(
    client: Client,
    agent: User,
    shop: Shop,
    team: Team,
    make_inbound: Callable[..., InboundMessage],
) -> None:
    fnac = Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Fnac FR", team=team
    )
    stored = ingest(make_inbound(channel_id=fnac.pk))
    client.force_login(agent)

    inbox = client.get("/inbox/").content.decode()
    conversation = client.get(f"/inbox/c/{stored.conversation_id}/").content.decode()

    assert '<td class="mkt"><span class="mkt-label" data-mkt="fnac">Fnac</span></td>' in inbox
    assert '<span class="mkt-label" data-mkt="fnac">Fnac FR</span>' in conversation
