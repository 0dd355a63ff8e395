"""The "at risk" page: what it lists and to whom, its filters, French and English, the figures
that say whether writing first helps, and sending from it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import Team, User
from comptoir.automation.models import Template, TemplateVersion
from comptoir.care import metrics
from comptoir.care.models import AtRisk, Reason
from comptoir.cases.models import Case
from comptoir.inbox.models import Channel, Conversation, Customer, Direction, Message, Shop
from comptoir.orders.models import Order

NOW = timezone.now()
DAY = timedelta(days=1)


@pytest.fixture
def darty(shop: Shop, team: Team) -> Channel:
    return Channel.objects.create(
        shop=shop, kind="mirakl", marketplace="darty", name="Darty", team=team
    )


def risk(channel: Channel, number: str, reason: Reason, **fields: Any) -> AtRisk:
    customer = Customer.objects.create(name=f"Buyer {number}")
    order = Order.objects.create(
        shop=channel.shop, channel=channel, customer=customer, external_id=number
    )
    return AtRisk.objects.create(
        order=order,
        shop=channel.shop,
        channel=channel,
        reason=reason,
        deadline=NOW - DAY,
        detected_at=fields.pop("detected_at", NOW - 2 * DAY),
        **fields,
    )


@pytest.fixture
def rows(darty: Channel, shop: Shop, other_team: Team) -> dict[str, AtRisk]:
    hidden = Channel.objects.create(
        shop=shop, kind="api", marketplace="shop", name="Own shop", team=other_team
    )
    return {
        "late": risk(darty, "DRT-1", Reason.NOT_SHIPPED),
        "missed": risk(darty, "DRT-2", Reason.DELIVERY_MISSED, contacted_at=NOW - DAY),
        "gone": risk(darty, "DRT-3", Reason.TRACKING_STALLED, resolved_at=NOW),
        "hidden": risk(hidden, "OWN-1", Reason.NOT_SHIPPED),
    }


def page(client: Client, query: str = "", lang: str = "en") -> str:
    response = client.get(f"/care/{query}", HTTP_ACCEPT_LANGUAGE=lang)
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_lists_the_open_risks_the_agent_may_see_with_order_buyer_and_deadline(
    client: Client, agent: User, rows: dict[str, AtRisk], django_assert_max_num_queries: Any
) -> None:
    client.force_login(agent)
    with django_assert_max_num_queries(20):
        html = page(client)

    assert "DRT-1" in html
    assert "Buyer DRT-1" in html
    assert "Darty" in html
    assert "Not shipped by the ship-by date" in html
    assert "DRT-2" in html
    assert "Delivery date missed" in html
    assert "DRT-3" not in html  # no longer at risk
    assert "OWN-1" not in html  # another team's channel
    assert 'class="late"' in html  # the deadline has passed
    assert 'href="/care/"' in client.get("/inbox/").content.decode()  # in the nav


@pytest.mark.parametrize(
    ("query", "shown", "not_shown"),
    [
        ("?reason=not_shipped", "DRT-1", "DRT-2"),
        ("?contacted=yes", "DRT-2", "DRT-1"),
        ("?contacted=no", "DRT-1", "DRT-2"),
        ("?state=resolved", "DRT-3", "DRT-1"),
        ("?marketplace=amazon", "No order at risk here.", "DRT-1"),
        ("?reason=nonsense", "DRT-1", "OWN-1"),  # an unknown value is ignored
    ],
)
def test_the_filters(
    client: Client, agent: User, rows: dict[str, AtRisk], query: str, shown: str, not_shown: str
) -> None:
    client.force_login(agent)
    html = page(client, query)
    assert shown in html
    assert not_shown not in html


def test_the_page_in_french(client: Client, agent: User, rows: dict[str, AtRisk]) -> None:
    client.force_login(agent)
    html = page(client, lang="fr")
    for words in (
        "Commandes à risque",
        "Non expédiée à la date limite",
        "Date de livraison dépassée",
        "Envoyer aux commandes cochées",
        "Toujours à risque",
    ):
        assert words in html
    assert "Orders at risk" not in html


def test_an_analyst_reads_the_list_without_the_send_controls(
    client: Client, analyst: User, rows: dict[str, AtRisk]
) -> None:
    client.force_login(analyst)
    html = page(client)
    assert "DRT-1" in html
    assert "OWN-1" in html
    assert "Send to the ticked orders" not in html
    assert client.post("/care/send/", {"one": rows["late"].pk}).status_code == 302
    assert AtRisk.objects.get(pk=rows["late"].pk).contacted_at is None


def test_sending_from_the_page_queues_the_message_and_says_so(
    client: Client,
    agent: User,
    rows: dict[str, AtRisk],
    shop: Shop,
    django_capture_on_commit_callbacks: Any,
) -> None:
    template = Template.objects.create(name="Retard", shop=shop)
    TemplateVersion.objects.create(
        template=template, language="fr", body="Votre colis a du retard."
    )
    client.force_login(agent)

    response = client.post(
        "/care/send/",
        {"template": template.pk, "risk": [rows["late"].pk, rows["hidden"].pk]},
        follow=True,
    )

    assert "1 proactive message queued." in response.content.decode()
    late = AtRisk.objects.get(pk=rows["late"].pk)
    assert late.contacted_at is not None
    assert late.message is not None
    assert late.message.text == "Votre colis a du retard."
    assert late.message.conversation.order_id == late.order_id
    assert AtRisk.objects.get(pk=rows["hidden"].pk).contacted_at is None  # not visible: skipped


def test_the_figures_count_contacted_first_still_wrote_and_claims(
    darty: Channel, rows: dict[str, AtRisk]
) -> None:
    """DRT-1 not contacted, with a claim; DRT-2 contacted first, the buyer wrote after;
    DRT-3 contacted after the buyer had written."""
    third = rows["gone"]
    AtRisk.objects.filter(pk=third.pk).update(contacted_at=NOW - DAY / 2)

    def buyer_writes(r: AtRisk, at: Any) -> Conversation:
        conv = Conversation.objects.create(shop=darty.shop, channel=darty, order=r.order)
        Message.objects.create(
            conversation=conv, channel=darty, direction=Direction.IN, text="?", received_at=at
        )
        return conv

    buyer_writes(rows["missed"], NOW - DAY / 2)
    buyer_writes(third, NOW - DAY)
    conv = buyer_writes(rows["late"], NOW - DAY)
    Case.objects.create(
        conversation=conv,
        channel=darty,
        order=rows["late"].order,
        kind="not_received",
        opened_by="agent",
    )

    got = metrics.figures(AtRisk.objects.filter(channel=darty), NOW - 30 * DAY, NOW + DAY)

    assert (got.at_risk, got.contacted, got.contacted_first, got.still_wrote) == (3, 2, 1, 1)
    assert (got.claims_contacted, got.claims_not_contacted, got.not_contacted) == (0, 1, 1)
    assert got.contacted_first_share == pytest.approx(33.3)
    assert got.claims_not_contacted_share == 100.0


def test_an_ebay_order_without_a_conversation_is_written_to_and_fnac_still_refused(
    client: Client, agent: User, shop: Shop, team: Team, django_capture_on_commit_callbacks: Any
) -> None:
    ebay = Channel.objects.create(
        shop=shop, kind="ebay", marketplace="ebay", name="eBay", team=team
    )
    fnac = Channel.objects.create(
        shop=shop, kind="fnac", marketplace="fnac", name="Fnac", team=team
    )
    on_ebay = risk(ebay, "12-34567-89012", Reason.NOT_SHIPPED)
    on_fnac = risk(fnac, "FN-1", Reason.NOT_SHIPPED)
    client.force_login(agent)

    html = client.post(
        "/care/send/", {"text": "Elle part demain.", "risk": [on_ebay.pk, on_fnac.pk]}, follow=True
    ).content.decode()

    assert "1 proactive message queued." in html
    assert "only in a conversation the buyer started" in html  # Fnac: no first message
    sent = AtRisk.objects.get(pk=on_ebay.pk).message
    assert sent is not None
    assert (sent.conversation.order_id, sent.conversation.external_thread_id) == (
        on_ebay.order_id,
        "",  # eBay gives the conversation its id when the message is delivered
    )
    assert AtRisk.objects.get(pk=on_fnac.pk).contacted_at is None
