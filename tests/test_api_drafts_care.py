"""The composer's "Draft with AI", the FAQ's "Draft a template" and proactive care's message
through the API: the same actions as the pages' buttons, their rules (403 for a role that may
not, 404 for a conversation, cluster or order at risk not seen), 422 with the reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import Role, User
from comptoir.automation.models import Template
from comptoir.care.models import AtRisk, Reason
from comptoir.faq.models import Cluster, MiningRun
from comptoir.inbox.models import Channel, Conversation, Direction, Message
from comptoir.triage.models import TriageSettings
from tests.test_api_tags import bearer, call
from tests.test_care_page import darty, risk  # noqa: F401 (a fixture)
from tests.test_llm_drafting import (  # noqa: F401 (fixtures)
    GOOD,
    KEY,
    _fresh_fake,
    admin,
    conversation,
    enabled,
    endpoint,
    no_private,
)

pytestmark = pytest.mark.django_db
NOW = timezone.now()


# -- "Draft with AI" ----------------------------------------------------------------------------


def test_an_agent_gets_a_draft_with_its_checks(
    client: Client,
    enabled: TriageSettings,  # noqa: F811
    conversation: Conversation,  # noqa: F811
    agent: User,
) -> None:
    answer = call(client, "post", f"/conversations/{conversation.pk}/draft", bearer(agent))
    assert answer.status_code == 200, answer.content
    assert answer.json()["text"] == GOOD
    assert answer.json()["blocking"] is False
    assert KEY not in answer.content.decode()
    assert not conversation.messages.filter(direction=Direction.OUT).exists()  # nothing sent


def test_drafting_follows_the_pages_rules(
    client: Client,
    enabled: TriageSettings,  # noqa: F811
    conversation: Conversation,  # noqa: F811
    outsider: User,
    analyst: User,
    agent: User,
) -> None:
    url = f"/conversations/{conversation.pk}/draft"
    assert call(client, "post", url, bearer(outsider)).status_code == 404
    assert call(client, "post", "/conversations/99999/draft", bearer(agent)).status_code == 404
    assert call(client, "post", url, bearer(analyst)).status_code == 403
    TriageSettings.objects.filter(pk=1).update(llm_enabled=False)
    off = call(client, "post", url, bearer(agent))
    assert (off.status_code, off.json()["detail"]) == (422, "AI drafting is not enabled.")


# -- the FAQ's "Draft a template" ---------------------------------------------------------------


def _cluster(channel: Channel, *, answered: bool) -> Cluster:
    at = NOW - timedelta(days=1)
    conv = Conversation.objects.create(shop=channel.shop, channel=channel, subject="?")
    asked = Message.objects.create(
        conversation=conv,
        channel=channel,
        direction=Direction.IN,
        text="Où est mon colis ?",
        language="fr",
        received_at=at,
        created_at=at,
    )
    if answered:
        Message.objects.create(
            conversation=conv,
            channel=channel,
            direction=Direction.OUT,
            text="Votre colis arrive demain.",
            received_at=at + timedelta(hours=1),
            created_at=at + timedelta(hours=1),
        )
    run = MiningRun.objects.create(since=NOW - timedelta(days=30), finished_at=NOW)
    return Cluster.objects.create(
        run=run,
        language="fr",
        intent="order_tracking",
        size=1,
        label="Colis pas reçu",
        terms=["colis"],
        examples=[asked.pk],
        marketplaces={"amazon": 1},
    )


def test_an_admin_drafts_an_inactive_template_from_a_cluster(
    client: Client, channel: Channel
) -> None:
    boss = User.objects.create_user("admin-faq", "a@x.fr", "x", role=Role.ADMIN)
    cluster = _cluster(channel, answered=True)
    answer = call(client, "post", f"/faq/clusters/{cluster.pk}/template", bearer(boss))
    assert answer.status_code == 201, answer.content
    made = Template.objects.get(pk=answer.json()["id"])
    assert (made.name, made.is_active) == ("Colis pas reçu", False)
    assert answer.json()["versions"][0]["body"] == "Votre colis arrive demain."


def test_faq_drafts_follow_the_pages_rules(
    client: Client, channel: Channel, agent: User, supervisor: User
) -> None:
    boss = User.objects.create_user("admin-faq", "a@x.fr", "x", role=Role.ADMIN)
    cluster = _cluster(channel, answered=False)
    url = f"/faq/clusters/{cluster.pk}/template"
    assert call(client, "post", url, bearer(agent)).status_code == 403  # may not see the page
    assert call(client, "post", url, bearer(supervisor)).status_code == 403  # sees, may not draft
    assert call(client, "post", "/faq/clusters/99999/template", bearer(boss)).status_code == 404
    nothing = call(client, "post", url, bearer(boss))
    assert nothing.status_code == 422
    assert nothing.json()["detail"] == "no agent replied to these messages: nothing to draft from"
    assert not Template.objects.exists()


# -- proactive care -----------------------------------------------------------------------------


@pytest.fixture
def at_risk(darty: Channel) -> AtRisk:  # noqa: F811
    return risk(darty, "DRT-77", Reason.NOT_SHIPPED)


def test_an_agent_writes_first_to_a_buyer_whose_order_is_late(
    client: Client, agent: User, at_risk: AtRisk
) -> None:
    body = {"risk_ids": [at_risk.pk], "text": "Bonjour, votre colis a du retard : il part demain."}
    answer = call(client, "post", "/care/send", bearer(agent), body)
    assert answer.status_code == 200, answer.content
    assert answer.json()["failed"] == []
    (sent,) = answer.json()["sent"]
    assert Message.objects.get(pk=sent).text.startswith("Bonjour, votre colis a du retard")
    at_risk.refresh_from_db()
    assert at_risk.contacted_at is not None
    assert answer.json()["failed"] == []


def test_care_follows_the_pages_rules(
    client: Client, agent: User, outsider: User, analyst: User, at_risk: AtRisk
) -> None:
    body = {"risk_ids": [at_risk.pk], "text": "Bonjour, votre colis a du retard."}
    assert call(client, "post", "/care/send", bearer(outsider), body).status_code == 404
    assert call(client, "post", "/care/send", bearer(analyst), body).status_code == 403
    foreign = Template.objects.create(name="Other", shop=None, is_active=False)
    refused = call(client, "post", "/care/send", bearer(agent), {**body, "template_id": foreign.pk})
    assert (refused.status_code, refused.json()["detail"]) == (
        422,
        f"no template {foreign.pk} to use here",
    )
    empty = call(client, "post", "/care/send", bearer(agent), {"risk_ids": []})
    assert empty.status_code == 422
    # Each order on its own: an empty text is refused with the reason, nothing is sent.
    blank = call(client, "post", "/care/send", bearer(agent), {"risk_ids": [at_risk.pk]})
    assert blank.status_code == 200
    assert blank.json()["sent"] == []
    assert blank.json()["failed"][0]["risk_id"] == at_risk.pk
    at_risk.refresh_from_db()
    assert at_risk.contacted_at is None
