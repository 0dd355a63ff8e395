"""The email channel against a real IMAP server (dovecot): polling, threading, the cursor."""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest
from django.utils import timezone

from comptoir.connectors.base import ConnectorError
from comptoir.connectors.email.connector import EmailConnector
from comptoir.inbox.models import Channel, Conversation, InboundRecord, Message, Status
from comptoir.inbox.tasks import poll_channel
from tests.conftest import ago
from tests.mailservers import Dovecot


def mail(
    subject: str = "Où est ma commande ?",
    body: str = "Bonjour, je n'ai pas reçu ma commande.",
    sender: str = "Jeanne Martin <jeanne@example.fr>",
    **headers: str,
) -> tuple[bytes, str]:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "contact@maison-lumiere.fr"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(ago(minutes=10))
    msg_id = headers.pop("Message_ID", None) or make_msgid(domain="example.fr")
    msg["Message-ID"] = msg_id
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes(), msg_id


def poll(channel: Channel) -> int:
    result: int = poll_channel.call(channel.pk)
    channel.refresh_from_db()
    return result


def test_a_mail_in_the_mailbox_becomes_a_conversation_with_its_buyer(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    raw, msg_id = mail()
    dovecot.deliver(mailbox, raw)

    assert poll(email_channel) == 1

    conv = Conversation.objects.get()
    message = conv.messages.get()
    assert conv.subject == "Où est ma commande ?"
    assert conv.needs_reply
    assert conv.customer is not None
    assert (conv.customer.name, conv.customer.email) == ("Jeanne Martin", "jeanne@example.fr")
    assert message.message_id == msg_id
    assert message.text.strip() == "Bonjour, je n'ai pas reçu ma commande."
    assert email_channel.cursor["INBOX"]["last_uid"] == 1
    assert email_channel.last_sync_at is not None


def test_a_reply_threads_by_in_reply_to_and_an_amazon_order_is_recognised(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    first, first_id = mail(subject="Commande 171-1234567-1234567", sender="x@marketplace.amazon.fr")
    dovecot.deliver(mailbox, first)
    follow, _ = mail(subject="Re: toujours rien", In_Reply_To=first_id, References=first_id)
    dovecot.deliver(mailbox, follow)

    assert poll(email_channel) == 2

    conv = Conversation.objects.get()
    assert conv.message_count == 2
    assert conv.order_number == "171-1234567-1234567"
    assert list(conv.tags.values_list("name", flat=True)) == ["amazon"]  # via Amazon's relay


def test_polling_again_fetches_only_what_is_new_and_never_marks_mail_read(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    dovecot.deliver(mailbox, mail()[0])
    poll(email_channel)
    assert poll(email_channel) == 0  # nothing new: nothing fetched

    dovecot.deliver(mailbox, mail(subject="Autre question")[0])
    assert poll(email_channel) == 1
    assert Message.objects.count() == 2
    with dovecot.client(mailbox) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search(["SEEN"]) == []  # the seller's own mail client still sees them new


def test_a_recreated_folder_is_read_again_without_duplicates(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    raw, _ = mail()
    dovecot.deliver(mailbox, raw)
    poll(email_channel)
    # A UIDVALIDITY the cursor does not know: the folder is read from its start again.
    email_channel.cursor = {"INBOX": {"uidvalidity": 1, "last_uid": 99}}
    email_channel.save(update_fields=["cursor"])
    dovecot.deliver(mailbox, mail(subject="Nouveau")[0])

    assert poll(email_channel) == 2  # both read again...
    assert Message.objects.count() == 2  # ...the first one stored once
    assert InboundRecord.objects.filter(state="duplicate").count() == 1


def test_an_auto_reply_is_stored_but_asks_for_no_answer(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    dovecot.deliver(mailbox, mail(subject="Absence", Auto_Submitted="auto-replied")[0])

    poll(email_channel)

    message = Message.objects.get()
    assert message.is_auto
    assert not message.conversation.needs_reply


def test_a_wrong_password_marks_the_channel_unhealthy_with_the_reason(
    email_channel: Channel,
) -> None:
    settings: dict[str, Any] = email_channel.get_settings()
    email_channel.set_settings({**settings, "password": "wrong"})
    email_channel.save()

    assert poll(email_channel) == 0

    assert not email_channel.is_healthy
    assert "login refused" in email_channel.last_error
    with pytest.raises(ConnectorError, match="login refused"):
        EmailConnector(email_channel).test_connection()


def test_an_unreachable_server_is_a_transient_error(email_channel: Channel) -> None:
    settings: dict[str, Any] = email_channel.get_settings()
    email_channel.set_settings({**settings, "imap_port": 1})
    email_channel.save()

    with pytest.raises(ConnectorError) as caught:
        list(EmailConnector(email_channel).fetch({}))
    assert not caught.value.permanent
    assert "unreachable" in str(caught.value)


def test_test_connection_counts_the_messages(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    dovecot.deliver(mailbox, mail()[0])
    assert EmailConnector(email_channel).test_connection() == "connected; INBOX: 1 messages"


def test_a_resolved_conversation_reopens_on_a_new_mail(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    raw, msg_id = mail()
    dovecot.deliver(mailbox, raw)
    poll(email_channel)
    Conversation.objects.update(status=Status.RESOLVED, resolved_at=timezone.now())

    dovecot.deliver(mailbox, mail(subject="Re: ?", In_Reply_To=msg_id)[0])
    poll(email_channel)

    conv = Conversation.objects.get()
    assert (conv.status, conv.reopened_count) == (Status.OPEN, 1)


def test_the_original_mail_is_kept_and_downloadable_by_who_sees_the_conversation(
    dovecot: Dovecot, mailbox: str, email_channel: Channel, agent: Any, outsider: Any
) -> None:
    from django.test import Client

    from tests.test_api import bearer

    raw, _ = mail()
    dovecot.deliver(mailbox, raw)
    poll(email_channel)
    message = Message.objects.get()
    url = f"/api/v1/messages/{message.pk}/source"

    response = Client().get(url, headers=bearer(agent))

    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert f'filename="message-{message.pk}.eml"' in response["Content-Disposition"]
    assert response.content.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert Client().get(url, headers=bearer(outsider)).status_code == 404


def test_a_mail_the_parser_cannot_read_is_kept_for_a_human_and_the_rest_goes_on(
    dovecot: Dovecot, mailbox: str, email_channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.connectors.email import mime

    real_parse = mime.parse

    def parse(raw: bytes, **kwargs: Any) -> Any:
        if b"POISON" in raw:
            raise RecursionError("maximum recursion depth exceeded")
        return real_parse(raw, **kwargs)

    monkeypatch.setattr(mime, "parse", parse)
    dovecot.deliver(mailbox, mail(subject="POISON", sender="eve@example.fr")[0])
    dovecot.deliver(mailbox, mail(subject="Normal")[0])

    assert poll(email_channel) == 2

    bad = Message.objects.get(subject="(unreadable message)")
    assert "RecursionError" in bad.text
    assert bad.conversation.customer is not None
    assert bad.conversation.customer.email == "eve@example.fr"
    assert bad.source_sha256  # the original, for whoever reads it
    assert Message.objects.filter(subject="Normal").exists()
    assert email_channel.is_healthy


def test_without_any_reference_the_same_senders_subject_threads_within_a_week(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    def at(raw: bytes, days_ago: float) -> bytes:
        from email.utils import format_datetime

        head, body = raw.split(b"\n\n", 1)
        lines = [line for line in head.split(b"\n") if not line.startswith(b"Date:")]
        lines.append(b"Date: " + format_datetime(ago(days=days_ago)).encode())
        return b"\n".join(lines) + b"\n\n" + body

    dovecot.deliver(mailbox, at(mail(subject="Question livraison")[0], 12))
    dovecot.deliver(mailbox, at(mail(subject="Question livraison")[0], 3))  # 9 days later
    dovecot.deliver(mailbox, at(mail(subject="RE : question  LIVRAISON")[0], 1))
    dovecot.deliver(mailbox, at(mail(subject="Question livraison", sender="paul@example.fr")[0], 1))

    poll(email_channel)

    threads = sorted(
        (conv.customer.email, conv.message_count)  # type: ignore[union-attr]
        for conv in Conversation.objects.select_related("customer")
    )
    assert threads == [("jeanne@example.fr", 1), ("jeanne@example.fr", 2), ("paul@example.fr", 1)]

    # Later, in another poll: found in the database this time.
    dovecot.deliver(mailbox, mail(subject="Re: Question livraison")[0])
    poll(email_channel)
    assert sorted(Conversation.objects.values_list("message_count", flat=True)) == [1, 1, 3]


def test_an_attachment_over_the_mailbox_cap_is_listed_but_not_kept(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    from comptoir.inbox.models import Attachment

    settings: dict[str, Any] = email_channel.get_settings()
    email_channel.set_settings({**settings, "max_attachment_bytes": 100_000})
    email_channel.save()
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "a@example.fr", "Photos", "<att@x>"
    msg.set_content("Voici les photos")
    msg.add_attachment(b"x" * 300_000, maintype="image", subtype="jpeg", filename="big.jpg")
    msg.add_attachment(b"y" * 1_000, maintype="image", subtype="jpeg", filename="small.jpg")
    dovecot.deliver(mailbox, msg.as_bytes())

    poll(email_channel)

    big, small = Attachment.objects.order_by("filename")
    assert (big.filename, big.size, big.sha256) == ("big.jpg", 300_000, "")
    assert "over this mailbox's 100,000-byte limit" in big.dropped_reason
    assert small.sha256
    assert not small.dropped_reason


def test_a_reused_message_id_keeps_both_mails_but_a_copy_stays_one(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    first, msg_id = mail(subject="Première")
    other, _ = mail(subject="Autre chose", Message_ID=msg_id)  # a broken mailer's reuse
    copy = b"Received: from relay2.example.fr\r\n" + first  # the same mail by another path
    for raw in (first, other, copy):
        dovecot.deliver(mailbox, raw)

    poll(email_channel)

    assert sorted(Message.objects.values_list("subject", flat=True)) == ["Autre chose", "Première"]
    assert InboundRecord.objects.filter(state="duplicate").count() == 1


def test_a_mailbox_that_asks_has_its_stored_mail_moved_to_a_folder(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    settings: dict[str, Any] = email_channel.get_settings()
    email_channel.set_settings({**settings, "move_to": "Comptoir"})
    email_channel.save()
    for subject in ("Un", "Deux"):
        dovecot.deliver(mailbox, mail(subject=subject)[0])

    assert poll(email_channel) == 2

    with dovecot.client(mailbox) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        assert client.select_folder("Comptoir")[b"EXISTS"] == 2  # moved, never deleted
    dovecot.deliver(mailbox, mail(subject="Trois")[0])
    assert poll(email_channel) == 1  # the cursor still holds after the move
    assert Message.objects.count() == 3


@pytest.mark.parametrize(("security", "tls_port"), [("ssl", True), ("starttls", False)])
def test_a_mailbox_over_tls_is_read(
    dovecot: Dovecot, mailbox: str, email_channel: Channel, security: str, tls_port: bool
) -> None:
    settings: dict[str, Any] = email_channel.get_settings()
    port = dovecot.tls_port if tls_port else dovecot.port
    # The test server's certificate is self-signed: this mailbox is told not to verify it.
    email_channel.set_settings(
        {**settings, "imap_security": security, "imap_port": port, "verify_tls": False}
    )
    email_channel.save()
    dovecot.deliver(mailbox, mail()[0])

    assert poll(email_channel) == 1
    assert email_channel.is_healthy


def test_an_untrusted_certificate_is_refused_with_a_clear_reason(
    dovecot: Dovecot, email_channel: Channel
) -> None:
    settings: dict[str, Any] = email_channel.get_settings()
    email_channel.set_settings({**settings, "imap_security": "ssl", "imap_port": dovecot.tls_port})
    email_channel.save()

    poll(email_channel)

    assert not email_channel.is_healthy
    assert "TLS certificate of 127.0.0.1" in email_channel.last_error
    assert "refused" in email_channel.last_error


def test_a_marketplace_notification_mail_polls_that_marketplace_instead_of_opening_a_conversation(
    dovecot: Dovecot,
    mailbox: str,
    email_channel: Channel,
    shop: Any,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django_tasks_db.models import DBTaskResult

    from comptoir.connectors import registry
    from tests.test_poll import PagedConnector

    monkeypatch.setitem(registry.CONNECTORS, "paged", "tests.test_poll.PagedConnector")
    darty = Channel.objects.create(shop=shop, kind="paged", marketplace="darty", name="Darty")
    assert PagedConnector.can_fetch()
    notice = mail(
        subject="Vous avez reçu un nouveau message", sender="Darty <noreply@marketplace.darty.com>"
    )[0]
    fnac_notice = mail(subject="Nouveau message", sender="no-reply@fnac.com")[0]
    dovecot.deliver(mailbox, notice)
    dovecot.deliver(mailbox, fnac_notice)  # no Fnac channel that fetches: kept, visibly

    with django_capture_on_commit_callbacks(execute=True):
        poll(email_channel)

    polls = DBTaskResult.objects.filter(task_path="comptoir.inbox.tasks.poll_channel")
    assert [task.args_kwargs["args"] for task in polls] == [[darty.pk]]
    (kept,) = Message.objects.all()
    assert kept.subject == "Nouveau message"
    assert kept.is_auto
    assert not kept.conversation.needs_reply
    assert email_channel.cursor["INBOX"]["last_uid"] == 2


def test_a_mailbox_order_pattern_is_used_and_a_broken_one_is_refused(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    import pydantic

    from comptoir.connectors.email.connector import EmailSettings

    settings: dict[str, Any] = email_channel.get_settings()
    with pytest.raises(pydantic.ValidationError, match="invalid pattern"):
        EmailSettings.model_validate({**settings, "order_number_pattern": "(ML-"})
    email_channel.set_settings({**settings, "order_number_pattern": r"\b(ML-\d{6})\b"})
    email_channel.save()
    dovecot.deliver(mailbox, mail(subject="Colis ML-004211 abîmé")[0])

    poll(email_channel)

    assert Conversation.objects.get().order_number == "ML-004211"


def test_a_mail_with_a_pasted_screenshot_in_its_html_keeps_its_text_and_the_image_as_attachment(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    import base64

    from comptoir.inbox import files
    from comptoir.inbox.models import Attachment

    screenshot = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 6_000  # 1.5 MB: 2 M characters
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "a@example.fr", "Écran d'erreur", "<shot@x>"
    msg.set_content("Bonjour, voici l'erreur au paiement.")
    msg.add_alternative(
        "<p>Bonjour, voici l'erreur au paiement.</p>"
        f'<img alt="capture" src="data:image/png;base64,{base64.b64encode(screenshot).decode()}">',
        subtype="html",
    )
    dovecot.deliver(mailbox, msg.as_bytes())

    assert poll(email_channel) == 1

    assert not InboundRecord.objects.filter(state="failed").exists()
    message = Message.objects.get()
    assert message.text.strip() == "Bonjour, voici l'erreur au paiement."
    assert "data:" not in message.html
    assert "voici l'erreur au paiement" in message.html
    image = Attachment.objects.get(message=message)
    assert (image.filename, image.content_type, image.size) == (
        "pasted-image-1.png",
        "image/png",
        len(screenshot),
    )
    assert files.read_bytes(image.sha256) == screenshot
    assert f'src="cid:{image.content_id}"' in message.html


def test_a_mail_whose_html_is_over_the_limit_is_stored_cut_with_a_note_and_its_source_kept(
    dovecot: Dovecot, mailbox: str, email_channel: Channel, settings: Any
) -> None:
    from comptoir.inbox import files

    settings.MAX_MESSAGE_CHARS = 100_000
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "a@example.fr", "Long", "<long@x>"
    msg.set_content("Le texte court.")
    msg.add_alternative("<table>" + "<tr><td>ligne</td></tr>" * 20_000 + "</table>", "html")
    raw = msg.as_bytes()
    dovecot.deliver(mailbox, raw)

    assert poll(email_channel) == 1

    message = Message.objects.get()
    assert message.text.strip() == "Le texte court."
    assert re.search(
        r"\[… truncated at 100,000 of [\d,]+ characters: the original is in its source\]",
        message.html,
    )
    assert files.read_bytes(message.source_sha256).replace(b"\r\n", b"\n") == raw.replace(
        b"\r\n", b"\n"
    )


def _mail_with_video(size: int = 2_000_000) -> tuple[bytes, bytes]:
    import os

    video = os.urandom(size)
    msg = EmailMessage()
    msg["From"], msg["Subject"] = "Jeanne <jeanne@example.fr>", "Vidéo du colis"
    msg["Message-ID"] = make_msgid(domain="example.fr")
    msg.set_content("Voici la vidéo du colis abîmé.")
    msg.add_attachment(video, maintype="video", subtype="mp4", filename="colis.mp4")
    return msg.as_bytes(), video


def test_a_big_attachment_is_stored_once_and_the_raw_record_refers_to_it(
    dovecot: Dovecot, mailbox: str, email_channel: Channel
) -> None:
    from comptoir.inbox import files
    from comptoir.inbox.models import Attachment

    raw, video = _mail_with_video()
    dovecot.deliver(mailbox, raw)

    assert poll(email_channel) == 1

    attachment = Attachment.objects.get()
    assert (attachment.filename, attachment.size) == ("colis.mp4", len(video))
    assert files.read_bytes(attachment.sha256) == video
    record = InboundRecord.objects.get()
    assert len(bytes(record.raw)) < 5_000  # by its sha256, not a base64 copy of the video
    assert attachment.sha256 in bytes(record.raw).decode()


def test_big_mails_in_one_poll_are_stored_in_batches_of_a_few_megabytes(
    dovecot: Dovecot, mailbox: str, email_channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.inbox import ingest as ingest_module
    from comptoir.inbox import tasks

    monkeypatch.setattr(tasks, "POLL_BATCH_BYTES", 1_000_000)
    for _ in range(3):
        dovecot.deliver(mailbox, _mail_with_video(1_000_000)[0])
    dovecot.deliver(mailbox, mail()[0])
    dovecot.deliver(mailbox, mail()[0])
    batches: list[int] = []
    real = ingest_module._ingest_batch

    def counting(batch: list[Any], **kwargs: Any) -> Any:
        batches.append(len(batch))
        return real(batch, **kwargs)

    monkeypatch.setattr(ingest_module, "_ingest_batch", counting)

    assert poll(email_channel) == 5

    # Each big mail is stored (and visible) as soon as it is read; small ones go together.
    assert batches == [1, 1, 1, 2]


def test_a_crash_after_the_fetch_leaves_a_record_that_recovery_stores_whole(
    dovecot: Dovecot, mailbox: str, email_channel: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from comptoir.inbox import files
    from comptoir.inbox import ingest as ingest_module
    from comptoir.inbox.models import Attachment

    class Crash(BaseException):  # as a kill would: no handler runs
        pass

    def crash(*args: Any, **kwargs: Any) -> Any:
        raise Crash()

    raw, video = _mail_with_video()
    dovecot.deliver(mailbox, raw)
    with monkeypatch.context() as patch:
        patch.setattr(ingest_module, "_store_batch", crash)
        with pytest.raises(Crash):
            poll_channel.call(email_channel.pk)

    record = InboundRecord.objects.get()
    assert record.state == "received"
    assert not Message.objects.exists()

    (result,) = ingest_module.recover_stale(older_than=timedelta(0))

    assert result.outcome == "stored"
    message = Message.objects.get()
    assert message.text.strip() == "Voici la vidéo du colis abîmé."
    assert files.read_bytes(Attachment.objects.get(message=message).sha256) == video
    # The cursor was not moved: the next poll reads the mail again and finds it stored.
    assert poll(email_channel) == 1
    assert Message.objects.count() == 1


def test_an_api_payload_cannot_name_a_stored_file_it_did_not_send(email_channel: Channel) -> None:
    import json

    from comptoir.inbox import files
    from comptoir.inbox.ingest import receive

    secret = files.store_bytes(b"someone else's invoice")
    payload = {
        "channel_id": email_channel.pk,
        "external_id": "api-1",
        "sender": {"identity_value": "eve@example.fr"},
        "text": "hello",
        "sent_at": timezone.now().isoformat(),
        "attachments": [{"filename": "x.pdf", "sha256": secret, "size": 22}],
    }

    result = receive(json.dumps(payload).encode(), source="api", channel_id=email_channel.pk)

    assert result.outcome == "failed"
    assert "not a sha256" in result.error
    assert not Message.objects.exists()


def test_a_stored_attachment_over_the_global_limit_is_listed_not_kept(
    dovecot: Dovecot, mailbox: str, email_channel: Channel, settings: Any
) -> None:
    from comptoir.inbox.models import Attachment

    settings.MAX_ATTACHMENT_BYTES = 1_000_000
    raw, _ = _mail_with_video(1_500_000)
    dovecot.deliver(mailbox, raw)

    assert poll(email_channel) == 1

    attachment = Attachment.objects.get()
    assert (attachment.size, attachment.sha256) == (1_500_000, "")
    assert "over the 1,000,000-byte limit" in attachment.dropped_reason
