"""Files sent to Messenger, Instagram and WhatsApp buyers: uploaded, then sent by id, once,
within Meta's limits (said before sending), against the local Meta simulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from comptoir.accounts.models import User
from comptoir.automation.checks import run_checks
from comptoir.connectors.base import ConnectorError, OutboundAttachment, OutboundMessage
from comptoir.connectors.meta.simulator import MetaSimulator
from comptoir.connectors.registry import get_connector
from comptoir.inbox import actions
from comptoir.inbox.actions import Draft, NewAttachment
from comptoir.inbox.models import Channel, Conversation, DeliveryState, Direction, Message
from comptoir.inbox.tasks import poll_channel, send_message
from tests.meta_support import meta_fixtures, poster
from tests.send_support import settle_time_passes

PHOTO = NewAttachment("colis.jpg", "image/jpeg", b"\xff\xd8" + b"j" * 2000)
UPLOAD_PATH = {"whatsapp": "/media$", "messenger": "/message_attachments$"}


no_sleep, sim, channel = meta_fixtures(seed=5)


def converse(channel: Channel, sim: MetaSimulator) -> Conversation:
    buyer = "33612340001" if sim.platform == "whatsapp" else "70000000000001"
    sim.buyer_writes(buyer, "Le colis est abîmé ?")
    sim.deliver(poster(channel))
    poll_channel.call(channel.pk)
    return Conversation.objects.get(channel=channel)


def files_sent(sim: MetaSimulator) -> list[tuple[str, str, int]]:
    return [m.file for m in sim.sent if m.file]


def test_a_reply_with_a_file_is_uploaded_then_sent_once(
    channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    conv = converse(channel, sim)
    reply = actions.reply(conv, actor=agent, text="Voici la photo.", attachments=[PHOTO])
    send_message.call(reply.pk)
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert files_sent(sim) == [("image", "colis.jpg", len(PHOTO.data))]
    texts = [m.text for m in sim.sent]
    # WhatsApp: the text is the file's caption; Messenger and Instagram: the file, then the text.
    assert texts == (["Voici la photo."] if sim.platform == "whatsapp" else ["", "Voici la photo."])
    assert reply.external_id == sim.sent[-1].id
    # The file's echo (Messenger, Instagram) is part of the reply, not a message of its own.
    sim.deliver(poster(channel))
    poll_channel.call(channel.pk)
    assert Message.objects.filter(conversation=conv, direction=Direction.OUT).count() == 1


def test_an_upload_that_fails_is_retried_harmlessly(
    channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    conv = converse(channel, sim)
    path = UPLOAD_PATH.get(sim.platform, UPLOAD_PATH["messenger"])
    sim.faults.add("lose_response", method="POST", path=path)
    sim.faults.add("error500", method="POST", path=path)
    reply = actions.reply(conv, actor=agent, text="La facture.", attachments=[PHOTO])
    send_message.call(reply.pk)
    assert Message.objects.get(pk=reply.pk).delivery_state == DeliveryState.SENT
    assert len(sim.uploads) == 2  # one lost answer: uploaded again, the first left unused
    assert files_sent(sim) == [("image", "colis.jpg", len(PHOTO.data))]


def test_a_file_whose_send_answer_was_lost_is_not_sent_again(
    channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    conv = converse(channel, sim)
    # The file's message (Messenger, Instagram) or the whole media message (WhatsApp) is
    # accepted but its answer lost; for Messenger and Instagram, the text is not sent.
    sim.faults.add("lose_response", method="POST", path="/messages$")
    reply = actions.reply(conv, actor=agent, text="Photo jointe.", attachments=[PHOTO])
    send_message.call(reply.pk)
    assert Message.objects.get(pk=reply.pk).delivery_state == DeliveryState.QUEUED
    if sim.platform == "whatsapp":
        sim.deliver(poster(channel))  # its "sent" status names our key
        poll_channel.call(channel.pk)
    settle_time_passes(timedelta(hours=1))
    send_message.call(reply.pk, attempt=2)
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert files_sent(sim) == [("image", "colis.jpg", len(PHOTO.data))]  # once
    assert [m.text for m in sim.sent if m.text] == ["Photo jointe."]


def test_what_meta_would_refuse_is_said_before_sending(
    channel: Channel, sim: MetaSimulator, agent: User
) -> None:
    conv = converse(channel, sim)
    conv.refresh_from_db()
    big = NewAttachment("grande.png", "image/png", b"p" * (26 * 1024 * 1024))
    script = NewAttachment("outil.exe", "application/octet-stream", b"MZ")
    draft = Draft(conversation=conv, text="Voici.", attachments=(big, script, PHOTO))
    blocking = [r.message for r in run_checks(draft) if r.code == "meta_window" and r.blocks]
    assert any("one file per message" in m for m in blocking)
    assert any("grande.png is too large" in m for m in blocking)
    # Messenger takes any file up to 25 MB; WhatsApp and Instagram name what they take.
    assert any("outil.exe" in m for m in blocking) == (sim.platform != "messenger")
    # And the connector refuses it too (an API caller skipping the composer), sending nothing.
    outbound = OutboundMessage(
        message_id=1,
        idempotency_key="k-1",
        conversation_thread_id=conv.external_thread_id,
        to="",
        subject="",
        text="Voici.",
        attachments=[OutboundAttachment(big.filename, big.content_type, big.data)],
    )
    with pytest.raises(ConnectorError) as refused:
        get_connector(channel).send(outbound)
    assert refused.value.permanent
    assert refused.value.about_message
    assert sim.sent == []
    assert sim.uploads == {}
