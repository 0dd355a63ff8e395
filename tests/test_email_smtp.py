"""Answers by email: sent by SMTP to a real server, with headers that thread in the buyer's
mail client, and failures that say why."""

from __future__ import annotations

import email
import email.message
import email.policy
import email.utils
import smtplib
from email.message import Message as MailMessage
from typing import Any

import pytest

from comptoir.accounts.models import User
from comptoir.connectors.email import tokens
from comptoir.inbox import actions
from comptoir.inbox.models import (
    Channel,
    Conversation,
    DeliveryState,
    EventKind,
    Message,
    Status,
)
from comptoir.inbox.tasks import send_message
from comptoir.orders.models import Order
from tests.mailservers import Dovecot, SMTPServer
from tests.test_email_imap import mail, poll


@pytest.fixture
def sending_channel(email_channel: Channel, smtp_server: SMTPServer) -> Channel:
    smtp_server.received.clear()
    smtp_server.refuse.clear()
    smtp_server.mailboxes.clear()
    settings: dict[str, Any] = email_channel.get_settings()
    email_channel.set_settings(
        {
            **settings,
            "smtp_host": smtp_server.host,
            "smtp_port": smtp_server.port,
            "smtp_security": "none",
            "from_address": "contact@maison-lumiere.fr",
            "from_name": "Maison Lumière",
        }
    )
    email_channel.save()
    return email_channel


def answer(conv: Conversation, agent: User, text: str = "Votre colis part demain.") -> int:
    message = actions.reply(conv, actor=agent, text=text)
    send_message.call(message.pk)
    message.refresh_from_db()
    assert message.delivery_state == DeliveryState.SENT, message.delivery_error
    return message.pk


def received(smtp_server: SMTPServer) -> MailMessage:
    (_, _, content), *_ = smtp_server.received
    # As the buyer's mail client reads it: encoded words decoded.
    return email.message_from_bytes(content, policy=email.policy.default)


def test_a_reply_reaches_the_buyer_threaded_under_their_mail(
    dovecot: Dovecot,
    mailbox: str,
    sending_channel: Channel,
    smtp_server: SMTPServer,
    agent: User,
) -> None:
    first, first_id = mail(subject="Où est ma commande ?")
    dovecot.deliver(mailbox, first)
    follow, follow_id = mail(subject="Re: Où est ma commande ?", In_Reply_To=first_id)
    dovecot.deliver(mailbox, follow)
    poll(sending_channel)
    conv = Conversation.objects.get()

    message_pk = answer(conv, agent)

    sender, recipients, _ = smtp_server.received[0]
    sent = received(smtp_server)
    assert recipients == ["jeanne@example.fr"]
    assert sender == "contact@maison-lumiere.fr"
    assert sent["From"] == "Maison Lumière <contact@maison-lumiere.fr>"
    assert sent["Subject"] == "Re: Où est ma commande ?"
    assert sent["In-Reply-To"] == follow_id  # the newest buyer message
    assert sent["References"].split() == [first_id, follow_id]
    token = tokens.token(conv.pk)
    assert sent["Message-ID"] == f"<comptoir.{token}.comptoir-{message_pk}@maison-lumiere.fr>"
    assert "Votre colis part demain." in sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    # The buyer's answer to our reply threads back into the same conversation.
    dovecot.deliver(mailbox, mail(subject="Merci", In_Reply_To=sent["Message-ID"])[0])
    poll(sending_channel)
    assert Conversation.objects.count() == 1


def test_a_refused_recipient_ends_failed_with_the_servers_reason(
    dovecot: Dovecot,
    mailbox: str,
    sending_channel: Channel,
    smtp_server: SMTPServer,
    agent: User,
) -> None:
    dovecot.deliver(mailbox, mail()[0])
    poll(sending_channel)
    smtp_server.refuse["jeanne@example.fr"] = "550 5.1.1 No such user"
    message = actions.reply(Conversation.objects.get(), actor=agent, text="Bonjour")

    send_message.call(message.pk)

    message.refresh_from_db()
    assert message.delivery_state == DeliveryState.FAILED
    assert "No such user" in message.delivery_error
    assert smtp_server.received == []


def test_an_unreachable_smtp_server_is_retried_later(
    dovecot: Dovecot, mailbox: str, sending_channel: Channel, agent: User
) -> None:
    dovecot.deliver(mailbox, mail()[0])
    poll(sending_channel)
    settings: dict[str, Any] = sending_channel.get_settings()
    sending_channel.set_settings({**settings, "smtp_port": 1})
    sending_channel.save()
    message = actions.reply(Conversation.objects.get(), actor=agent, text="Bonjour")

    assert send_message.call(message.pk).startswith("failed")

    message.refresh_from_db()
    assert message.delivery_state == DeliveryState.QUEUED  # waiting for its retry
    assert "unreachable" in message.delivery_error


