"""Parsing mail as it arrives in the wild: broken, mislabelled, hostile. Nothing may raise."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from comptoir.connectors.email.mime import find_order_number, parse

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def p(raw: bytes):  # type: ignore[no-untyped-def]
    return parse(raw, channel_id=1, received_at=NOW)


def test_a_message_without_message_id_is_named_by_its_bytes() -> None:
    raw = b"From: a@example.fr\r\nSubject: hi\r\n\r\nbody\r\n"
    first, again = p(raw), p(raw)
    assert first.external_id.startswith("sha256:")
    assert first.external_id == again.external_id  # a re-delivery is recognised
    assert p(raw + b"more").external_id != first.external_id


def test_a_wrong_charset_label_falls_back_without_losing_the_text() -> None:
    raw = (
        b"From: a@example.fr\r\nMessage-ID: <1@x>\r\n"
        b"Content-Type: text/plain; charset=no-such-charset\r\n\r\n"
        + "Reçu abîmé".encode()
        + b"\r\n"
    )
    assert p(raw).text.strip() == "Reçu abîmé"


def test_latin1_bytes_labelled_utf8_still_read() -> None:
    raw = (
        b"From: a@example.fr\r\nMessage-ID: <2@x>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + "Très déçu".encode("cp1252") + b"\r\n"
    )
    assert p(raw).text.strip() == "Très déçu"


def test_encoded_and_raw_8bit_headers_are_decoded() -> None:
    raw = (
        b"From: =?utf-8?q?Ren=C3=A9e_L=C3=A9vy?= <renee@example.fr>\r\n"
        b"Message-ID: <3@x>\r\n" + "Subject: Colis endommagé\r\n".encode() + b"\r\nbody\r\n"
    )
    msg = p(raw)
    assert msg.sender.name == "Renée Lévy"
    assert msg.sender.identity_value == "renee@example.fr"
    assert "Colis endommag" in msg.subject


def test_truncated_mime_keeps_what_is_there() -> None:
    raw = (
        b"From: a@example.fr\r\nMessage-ID: <4@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nBonjour\r\n"
        b"--b\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\r\n/9j/4AA"
    )
    msg = p(raw)
    assert msg.text.strip() == "Bonjour"


def test_a_missing_or_absurd_date_becomes_the_reception_time() -> None:
    assert p(b"From: a@example.fr\r\n\r\nx").sent_at == NOW
    future = b"From: a@example.fr\r\nDate: Fri, 01 Jan 2100 00:00:00 +0000\r\n\r\nx"
    assert p(future).sent_at == NOW
    assert p(b"From: a@example.fr\r\nDate: not a date\r\n\r\nx").sent_at == NOW


def test_winmail_dat_is_left_out_with_a_note_and_real_attachments_kept() -> None:
    raw = (
        b"From: a@example.fr\r\nMessage-ID: <5@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nVoir photo\r\n"
        b"--b\r\nContent-Type: application/ms-tnef\r\n"
        b'Content-Disposition: attachment; filename="winmail.dat"\r\n\r\nxx\r\n'
        b"--b\r\nContent-Type: image/png\r\n"
        b'Content-Disposition: attachment; filename="photo.png"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n"
    )
    msg = p(raw)
    assert [a.filename for a in msg.attachments] == ["photo.png"]
    assert msg.attachments[0].data.startswith(b"\x89PNG")
    assert "winmail.dat" in msg.meta["notes"][0]


def test_html_only_mail_gets_a_text_version_without_script() -> None:
    raw = (
        b"From: a@example.fr\r\nMessage-ID: <6@x>\r\nContent-Type: text/html\r\n\r\n"
        b"<p>Bonjour</p><script>alert(1)</script>"
        b"<p onclick='x()'>Merci &amp; bonne journ\xc3\xa9e</p>"
    )
    msg = p(raw)
    assert "alert" not in msg.text
    assert "Bonjour" in msg.text
    assert "Merci & bonne journée" in msg.text


def test_auto_replies_and_delivery_reports_are_marked_automatic() -> None:
    base = b"From: a@example.fr\r\nMessage-ID: <7@x>\r\n"
    assert p(base + b"Auto-Submitted: auto-replied\r\n\r\nx").is_auto
    assert p(base + b"Precedence: bulk\r\n\r\nx").is_auto
    assert p(base + b"X-Autoreply: yes\r\n\r\nx").is_auto
    assert p(base + b"Content-Type: multipart/report; boundary=z\r\n\r\n--z--").is_auto
    assert not p(base + b"Auto-Submitted: no\r\n\r\nx").is_auto


def test_an_amazon_order_number_is_found_in_the_subject_or_body() -> None:
    raw = b"From: x@marketplace.amazon.fr\r\nSubject: Question\r\n\r\nCommande 402-1234567-7654321"
    assert p(raw).order_number == "402-1234567-7654321"


def test_a_delivery_report_names_the_returned_message_and_threads_under_it() -> None:
    raw = (
        b"From: MAILER-DAEMON@mx.example.fr\r\nMessage-ID: <dsn1@mx>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nUndeliverable\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx\r\n\r\nFinal-Recipient: rfc822; bob@example.fr\r\n"
        b"Action: failed\r\nStatus: 5.2.2\r\nDiagnostic-Code: smtp; 552 5.2.2 Mailbox full\r\n"
        b"\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n"
        b"Message-ID: <comptoir.comptoir-7@shop.fr>\r\nSubject: Re: x\r\n\r\nBonjour\r\n--B--\r\n"
    )
    msg = p(raw)
    assert msg.meta["bounce"] == {
        "original_message_id": "<comptoir.comptoir-7@shop.fr>",
        "recipient": "bob@example.fr",
        "action": "failed",
        "status": "5.2.2",
        "reason": "552 5.2.2 Mailbox full",
    }
    assert msg.in_reply_to == "<comptoir.comptoir-7@shop.fr>"
    assert msg.is_auto


def test_the_new_text_of_a_reply_leaves_out_quotes_and_signature_in_five_languages() -> None:
    samples = {
        "Merci, bien reçu.\n\nCordialement,\nJeanne\n\nLe lun. 23 nov. 2026 à 10:00, Maison "
        "Lumière <contact@maison-lumiere.fr> a écrit :\n> Votre colis part demain.\n": (
            "Merci, bien reçu."
        ),
        "Thanks!\n\nOn Mon, Nov 23, 2026 at 10:00 AM Shop <a@b.c> wrote:\n> hello\n": "Thanks!",
        "Danke\n\nAm Mo., 23. Nov. 2026 um 10:00 Uhr schrieb Shop <a@b.c>:\n> hallo\n": "Danke",
        "Gracias\n\nEl lun, 23 nov 2026 a las 10:00, Shop (<a@b.c>) escribió:\n> hola\n": (
            "Gracias"
        ),
        "Grazie\n\nIl giorno lun 23 nov 2026 alle ore 10:00 Shop <a@b.c> ha scritto:\n> ciao\n": (
            "Grazie"
        ),
        "Merci\n\n-----Message d'origine-----\nDe : Shop\nEnvoyé : lundi\n\nBonjour\n": "Merci",
    }
    for body, expected in samples.items():
        raw = b"From: a@example.fr\r\nMessage-ID: <q@x>\r\n\r\n" + body.encode()
        msg = p(raw)
        assert msg.new_text == expected, body
        assert msg.text.strip() == body.strip()  # the history is kept, one click away


def test_marketplace_relay_addresses_are_recognised() -> None:
    def relay(sender: str) -> list[str]:
        return p(f"From: {sender}\r\nMessage-ID: <r@x>\r\n\r\nx".encode()).tags

    assert relay("Jeanne <0x1abc2def@marketplace.amazon.fr>") == ["amazon"]
    assert relay("k9z@marketplace.amazon.co.uk") == ["amazon"]
    assert relay("client-42@messaging.cdiscount.com") == ["cdiscount"]
    assert relay("jeanne@example.fr") == []
    assert relay("spoof@marketplace.amazon.fr.evil.example") == []


def test_a_reply_token_is_recognised_only_when_signed() -> None:
    from comptoir.connectors.email import tokens

    good = f"<comptoir.{tokens.token(42)}.comptoir-7@shop.fr>"
    assert tokens.conversation_of(["<other@x>", good]) == 42
    assert tokens.conversation_of(["<comptoir.c42-0123456789ab.comptoir-7@shop.fr>"]) is None
    assert tokens.conversation_of([good.replace("c42-", "c43-")]) is None
    raw = f"From: a@example.fr\r\nIn-Reply-To: {good}\r\n\r\nx".encode()
    assert p(raw).conversation_hint == 42


def _with_attachment(data: bytes, filename: str, ctype: str = "application/octet-stream") -> bytes:
    import base64

    encoded = base64.encodebytes(data)
    return (
        b"From: a@example.fr\r\nMessage-ID: <big@x>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nVoir la piece jointe\r\n"
        b"--b\r\nContent-Type: " + ctype.encode() + b"\r\n"
        b'Content-Disposition: attachment; filename="' + filename.encode() + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"\r\n--b--\r\n"
    )


def test_a_30_mb_attachment_over_the_mailbox_cap_is_left_out_with_its_size() -> None:
    raw = _with_attachment(b"\0" * 30_000_000, "video.mp4", "video/mp4")

    msg = parse(raw, channel_id=1, received_at=NOW, max_attachment_bytes=10_000_000)

    (att,) = msg.attachments
    assert (att.filename, att.size, att.data) == ("video.mp4", 30_000_000, b"")
    assert "30,000,000 bytes, over this mailbox's 10,000,000-byte limit" in att.dropped_reason
    assert msg.text.strip() == "Voir la piece jointe"


def test_a_zip_bomb_is_kept_as_its_own_few_bytes_never_expanded() -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.txt", b"0" * 50_000_000)  # 50 MB of zeros...
    bomb = buffer.getvalue()  # ...in about 50 kB

    msg = parse(_with_attachment(bomb, "facture.zip", "application/zip"), channel_id=1)

    (att,) = msg.attachments
    assert att.data == bomb
    assert len(att.data) < 100_000


def test_mime_nested_thousands_deep_does_not_take_the_parser_down() -> None:
    depth = 3000
    head = b"From: a@example.fr\r\nMessage-ID: <deep@x>\r\nMIME-Version: 1.0\r\n"
    parts = b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(depth)
    )
    raw = head + parts + b"Content-Type: text/plain\r\n\r\nau fond\r\n"
    try:
        msg = p(raw)
    except RecursionError:  # the connector quarantines what the parser cannot read
        from comptoir.connectors.email.mime import quarantined

        msg = quarantined(raw, channel_id=1, error=RecursionError("too deep"))
        assert msg.subject == "(unreadable message)"
    assert msg.sender.identity_value == "a@example.fr"


def test_marketplace_notifications_are_told_apart_from_buyers_and_relays() -> None:
    def seen(sender: str) -> tuple[str, str, bool]:
        msg = p(f"From: {sender}\r\nMessage-ID: <n@x>\r\n\r\nx".encode())
        return msg.meta.get("notification", ""), msg.meta.get("relay", ""), msg.is_auto

    assert seen("Darty <noreply@marketplace.darty.com>") == ("darty", "", True)
    assert seen("no-reply@fnac.com") == ("fnac", "", True)
    assert seen("ebay@ebay.fr") == ("ebay", "", True)
    assert seen("noreply@cdiscount.com") == ("cdiscount", "", True)
    assert seen("a1b2c3@messaging.cdiscount.com") == ("", "cdiscount", False)  # a buyer
    assert seen("jeanne@darty.com") == ("", "", False)  # a person, not the notifier


# --- order numbers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body", "number"),
    [
        ("Où est ma commande n° 10234 ?", "", "10234"),
        ("Order #A-5531 not received", "", "A-5531"),
        ("Retard", "Bestellnummer: 88812\nDanke", "88812"),
        ("Mi pedido nº 4411", "", "4411"),
        ("Reso", "ordine n. 7731", "7731"),
        ("Question", "N° de commande : FR123456", "FR123456"),
        ("Order No. 12345", "", "12345"),
        ("Colis abîmé", "Commande 171-1234567-1234567 reçue cassée", "171-1234567-1234567"),
        # The subject before the body, and the Amazon form before the usual wordings.
        ("Commande 55443", "order #99887", "55443"),
        ("Re: 402-1234567-7654321", "ma commande n° 1234", "402-1234567-7654321"),
        # Words, dates and short figures are not order numbers.
        ("Question sur ma commande", "Ma commande du 12/11 est en retard", ""),
        ("order status please", "order 2 items", ""),
    ],
)
def test_the_order_number_is_found_as_buyers_write_it(subject: str, body: str, number: str) -> None:
    assert find_order_number(subject, body) == number


def test_a_mailbox_pattern_finds_the_shops_own_numbers_first() -> None:
    pattern = re.compile(r"\b(ML-\d{6})\b")
    assert find_order_number("Problème", "ref ML-004211, commande 5555", pattern) == "ML-004211"
    assert find_order_number("Problème", "commande 5555", pattern) == "5555"
    raw = b"From: a@example.fr\r\nMessage-ID: <1@x>\r\nSubject: ML-004211\r\n\r\nbody\r\n"
    assert parse(raw, channel_id=1, order_pattern=pattern).order_number == "ML-004211"


def test_a_raw_latin1_subject_and_sender_name_are_read_not_replaced_by_question_marks() -> None:
    # Bytes as an old mailer sends them: 8-bit ISO-8859-1 in the headers, no RFC 2047 label.
    raw = (
        b"From: Ren\xe9e L\xe9vy <renee@example.fr>\r\nMessage-ID: <8bit-1@x>\r\n"
        b"Subject: Colis endommag\xe9, tr\xe8s d\xe9\xe7ue\r\n"
        b"Content-Type: text/plain; charset=iso-8859-1\r\n\r\nBonjour\r\n"
    )
    msg = p(raw)
    assert msg.subject == "Colis endommagé, très déçue"
    assert msg.sender.name == "Renée Lévy"
    assert "\ufffd" not in msg.subject + msg.sender.name


def test_a_raw_8bit_subject_is_read_in_the_bodys_charset_before_windows_1252() -> None:
    subject = "Παραγγελία 4411"  # Greek: in Windows-1252 it would read as Latin letters
    raw = (
        b"From: a@example.gr\r\nMessage-ID: <8bit-2@x>\r\nSubject: "
        + subject.encode("iso-8859-7")
        + b"\r\nContent-Type: text/plain; charset=iso-8859-7\r\n\r\n"
        + "Καλημέρα".encode("iso-8859-7")
        + b"\r\n"
    )
    assert p(raw).subject == subject


def test_a_raw_8bit_subject_without_any_charset_falls_back_to_windows_1252() -> None:
    raw = (
        b"From: a@example.fr\r\nMessage-ID: <8bit-3@x>\r\n"
        b"Subject: \x93Urgent\x94 : re\xe7u ab\xeem\xe9\r\n\r\nBonjour\r\n"
    )
    assert p(raw).subject == "“Urgent” : reçu abîmé"


def test_a_multipart_without_boundary_is_read_as_the_mails_text() -> None:
    raw = (
        b"From: a@example.fr\r\nMessage-ID: <noboundary@x>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: multipart/mixed\r\n\r\n"
        + "Bonjour, mon colis est arrivé cassé.\r\n".encode()
    )
    msg = p(raw)
    assert msg.text.strip() == "Bonjour, mon colis est arrivé cassé."
    assert msg.attachments == []


def test_a_big_attachment_is_decoded_exactly_and_stored_by_reference() -> None:
    import hashlib
    import os
    from email.message import EmailMessage

    video, stored = os.urandom(3_000_000), {}
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "a@example.fr", "Vidéo", "<video@x>"
    msg.set_content("Voici la vidéo du colis.")
    msg.add_attachment(video, maintype="video", subtype="mp4", filename="colis.mp4")
    msg.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf", filename="f.pdf")

    def keep(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        stored[digest] = data
        return digest

    parsed = parse(msg.as_bytes(), channel_id=1, received_at=NOW, store_file=keep)

    assert parsed.text.strip() == "Voici la vidéo du colis."
    big, small = parsed.attachments
    assert (big.filename, big.size, big.data) == ("colis.mp4", len(video), b"")
    assert stored[big.sha256] == video
    assert stored[small.sha256] == b"%PDF-1.4 small"
    # The message names its files: nothing of them travels in the raw record.
    assert len(parsed.model_dump_json()) < 2_000


def test_a_long_text_body_that_looks_like_base64_is_read_as_it_is() -> None:
    line = "A" * 70 + "\r\n"
    raw = (
        b"From: a@example.fr\r\nMessage-ID: <lookalike@x>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\n"
        + (line * 2_000).encode()
    )
    assert p(raw).text == line * 2_000


@pytest.mark.parametrize("size", [300_000, 300_001, 300_002, 299_999])
def test_a_big_attachment_of_any_length_is_decoded_to_its_last_byte(size: int) -> None:
    import os
    from email.message import EmailMessage

    data = os.urandom(size)
    msg = EmailMessage()
    msg["From"], msg["Message-ID"] = "a@example.fr", f"<len{size}@x>"
    msg.set_content("pièce jointe")
    msg.add_attachment(data, maintype="application", subtype="zip", filename="a.zip")

    (attachment,) = p(msg.as_bytes()).attachments

    assert attachment.data == data


def test_a_long_quoted_printable_html_body_is_read_whole() -> None:
    from email.message import EmailMessage

    html = "<p>début</p>" + "<i>" + "x" * 200_000 + "</i><p>fin</p>"
    msg = EmailMessage()
    msg["From"], msg["Message-ID"] = "a@example.fr", "<qp@x>"
    msg.set_content("court")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")

    assert p(msg.as_bytes()).html == html + "\n"
