"""Small holes an attacker would find, closed: the buyer panel scoped to the agent's channels,
a mailbox's order-number pattern through the rules' ReDoS guard, `POST /api/v1/inbound` that
keeps big payloads and answers JSON past its limit, XML answers parsed by defusedxml."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from pydantic import ValidationError as PydanticValidationError

from comptoir.accounts.models import APIToken, Team, User
from comptoir.connectors.base import InboundMessage
from comptoir.connectors.email.connector import EmailSettings
from comptoir.connectors.email.mime import find_order_number
from comptoir.connectors.fnac import dialect
from comptoir.connectors.forms import settings_from_form
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import (
    Attachment,
    Channel,
    Conversation,
    CustomerIdentity,
    InboundRecord,
    Shop,
)

MakeInbound = Callable[..., InboundMessage]


def bearer(user: User) -> dict[str, str]:
    token, raw = APIToken.issue(user, "tests")
    APIToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return {"Authorization": f"Bearer {raw}"}


# -- the buyer panel ---------------------------------------------------------------------------


def test_the_buyer_panel_hides_the_buyers_identities_and_channels_of_other_teams(
    make_inbound: MakeInbound, agent: User, shop: Shop, other_team: Team
) -> None:
    conv = Conversation.objects.get(pk=ingest(make_inbound(thread_id="panel")).conversation_id)
    hidden = Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Fnac secret team", team=other_team
    )
    assert conv.customer_id is not None
    CustomerIdentity.objects.create(
        customer_id=conv.customer_id, kind="fnac_alias", value="jeanne-fnac-4411", channel=hidden
    )
    client = Client()
    client.force_login(agent)

    html = client.get(f"/inbox/c/{conv.pk}/").content.decode()

    assert "buyer@<wbr>example.<wbr>com" in html  # this conversation's own identity
    assert "jeanne-fnac-4411" not in html
    assert "Fnac secret team" not in html


def test_the_buyer_panel_shows_every_identity_to_a_supervisor(
    make_inbound: MakeInbound, supervisor: User, shop: Shop, other_team: Team
) -> None:
    conv = Conversation.objects.get(pk=ingest(make_inbound(thread_id="panel2")).conversation_id)
    hidden = Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Fnac other team", team=other_team
    )
    assert conv.customer_id is not None
    CustomerIdentity.objects.create(
        customer_id=conv.customer_id, kind="fnac_alias", value="jeanne-fnac-77", channel=hidden
    )
    client = Client()
    client.force_login(supervisor)

    html = client.get(f"/inbox/c/{conv.pk}/").content.decode()

    assert "jeanne-fnac-77" in html
    assert "Fnac other team" in html


# -- the order-number pattern of a mailbox ---------------------------------------------------------

MAILBOX = {"imap_host": "imap.example.com", "username": "u", "password": "p"}


@pytest.mark.parametrize(
    ("pattern", "why"),
    [("(a+)+$", "repeats a repetition"), (r"(\w*\s?)*x", "repeats a repetition")],
)
def test_a_mailbox_order_pattern_that_nests_repetitions_is_refused_even_when_loaded(
    pattern: str, why: str
) -> None:
    with pytest.raises(PydanticValidationError, match=why):
        EmailSettings.model_validate({**MAILBOX, "order_number_pattern": pattern})


def test_a_slow_mailbox_order_pattern_is_refused_when_saved_from_the_form() -> None:
    post = {**MAILBOX, "order_number_pattern": "(a|aa)*c"}

    with pytest.raises(ValidationError, match="too slow"):
        settings_from_form(EmailSettings, post, {})


def test_a_sound_mailbox_order_pattern_is_saved_and_finds_the_number() -> None:
    stored = settings_from_form(
        EmailSettings, {**MAILBOX, "order_number_pattern": r"\bCMD-(\d{6})\b"}, {}
    )
    conf = EmailSettings.model_validate(stored)

    assert find_order_number("Re: CMD-123456", "", conf.order_regex()) == "123456"


# -- POST /api/v1/inbound ------------------------------------------------------------------------


def test_an_inbound_payload_above_djangos_upload_cap_is_kept_and_stored(
    make_inbound: MakeInbound, channel: Channel, agent: User
) -> None:
    photo = os.urandom(3 * 1024 * 1024)  # 4 MB once in base64: above Django's 2.5 MB
    body = make_inbound(attachments=[{"filename": "photo.jpg", "data": photo}]).model_dump_json()

    answer = Client().post(
        f"/api/v1/inbound?channel_id={channel.pk}",
        body,
        content_type="application/json",
        headers=bearer(agent),
    )

    assert answer.status_code == 201, answer.content[:300]
    record = InboundRecord.objects.get(pk=answer.json()["record_id"])
    assert len(bytes(record.raw)) == len(body.encode())
    assert Attachment.objects.get(message_id=answer.json()["message_id"]).size == len(photo)


def test_an_inbound_payload_past_the_limit_is_413_in_json_and_nothing_is_kept(
    make_inbound: MakeInbound, channel: Channel, agent: User, settings: Any
) -> None:
    settings.INBOUND_MAX_BYTES = 10_000
    body = make_inbound(text="x" * 20_000).model_dump_json()

    answer = Client().post(
        f"/api/v1/inbound?channel_id={channel.pk}",
        body,
        content_type="application/json",
        headers=bearer(agent),
    )

    assert answer.status_code == 413
    assert answer["Content-Type"].startswith("application/json")
    assert "COMPTOIR_INBOUND_MAX_BYTES" in answer.json()["detail"]
    assert not InboundRecord.objects.exists()


def test_any_api_body_over_djangos_cap_is_413_in_json_not_an_html_page(
    make_inbound: MakeInbound, agent: User, settings: Any
) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    conv = Conversation.objects.get(pk=ingest(make_inbound(thread_id="big")).conversation_id)

    answer = Client().post(
        f"/api/v1/conversations/{conv.pk}/note",
        json.dumps({"text": "x" * 5000}),
        content_type="application/json",
        headers=bearer(agent),
    )

    assert answer.status_code == 413
    assert answer.json() == {"detail": "request body too large"}


# -- XML -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "evil",
    [
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><r>&b;</r>',
        b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://169.254.169.254/"><r/>',
        b"<!-- a comment first --><!DOCTYPE html><html></html>",
    ],
)
def test_fnac_xml_with_a_doctype_or_entities_is_refused(evil: bytes) -> None:
    with pytest.raises(dialect.XmlError, match="DOCTYPE"):
        dialect.parse(evil)