def dsn(original_id: str, recipient: str = "jeanne@example.fr", action: str = "failed") -> bytes:
    """A delivery status notification as Postfix writes it (RFC 3464)."""
    return (
        "From: MAILER-DAEMON@mx.example.fr (Mail Delivery System)\r\n"
        "To: contact@maison-lumiere.fr\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-" + original_id.strip("<>") + ">\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you...\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.fr\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Action: {action}\r\n"
        "Status: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 <jeanne@example.fr>: Recipient address rejected\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original_id}\r\nSubject: Re: Où est ma commande ?\r\n"
        "\r\n--B--\r\n"
    ).encode()


def test_a_bounce_marks_the_reply_failed_and_puts_the_conversation_back(
    dovecot: Dovecot,
    mailbox: str,
    sending_channel: Channel,
    smtp_server: SMTPServer,
    agent: User,
) -> None:
    dovecot.deliver(mailbox, mail()[0])
    poll(sending_channel)
    conv = Conversation.objects.get()
    reply_pk = answer(conv, agent)
    actions.set_status(conv, actor=agent, status=Status.RESOLVED)
    sent_id = received(smtp_server)["Message-ID"]

    dovecot.deliver(mailbox, dsn(sent_id))
    poll(sending_channel)
    dovecot.deliver(mailbox, dsn(sent_id))  # the same report twice changes nothing more
    poll(sending_channel)

    reply = Message.objects.get(pk=reply_pk)
    assert reply.delivery_state == DeliveryState.FAILED
    assert "Recipient address rejected" in reply.delivery_error
    conv.refresh_from_db()
    assert conv.status == Status.OPEN
    assert conv.needs_reply
    report = conv.messages.get(direction="in", is_auto=True)  # in the timeline, marked automatic
    assert report.subject == "Undelivered Mail Returned to Sender"
    assert conv.events.filter(kind=EventKind.DELIVERY_FAILED).count() == 1


def test_a_delayed_delivery_report_changes_nothing(
    dovecot: Dovecot,
    mailbox: str,
    sending_channel: Channel,
    smtp_server: SMTPServer,
    agent: User,
) -> None:
    dovecot.deliver(mailbox, mail()[0])
    poll(sending_channel)
    reply_pk = answer(Conversation.objects.get(), agent)

    dovecot.deliver(mailbox, dsn(received(smtp_server)["Message-ID"], action="delayed"))
    poll(sending_channel)

    assert Message.objects.get(pk=reply_pk).delivery_state == DeliveryState.SENT


def test_our_reply_token_threads_a_reply_even_when_our_copy_is_gone(
    dovecot: Dovecot,
    mailbox: str,
    sending_channel: Channel,
    smtp_server: SMTPServer,
    agent: User,
) -> None:
    dovecot.deliver(mailbox, mail()[0])
    poll(sending_channel)
    conv = Conversation.objects.get()
    reply_pk = answer(conv, agent)
    sent_id = received(smtp_server)["Message-ID"]
    Message.objects.filter(pk=reply_pk).update(message_id="")  # e.g. sent from elsewhere

    # A client that quotes our Message-ID only in References, under another subject.
    dovecot.deliver(mailbox, mail(subject="Une autre question", References=sent_id)[0])
    forged = sent_id.replace(tokens.token(conv.pk), f"c{conv.pk}-000000000000")
    dovecot.deliver(mailbox, mail(subject="Forgé", In_Reply_To=forged)[0])
    poll(sending_channel)

    assert conv.messages.filter(subject="Une autre question").exists()
    forged_conv = Message.objects.get(subject="Forgé").conversation
    assert forged_conv.pk != conv.pk  # a token that does not verify threads nothing


