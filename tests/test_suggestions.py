"""Suggested answers: ranking by intent, language and past answers, rendering from the order,
what was shown and taken, the acceptance rate for managers, and who may ask."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from comptoir.accounts.models import User
from comptoir.automation.models import Suggestion, Template, TemplateAnswer, TemplateVersion
from comptoir.automation.suggest import change, suggest
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Message, Shop
from comptoir.orders.models import Order


@pytest.fixture
def conversation(
    make_inbound: Callable[..., InboundMessage], channel: Channel, shop: Shop
) -> Conversation:
    result = ingest(
        make_inbound(order_number="402-1111111-2222222", text="Where is my parcel? No news.")
    )
    order = Order.objects.create(
        shop=shop,
        channel=channel,
        external_id="402-1111111-2222222",
        items=[{"sku": "LAMP-1", "title": "Lampe Arc", "quantity": 2}],
        carrier="Colissimo",
        tracking_number="6A123",
    )
    Conversation.objects.filter(pk=result.conversation_id).update(
        order=order, language="en", intent="order_tracking"
    )
    Message.objects.filter(conversation_id=result.conversation_id).update(language="en")
    return Conversation.objects.select_related("shop", "channel", "customer", "order").get(
        pk=result.conversation_id
    )


def make(name: str, intents: list[str], **versions: str) -> Template:
    template = Template.objects.create(name=name, intents=intents)
    for language, body in versions.items():
        TemplateVersion.objects.create(template=template, language=language, body=body)
    return template


def test_the_intents_template_in_the_buyers_language_comes_first_with_the_orders_values(
    conversation: Conversation, agent: User
) -> None:
    make("Refund", ["refund"], en="We refunded you.")
    make("Tracking FR only", ["order_tracking"], fr="Votre colis {{ tracking_number }}.")
    tracking = make(
        "Tracking", ["order_tracking"], en="Your parcel {{ tracking_number }} by {{ carrier }}."
    )
    found = suggest(conversation, agent=agent)
    assert [s.template.name for s in found] == ["Tracking", "Tracking FR only", "Refund"]
    assert found[0].template == tracking
    assert found[0].text == "Your parcel 6A123 by Colissimo."
    assert found[0].language == "en"


def test_without_the_buyers_language_the_shops_language_is_used(
    conversation: Conversation, agent: User
) -> None:
    make("Tracking", ["order_tracking"], de="Ihr Paket.", fr="Votre colis {{ tracking_number }}.")
    found = suggest(conversation, agent=agent)
    assert conversation.shop.language == "fr"
    assert found[0].language == "fr"
    assert found[0].text == "Votre colis 6A123."


def test_past_answers_pull_the_template_agents_sent_for_similar_messages(
    conversation: Conversation, agent: User
) -> None:
    untagged = make("Delay apology", [], en="Sorry for the delay.")
    other = make("Product info", [], en="About the product.")
    for text in ("where is my parcel", "no news of my parcel", "parcel still not here"):
        TemplateAnswer.objects.create(
            template=untagged, shop=conversation.shop, intent="other", buyer_text=text
        )
    TemplateAnswer.objects.create(
        template=other, shop=conversation.shop, intent="other", buyer_text="what size is it"
    )
    found = suggest(conversation, agent=agent)
    assert found[0].template == untagged


def test_shown_then_taken_records_the_change(
    client: Client, conversation: Conversation, agent: User
) -> None:
    tracking = make("Tracking", ["order_tracking"], en="Your parcel {{ tracking_number }}.")
    make("Other", [], en="Hello.")
    client.force_login(agent)
    strip = client.get(f"/automation/c/{conversation.pk}/suggestions")
    assert strip.status_code == 200
    assert "Your parcel 6A123." in strip.content.decode()
    assert 'data-rank="1"' in strip.content.decode()
    assert Suggestion.objects.filter(conversation=conversation).count() == 2
    sent = client.post(
        f"/inbox/c/{conversation.pk}/reply",
        {"text": "Your parcel 6A123. Sorry!", "template_id": tracking.pk},
    )
    assert sent.status_code == 302
    row = Suggestion.objects.get(conversation=conversation, template=tracking)
    assert row.taken
    assert row.rank == 1
    assert row.sent_text_distance == change("Your parcel 6A123.", "Your parcel 6A123. Sorry!")
    assert 0 < row.sent_text_distance < 0.5
    assert not Suggestion.objects.get(conversation=conversation, rank=2).taken
    # The buyer's text is now a past answer of that template.
    assert TemplateAnswer.objects.get(template=tracking).intent == "order_tracking"


def test_the_acceptance_rate_is_shown_to_managers_only(
    client: Client, conversation: Conversation, agent: User, supervisor: User
) -> None:
    tracking = make("Tracking", ["order_tracking"], en="Your parcel.")
    Suggestion.objects.create(
        conversation=conversation, template=tracking, rank=1, taken=True, sent_text_distance=0.2
    )
    other = make("Other", [], en="Hello.")
    Suggestion.objects.create(conversation=conversation, template=other, rank=2)
    client.force_login(agent)
    assert client.get("/settings/templates/").status_code == 403
    client.force_login(supervisor)
    page = client.get("/settings/templates/").content.decode()
    assert "1 taken of 2 shown (50%), 20% of the text changed" in page
    assert "100% (1/1)" in page
    assert "0% (0/1)" in page
    supervisor.language = "fr"
    supervisor.save()
    page = client.get("/settings/templates/").content.decode()
    assert "1 retenues sur 2 proposées (50 %), 20 % du texte modifié" in page


def test_a_user_who_cannot_see_the_conversation_gets_404(
    client: Client, conversation: Conversation, outsider: User
) -> None:
    make("Tracking", ["order_tracking"], en="Your parcel.")
    client.force_login(outsider)
    assert client.get(f"/automation/c/{conversation.pk}/suggestions").status_code == 404
    assert not Suggestion.objects.exists()


def test_the_template_form_saves_intents(client: Client, supervisor: User, shop: Shop) -> None:
    client.force_login(supervisor)
    answer = client.post(
        "/settings/templates/new",
        {"name": "Late", "intents": ["not_received", "order_tracking"], "body_en": "Sorry."},
    )
    assert answer.status_code == 302
    assert Template.objects.get(name="Late").intents == ["order_tracking", "not_received"]
