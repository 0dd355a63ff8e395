"""Sending a proactive message from the "at risk" page in a real browser: the agent ticks
nothing, presses the row's Send, reads the confirmation, and the message reaches the Mirakl
simulator once the worker sends it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.automation.models import Template, TemplateVersion
from comptoir.care.models import AtRisk, Reason
from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox.models import Channel, Customer, DeliveryState, Message
from comptoir.inbox.tasks import send_message
from comptoir.orders.models import Order
from tests.conftest import close_quietly  # noqa: F401


def test_an_agent_sends_a_proactive_message_from_the_at_risk_page(
    page: Any, live_server: Any, agent: User, sim: MiraklSimulator, darty: Channel
) -> None:
    sim.add_order("DRT-70", customer_id="c-70", customer_name="Inès Roux")
    template = Template.objects.create(name="Retard d'expédition", shop=darty.shop)
    TemplateVersion.objects.create(
        template=template,
        language="fr",
        body="Bonjour {{ customer_first_name }}, votre commande {{ order_number }} part demain.",
    )
    buyer = Customer.objects.create(name="Inès Roux")
    orders = [
        Order.objects.create(
            shop=darty.shop,
            channel=darty,
            customer=buyer,
            external_id=n,
            status="accepted",
            ship_by=timezone.now() - timedelta(days=1),
        )
        for n in ("DRT-70", "DRT-71")
    ]
    risks = [
        AtRisk.objects.create(
            order=o, shop=darty.shop, channel=darty, reason=Reason.NOT_SHIPPED, deadline=o.ship_by
        )
        for o in orders
    ]
    base = live_server.url
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", agent.username)
    page.fill("input[name=password]", "pw")
    page.click(".login button[type=submit]")
    page.wait_for_url(f"{base}/inbox/")

    page.click("header.top >> text=Orders at risk")
    page.wait_for_url(f"{base}/care/")
    row = page.locator(f"#risk-{risks[0].pk}")
    assert "Not shipped by the ship-by date" in row.inner_text()
    assert row.locator(".contacted").inner_text().strip() == "No"
    row.locator("button[name=one]").click()

    page.wait_for_selector(".notices >> text=1 proactive message queued.")
    assert page.locator(f"#risk-{risks[0].pk} .contacted a").inner_text() == "Queued"
    # Only the row pressed: the other order is still to contact.
    assert page.locator(f"#risk-{risks[1].pk} .contacted").inner_text().strip() == "No"
    assert page.csp_errors == []

    message = Message.objects.get()
    send_message.call(message.pk)
    (thread,) = [t for t in sim.threads.values() if t.order_id == "DRT-70"]
    assert [m.body for m in thread.messages] == ["Bonjour Inès, votre commande DRT-70 part demain."]
    assert Message.objects.get().delivery_state == DeliveryState.SENT
    page.reload()
    assert page.locator(f"#risk-{risks[0].pk} .contacted a").inner_text() == "Sent"