def test_a_copy_of_the_answer_is_filed_in_the_sent_folder(
    dovecot: Dovecot,
    mailbox: str,
    sending_channel: Channel,
    smtp_server: SMTPServer,
    agent: User,
) -> None:
    settings: dict[str, Any] = sending_channel.get_settings()
    sending_channel.set_settings({**settings, "sent_folder": "Sent"})
    sending_channel.save()
    dovecot.deliver(mailbox, mail()[0])
    poll(sending_channel)

    answer(Conversation.objects.get(), agent)

    with dovecot.client(mailbox) as client:
        client.select_folder("Sent")
        (uid,) = client.search(["ALL"])
        fetched = client.fetch([uid], ["FLAGS", "BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])[uid]
    assert b"\\Seen" in fetched[b"FLAGS"]
    assert received(smtp_server)["Message-ID"].encode() in next(
        v for k, v in fetched.items() if k.startswith(b"BODY")
    )


def test_answers_go_out_over_starttls_and_an_untrusted_certificate_is_refused(
    dovecot: Dovecot,
    mailbox: str,
    sending_channel: Channel,
    smtp_server: SMTPServer,
    agent: User,
) -> None:
    settings: dict[str, Any] = sending_channel.get_settings()
    sending_channel.set_settings({**settings, "smtp_security": "starttls", "verify_tls": False})
    sending_channel.save()
    dovecot.deliver(mailbox, mail()[0])
    poll(sending_channel)
    conv = Conversation.objects.get()

    answer(conv, agent)
    assert len(smtp_server.received) == 1

    sending_channel.set_settings({**settings, "smtp_security": "starttls", "verify_tls": True})
    sending_channel.save()
    message = actions.reply(conv, actor=agent, text="Encore")
    send_message.call(message.pk)
    message.refresh_from_db()
    assert message.delivery_state == DeliveryState.FAILED  # permanent: no pointless retries
    assert "TLS certificate of 127.0.0.1" in message.delivery_error


def test_answers_go_out_over_smtps(
    dovecot: Dovecot,
    mailbox: str,
    sending_channel: Channel,
    smtp_server: SMTPServer,
    agent: User,
) -> None:
    settings: dict[str, Any] = sending_channel.get_settings()
    sending_channel.set_settings(
        {
            **settings,
            "smtp_security": "ssl",
            "smtp_port": smtp_server.tls_port,
            "verify_tls": False,
        }
    )
    sending_channel.save()
    dovecot.deliver(mailbox, mail()[0])
    poll(sending_channel)

    answer(Conversation.objects.get(), agent)

    assert received(smtp_server)["To"] == "jeanne@example.fr"


def test_a_buyer_writes_from_a_mail_client_and_the_whole_exchange_stays_one_conversation(
    dovecot: Dovecot,
    mailbox: str,
    sending_channel: Channel,
    smtp_server: SMTPServer,
    agent: User,
) -> None:
    """The buyer's client sends by SMTP; the mail lands in the shop's IMAP mailbox; Comptoir
    shows it with the buyer and the order; the answer goes out by SMTP; the buyer's client
    answers it; the answer joins the conversation."""
    shop_address = "contact@maison-lumiere.fr"
    smtp_server.mailboxes[shop_address] = (dovecot, mailbox)
    known = Order.objects.create(
        shop=sending_channel.shop, channel=sending_channel, external_id="10234"
    )
    first, first_id = mail(subject="Commande n° 10234 toujours pas reçue")
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as client:
        client.sendmail("jeanne@example.fr", [shop_address], first)

    assert poll(sending_channel) == 1
    conv = Conversation.objects.get()
    assert conv.customer is not None
    assert conv.customer.email == "jeanne@example.fr"
    assert conv.order_id == known.pk
    assert conv.needs_reply

    answer(conv, agent, "Elle part aujourd'hui.")

    _, recipients, content = smtp_server.received[-1]
    assert recipients == ["jeanne@example.fr"]
    ours = email.message_from_bytes(content, policy=email.policy.default)
    assert ours["In-Reply-To"] == first_id
    # The buyer's client answers as clients do: Re:, In-Reply-To and References.
    again = email.message.EmailMessage()
    again["From"] = "Jeanne Martin <jeanne@example.fr>"
    again["To"] = ours["From"]
    again["Subject"] = f"Re: {ours['Subject']}"
    again["Message-ID"] = email.utils.make_msgid(domain="example.fr")
    again["In-Reply-To"] = ours["Message-ID"]
    again["References"] = f"{first_id} {ours['Message-ID']}"
    again.set_content("Merci !\n\n> Elle part aujourd'hui.")
    with smtplib.SMTP(smtp_server.host, smtp_server.port) as client:
        client.sendmail("jeanne@example.fr", [shop_address], again.as_bytes())

    assert poll(sending_channel) == 1
    conv.refresh_from_db()
    assert Conversation.objects.count() == 1
    assert conv.message_count == 3
    assert conv.needs_reply
    newest = conv.messages.order_by("-id").first()
    assert newest is not None
    assert newest.new_text.strip() == "Merci !"
