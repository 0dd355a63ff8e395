"""WhatsApp's approved templates: read from the Business Management API by the poll (or on
demand), offered by the composer's picker past the 24-hour window, sent with parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.test import Client

from comptoir.accounts.models import User
from comptoir.automation.checks import run_checks
from comptoir.connectors.meta.simulator import MetaSimulator
from comptoir.inbox.actions import Draft
from comptoir.inbox.models import Channel, Conversation, DeliveryState, Message
from comptoir.inbox.tasks import poll_channel, refresh_templates, send_message
from tests.meta_support import meta_fixtures, poster

no_sleep, sim, channel = meta_fixtures(seed=11, platforms=("whatsapp",), templates=True)


def converse(channel: Channel, sim: MetaSimulator, ago: timedelta) -> Conversation:
    sim.buyer_writes("33612349999", "Toujours rien ?", at=datetime.now(UTC) - ago)
    sim.deliver(poster(channel))
    poll_channel.call(channel.pk)
    return Conversation.objects.get(channel=channel)


def test_the_poll_reads_the_approved_templates_once_an_hour(
    channel: Channel, sim: MetaSimulator
) -> None:
    converse(channel, sim, timedelta(hours=30))
    poll_channel.call(channel.pk)
    cached = Channel.objects.get(pk=channel.pk).cursor["templates"]
    assert {(t["name"], t["language"], t["params"]) for t in cached} == {
        ("suivi_commande", "fr", 2),
        ("suivi_commande", "en", 2),
        ("reprise_contact", "fr", 0),
    }  # the rejected one is not offered
    assert sim.calls[f"GET /v21.0/{sim.waba_id}/message_templates"] == 1
    # On demand (the picker's button): read again at once.
    sim.templates = [t for t in sim.templates if t["name"] != "reprise_contact"]
    refresh_templates.call(channel.pk)
    cached = Channel.objects.get(pk=channel.pk).cursor["templates"]
    assert {t["name"] for t in cached} == {"suivi_commande"}


def test_the_picker_sends_a_template_with_its_parameters(
    client: Client, channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    conv = converse(channel, sim, timedelta(hours=30))
    client.force_login(agent)
    page = client.get(f"/inbox/c/{conv.pk}/").content.decode()
    assert '<option value="suivi_commande|fr" data-params="2">suivi_commande (fr)</option>' in page
    assert "Bonjour {{1}}, votre commande {{2}} est en route." in page
    assert 'name="wa_param_2"' in page
    french = client.get(f"/inbox/c/{conv.pk}/", headers={"accept-language": "fr"})
    assert "Envoyer un modèle WhatsApp approuvé" in french.content.decode()

    missing = client.post(
        f"/inbox/c/{conv.pk}/reply", {"wa_template": "suivi_commande|fr", "wa_param_1": "Léa"}
    )
    assert missing.status_code == 400
    assert "every parameter" in missing.content.decode()
    sent = client.post(
        f"/inbox/c/{conv.pk}/reply",
        {"wa_template": "suivi_commande|fr", "wa_param_1": "Léa", "wa_param_2": "CMD-77"},
    )
    assert sent.status_code == 302
    reply = Message.objects.get(conversation=conv, direction="out")
    assert reply.text == "/template suivi_commande fr\nLéa\nCMD-77"
    send_message.call(reply.pk)
    assert Message.objects.get(pk=reply.pk).delivery_state == DeliveryState.SENT
    assert sim.sent[-1].text.startswith("Bonjour Léa, votre commande CMD-77 est en route.")


def test_typing_the_template_still_works_and_its_parameters_are_checked(
    client: Client, channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    conv = converse(channel, sim, timedelta(hours=30))
    conv.refresh_from_db()

    def blocking(text: str) -> list[str]:
        results = run_checks(Draft(conversation=conv, text=text), only_blocking=True)
        return [r.message for r in results]

    assert blocking("/template reprise_contact") == []
    assert blocking("/template suivi_commande en\nLéa\nCMD-1") == []
    (refused,) = blocking("/template suivi_commande\nLéa")
    assert "takes 2 parameters" in refused
    (unknown,) = blocking("/template promo_hiver")
    assert "not an approved template" in unknown


def test_no_picker_inside_the_window(
    client: Client, channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    conv = converse(channel, sim, timedelta(hours=1))
    client.force_login(agent)
    assert 'id="wa-picker"' not in client.get(f"/inbox/c/{conv.pk}/").content.decode()
