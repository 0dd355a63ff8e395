"""Triage's reading in the agent's pages: the rows' labels and marks, the inbox's intent,
urgency and sentiment filters, the conversation's Reading panel and its one-click corrections.
The readings are set directly: no model is trained here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.actions import save_view
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation, Direction, Message, TriageSource
from comptoir.triage.models import Correction
from tests.test_browser import PASSWORD, log_in

Build = Callable[..., InboundMessage]


def read_as(conv: Conversation, **reading: Any) -> Message:
    """Give the conversation and its latest buyer message this reading, as triage would."""
    message = conv.messages.filter(direction=Direction.IN).order_by("-created_at").first()
    assert message is not None
    fields = {"intent_source": TriageSource.TRIAGE, **reading}
    Conversation.objects.filter(pk=conv.pk).update(
        **{
            k: v
            for k, v in fields.items()
            if k in ("intent", "intent_source", "urgency", "sentiment")
        }
    )
    for name, value in fields.items():
        setattr(message, name, value)
    message.save()
    return message


def new(make_inbound: Build, subject: str, email: str) -> Conversation:
    sender = {"identity_kind": "email", "identity_value": email, "email": email, "name": email}
    result = ingest(make_inbound(subject=subject, sender=sender))
    return Conversation.objects.get(pk=result.conversation_id)


@pytest.fixture
def three(make_inbound: Build) -> dict[str, Conversation]:
    """A late parcel from an angry buyer, a refund request, and a message triage was unsure of."""
    late = new(make_inbound, "Toujours rien", "late@x.fr")
    read_as(
        late, intent="not_received", urgency="high", sentiment="negative", intent_confidence=0.83
    )
    refund = new(make_inbound, "Remboursement", "refund@x.fr")
    read_as(refund, intent="refund", urgency="normal", sentiment="neutral", intent_confidence=0.7)
    unsure = new(make_inbound, "Bonjour", "unsure@x.fr")
    read_as(unsure, intent="", urgency="low", sentiment="positive", intent_confidence=0.2)
    return {"late": late, "refund": refund, "unsure": unsure}


@pytest.fixture
def logged_in(client: Client, agent: User) -> Client:
    client.force_login(agent)
    return client


def inbox_html(client: Client, query: str = "view=all") -> str:
    response = client.get(f"/inbox/?{query}")
    assert response.status_code == 200, response.content[:300]
    return response.content.decode()


def test_rows_show_the_intents_name_and_the_urgent_and_unhappy_marks_in_english(
    logged_in: Client, three: dict[str, Conversation]
) -> None:
    html = inbox_html(logged_in)
    assert '<span class="intent" title="Intent: Not received">Not received</span>' in html
    assert ">Refund</span>" in html
    assert "not_received</span>" not in html  # the code is no longer shown
    assert html.count('class="urgent"') == 1
    assert 'title="Triage reads this as urgent">Urgent</span>' in html
    assert html.count('aria-label="The buyer sounds unhappy"') == 1


def test_rows_speak_french_to_a_french_agent(
    logged_in: Client, agent: User, three: dict[str, Conversation]
) -> None:
    agent.language = "fr"
    agent.save()
    html = inbox_html(logged_in)
    assert 'title="Intention : Non reçu">Non reçu</span>' in html
    assert ">Remboursement</span>" in html
    assert 'title="Le tri lit ce message comme urgent">Urgente</span>' in html
    assert 'aria-label="L\u2019acheteur semble mécontent"' in html
    # The filter bar offers the intents by name, in French too.
    assert '<option value="damaged_or_defective">Endommagé ou défectueux</option>' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("intent=not_received", {"late"}),
        ("intent=refund", {"refund"}),
        ("intent=none", {"unsure"}),
        ("urgency=high", {"late"}),
        ("urgency=low", {"unsure"}),
        ("sentiment=negative", {"late"}),
        ("sentiment=positive", {"unsure"}),
        ("urgency=normal&sentiment=neutral", {"refund"}),
        ("intent=refund&urgency=high", set()),
    ],
)
def test_the_reading_filters_return_the_right_conversations(
    logged_in: Client, three: dict[str, Conversation], query: str, expected: set[str]
) -> None:
    html = inbox_html(logged_in, f"view=all&{query}")
    shown = {name for name, conv in three.items() if f"/inbox/c/{conv.pk}/" in html}
    assert shown == expected
    # The choice stays selected in the filter bar.
    value = query.split("&")[0].split("=")[1]
    assert f'<option value="{value}" selected>' in html


def test_a_malformed_urgency_or_sentiment_is_refused(
    logged_in: Client, three: dict[str, Conversation]
) -> None:
    assert logged_in.get("/inbox/?urgency=soon").status_code == 400
    assert logged_in.get("/inbox/?sentiment=grumpy").status_code == 400


def test_a_saved_view_keeps_the_reading_filters(agent: User) -> None:
    saved = save_view(
        agent, name="Angry and urgent", query="view=all&urgency=high&sentiment=negative"
    )
    assert "urgency=high" in saved.query
    assert "sentiment=negative" in saved.query


def test_the_reading_panel_shows_the_reading_and_what_the_message_names(
    logged_in: Client, three: dict[str, Conversation]
) -> None:
    conv = three["late"]
    message = conv.messages.get(direction=Direction.IN)
    message.entities = [
        {"kind": "order", "value": "171-1234567-1234567", "source": "amazon"},
        {"kind": "parcel", "value": "6A12345678901", "source": "colissimo"},
        {"kind": "amount", "value": "49.90", "source": "EUR"},
        {"kind": "date", "value": "2026-11-28", "source": ""},
    ]
    message.save()
    Conversation.objects.filter(pk=conv.pk).update(language="fr")
    html = logged_in.get(f"/inbox/c/{conv.pk}/").content.decode()
    panel = html[html.index('id="reading"') : html.index('class="buyer"')]
    assert '<span class="intent" id="reading-intent">Not received</span>' in panel
    assert '<span title="Confidence">83%</span> · Triage' in panel
    assert 'value="high" aria-pressed="true"' in panel
    assert 'value="negative" aria-pressed="true"' in panel
    assert "French" in panel
    assert "171-1234567-1234567" in panel
    assert "Amazon" in panel
    assert "6A12345678901" in panel
    assert "Colissimo" in panel
    assert "49.90 EUR" in panel
    assert "Nov. 28, 2026" in panel or "28 Nov" in panel
    # The timeline's buyer message carries its intent too.
    assert 'class="intent-chip" title="Intent: Not received"' in html


def test_the_reading_panel_speaks_french(
    logged_in: Client, agent: User, three: dict[str, Conversation]
) -> None:
    agent.language = "fr"
    agent.save()
    html = logged_in.get(f"/inbox/c/{three['late'].pk}/").content.decode()
    panel = html[html.index('id="reading"') : html.index('class="buyer"')]
    assert ">Lecture</h2>" in panel
    assert '<span class="intent" id="reading-intent">Non reçu</span>' in panel
    assert '<span title="Confiance">83 %</span> · Le tri' in panel
    assert 'value="high" aria-pressed="true" class="is-high">Haute</button>' in panel


def test_correcting_the_intent_changes_the_conversation_and_keeps_a_correction(
    logged_in: Client, agent: User, three: dict[str, Conversation]
) -> None:
    conv = three["late"]
    url = f"/triage/c/{conv.pk}/reading"
    response = logged_in.post(url, {"field": "intent", "value": "damaged_or_defective"})
    assert response.status_code == 302
    assert response["Location"] == f"/inbox/c/{conv.pk}/"
    conv.refresh_from_db()
    assert (conv.intent, conv.intent_source) == ("damaged_or_defective", TriageSource.AGENT)
    correction = Correction.objects.get()
    assert (correction.field, correction.previous, correction.value) == (
        "intent",
        "not_received",
        "damaged_or_defective",
    )
    assert correction.user == agent
    assert correction.text


def test_an_htmx_correction_gets_the_panel_back(
    logged_in: Client, three: dict[str, Conversation]
) -> None:
    conv = three["late"]
    response = logged_in.post(
        f"/triage/c/{conv.pk}/reading", {"field": "urgency", "value": "low"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="reading" id="reading"')
    assert 'value="low" aria-pressed="true"' in html
    conv.refresh_from_db()
    assert conv.urgency == "low"
    assert Correction.objects.get().field == "urgency"


def test_a_value_that_is_no_reading_is_refused(
    logged_in: Client, three: dict[str, Conversation]
) -> None:
    url = f"/triage/c/{three['late'].pk}/reading"
    assert logged_in.post(url, {"field": "intent", "value": "gossip"}).status_code == 400
    assert logged_in.post(url, {"field": "status", "value": "open"}).status_code == 400
    assert not Correction.objects.exists()


def test_a_read_only_user_gets_403_and_changes_nothing(
    client: Client, analyst: User, three: dict[str, Conversation]
) -> None:
    client.force_login(analyst)
    conv = three["late"]
    html = client.get(f"/inbox/c/{conv.pk}/").content.decode()
    assert 'id="reading"' in html
    assert "correct-intent" not in html
    response = client.post(f"/triage/c/{conv.pk}/reading", {"field": "intent", "value": "refund"})
    assert response.status_code == 403
    conv.refresh_from_db()
    assert conv.intent == "not_received"
    assert not Correction.objects.exists()


def test_another_teams_conversation_is_404(
    client: Client, outsider: User, three: dict[str, Conversation]
) -> None:
    client.force_login(outsider)
    conv = three["late"]
    response = client.post(f"/triage/c/{conv.pk}/reading", {"field": "intent", "value": "refund"})
    assert response.status_code == 404
    assert not Correction.objects.exists()


def test_a_correction_applies_to_the_latest_buyer_message(
    logged_in: Client, make_inbound: Build
) -> None:
    sender = {"identity_kind": "email", "identity_value": "twice@x.fr"}
    first_id = ingest(make_inbound(thread_id="T-2", text="Bonjour", sender=sender)).conversation_id
    conv = Conversation.objects.get(pk=first_id)
    first = conv.messages.get()
    read_as(conv, intent="refund", sentiment="neutral")
    later = ingest(make_inbound(thread_id="T-2", text="Et alors ?", sender=sender))
    assert later.conversation_id == conv.pk
    logged_in.post(f"/triage/c/{conv.pk}/reading", {"field": "sentiment", "value": "negative"})
    correction = Correction.objects.get()
    assert correction.message_id != first.pk
    assert correction.text == "Et alors ?"
    first.refresh_from_db()
    assert first.sentiment == "neutral"


def test_an_agent_corrects_the_intent_in_the_browser(
    page: Any,
    live_server: Any,
    agent: User,
    three: dict[str, Conversation],
) -> None:
    agent.set_password(PASSWORD)
    agent.save()
    conv = three["late"]
    base = live_server.url
    log_in(page, base, agent)
    assert "Not received" in page.locator(f"tr[data-href='/inbox/c/{conv.pk}/']").inner_text()
    page.goto(f"{base}/inbox/c/{conv.pk}/")
    assert page.locator("#reading-intent").inner_text() == "Not received"

    page.click(".correct-intent summary")
    page.click(".correct-intent button[value=damaged_or_defective]")
    page.wait_for_selector("#reading-intent >> text=Damaged or defective")

    conv.refresh_from_db()
    assert (conv.intent, conv.intent_source) == ("damaged_or_defective", TriageSource.AGENT)
    assert Correction.objects.get().value == "damaged_or_defective"
    assert "Agent" in page.locator("#reading .reading-meta").inner_text() or "agent" in (
        page.locator("#reading .reading-meta").inner_text()
    )
    assert page.csp_errors == []
