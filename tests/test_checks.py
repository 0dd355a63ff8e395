"""Pre-send checks: each check in several languages, levels per channel, and the reply action
refusing a blocked answer (agents and rules alike)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from comptoir.accounts.models import User
from comptoir.automation.actions import save_template, set_check_level
from comptoir.automation.checks import CheckResult, levels_for, run_checks
from comptoir.automation.models import CheckLevel, Template
from comptoir.automation.templating import render_template
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.actions import Draft, NewAttachment, ReplyRefused
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Direction, Message, Shop
from comptoir.orders.models import Order


@pytest.fixture
def conversation(make_inbound: Callable[..., InboundMessage]) -> Conversation:
    result = ingest(make_inbound(order_number="402-1111111-2222222"))
    return Conversation.objects.select_related("shop", "channel", "customer", "order").get(
        pk=result.conversation_id
    )


def in_language(conv: Conversation, language: str) -> Conversation:
    Conversation.objects.filter(pk=conv.pk).update(language=language)
    conv.refresh_from_db()
    return conv


def results(conv: Conversation, text: str, **kwargs: object) -> list[CheckResult]:
    return run_checks(Draft(conv, text, **kwargs))  # type: ignore[arg-type]


def codes(conv: Conversation, text: str, **kwargs: object) -> dict[str, str]:
    return {r.code: r.level for r in results(conv, text, **kwargs)}


GOOD = {
    "fr": "Bonjour Jeanne,\nVotre colis est parti hier, il arrivera demain.\nBonne journée.",
    "en": "Hello Jeanne,\nYour parcel left yesterday and will arrive tomorrow.\nKind regards.",
    "de": "Hallo Jeanne,\nIhr Paket wurde gestern verschickt und kommt morgen an.\nViele Grüße.",
    "es": "Hola Jeanne,\nSu paquete salió ayer y llegará mañana.\nUn saludo.",
    "it": "Buongiorno Jeanne,\nIl suo pacco è partito ieri e arriverà domani.\nCordiali saluti.",
}


@pytest.mark.parametrize("language", sorted(GOOD))
def test_a_good_answer_passes_every_check(conversation: Conversation, language: str) -> None:
    assert results(in_language(conversation, language), GOOD[language]) == []


def test_an_amazon_reply_with_a_forbidden_link_is_caught(conversation: Conversation) -> None:
    text = "Bonjour Jeanne,\nVoyez la notice sur https://www.maison-lumiere.fr/notice.pdf merci."
    found = results(conversation, text)
    assert [(r.code, r.level) for r in found] == [("link", "block")]
    assert found[0].excerpt == "https://www.maison-lumiere.fr/notice.pdf"
    assert text[found[0].start : found[0].end] == found[0].excerpt
    assert "Amazon" in found[0].message


def test_a_bare_domain_is_a_link_too(conversation: Conversation) -> None:
    assert codes(conversation, "Bonjour Jeanne, allez sur maison-lumiere.fr pour la notice.") == {
        "link": "block"
    }


def test_a_carrier_tracking_link_is_allowed(conversation: Conversation, shop: Shop) -> None:
    text = "Bonjour Jeanne, suivi : https://www.laposte.fr/outils/suivre-vos-envois?code=6A1."
    assert codes(conversation, text) == {}


def test_the_order_own_tracking_link_is_allowed(
    conversation: Conversation, shop: Shop, channel: Channel
) -> None:
    order = Order.objects.create(
        shop=shop, channel=channel, external_id="X1", tracking_url="https://track.example.net/1"
    )
    Conversation.objects.filter(pk=conversation.pk).update(order=order)
    conversation.refresh_from_db()
    assert codes(conversation, "Bonjour Jeanne, https://track.example.net/1 merci.") == {}


@pytest.mark.parametrize(
    ("language", "text", "phone"),
    [
        ("fr", "Bonjour Jeanne, appelez-nous au 01 23 45 67 89 demain.", "01 23 45 67 89"),
        ("fr", "Bonjour Jeanne, appelez le +33 6 12 34 56 78.", "+33 6 12 34 56 78"),
        ("de", "Hallo Jeanne, rufen Sie uns an: 030 1234567.", "030 1234567"),
        ("de", "Hallo Jeanne, Telefon +49 30 12345678.", "+49 30 12345678"),
        ("es", "Hola Jeanne, llámenos al 612 345 678.", "612 345 678"),
        ("it", "Buongiorno Jeanne, ci chiami al 333 123 4567.", "333 123 4567"),
        ("en", "Hello Jeanne, call us on 0044 20 7946 0958.", "0044 20 7946 0958"),
    ],
)
def test_a_phone_number_is_caught_where_forbidden(
    conversation: Conversation, language: str, text: str, phone: str
) -> None:
    found = results(in_language(conversation, language), text)
    assert [(r.code, r.excerpt) for r in found] == [("phone", phone)]


def test_order_and_tracking_numbers_and_dates_are_not_phone_numbers(
    conversation: Conversation,
) -> None:
    text = (
        "Bonjour Jeanne, la commande 402-1111111-2222222 (colis 6A12345678901, DPD "
        "09876543210123) est partie le 12.05.2026 pour 129,90 €."
    )
    assert codes(conversation, text) == {}


def test_an_email_address_is_caught_on_a_mirakl_operator(
    conversation: Conversation, channel: Channel
) -> None:
    Channel.objects.filter(pk=channel.pk).update(kind="mirakl", marketplace="darty")
    conversation.refresh_from_db()
    conversation.channel.refresh_from_db()
    found = results(conversation, "Bonjour Jeanne, écrivez à sav@maison-lumiere.fr merci.")
    assert [(r.code, r.level, r.excerpt) for r in found] == [
        ("email", "block", "sav@maison-lumiere.fr")
    ]


def test_contacts_are_allowed_on_the_shop_own_email(
    conversation: Conversation, channel: Channel
) -> None:
    Channel.objects.filter(pk=channel.pk).update(kind="email", marketplace="shop")
    conversation.channel.refresh_from_db()
    text = "Bonjour Jeanne, sav@maison-lumiere.fr, 01 23 45 67 89, https://maison-lumiere.fr/a"
    assert codes(conversation, text) == {}


@pytest.mark.parametrize(
    ("language", "text", "words"),
    [
        ("fr", "Bonjour Jeanne, profitez du code promo ETE20 !", "code promo"),
        ("fr", "Bonjour Jeanne, tout le magasin à -20 % ce week-end.", "-20 %"),
        ("en", "Hello Jeanne, please leave us a review with five stars.", "leave us a review"),
        ("de", "Hallo Jeanne, hier ist ein Gutschein für Sie.", "Gutschein"),
        ("es", "Hola Jeanne, síguenos en las redes.", "síguenos"),
        ("it", "Buongiorno Jeanne, ecco un codice sconto per lei.", "codice sconto"),
    ],
)
def test_marketing_wording_is_flagged(
    conversation: Conversation, language: str, text: str, words: str
) -> None:
    found = [r for r in results(in_language(conversation, language), text) if r.code == "marketing"]
    assert found
    assert found[0].level == "warn"
    assert found[0].excerpt == words


@pytest.mark.parametrize(
    ("language", "text"),
    [
        ("fr", "Bonjour,\nVotre colis est parti hier."),
        ("en", "Hello,\nYour parcel left yesterday."),
        ("de", "Hallo,\nIhr Paket wurde gestern verschickt."),
    ],
)
def test_a_greeting_without_the_buyer_name_warns(
    conversation: Conversation, language: str, text: str
) -> None:
    found = results(in_language(conversation, language), text)
    assert [(r.code, r.level) for r in found] == [("greeting", "warn")]
    assert "Jeanne Martin" in found[0].message


def test_the_greeting_takes_the_surname_and_ignores_accents(conversation: Conversation) -> None:
    assert codes(conversation, "Bonjour Madame MARTIN,\nVotre colis est parti hier.") == {}


def test_no_greeting_check_when_the_name_is_unknown(conversation: Conversation) -> None:
    conversation.customer.name = ""
    conversation.customer.save()
    conversation.refresh_from_db()
    assert codes(conversation, "Bonjour,\nVotre colis est parti hier.") == {}


@pytest.mark.parametrize(
    ("language", "text", "word"),
    [
        ("fr", "Bonjour Jeanne,\nVotre colis est parrti hier.", "parrti"),
        ("en", "Hello Jeanne,\nYour parcel has been shiped.", "shiped"),
        ("de", "Hallo Jeanne,\nIhr Paket wurde gestern verschikt.", "verschikt"),
        ("es", "Hola Jeanne,\nSu paquete llegará manana por la tardde.", "tardde"),
        ("it", "Buongiorno Jeanne,\nIl suo pacco è partitto ieri.", "partitto"),
    ],
)
def test_spelling_mistakes_are_found_per_language(
    conversation: Conversation, language: str, text: str, word: str
) -> None:
    found = [r for r in results(in_language(conversation, language), text) if r.code == "spelling"]
    assert word in [r.excerpt for r in found]
    assert all(r.level == "warn" for r in found)


def test_spelling_ignores_names_order_numbers_and_links(
    conversation: Conversation, agent: User
) -> None:
    Channel.objects.filter(pk=conversation.channel_id).update(marketplace="shop", kind="email")
    conversation.channel.refresh_from_db()
    text = (
        "Bonjour Jeanne Martin,\nLa commande 402-1111111-2222222 part avec Colissimo : "
        "https://www.laposte.fr/suivi?code=6A1XQZ. Maison Lumière, Marie"
    )
    assert [r for r in results(conversation, text, actor=agent) if r.code == "spelling"] == []


def test_an_empty_answer_is_blocked(conversation: Conversation) -> None:
    assert codes(conversation, "   \n") == {"empty": "block"}


def test_a_copy_of_the_buyer_message_or_an_earlier_reply_warns(
    conversation: Conversation, agent: User
) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(customer=None)
    conversation.refresh_from_db()
    buyer = Message.objects.get(conversation=conversation, direction=Direction.IN).text
    assert [r.message for r in results(conversation, "  " + buyer.upper())] == [
        "The answer repeats the buyer's own message."
    ]
    text = GOOD["fr"]
    actions.reply(conversation, actor=agent, text=text)
    found = results(conversation, text)
    assert [(r.code, r.level) for r in found] == [("copy", "warn")]
    assert "already sent" in found[0].message


def test_attachment_limits_follow_the_marketplace(
    conversation: Conversation, channel: Channel
) -> None:
    pdf = NewAttachment("facture.pdf", "application/pdf", b"%PDF" + b"x" * 100)
    exe = NewAttachment("setup.exe", "application/octet-stream", b"MZ")
    big = NewAttachment("photo.jpg", "image/jpeg", b"x" * (8 * 1024 * 1024))
    text = GOOD["fr"]
    assert codes(conversation, text, attachments=(pdf,)) == {}
    found = results(conversation, text, attachments=(pdf, exe, big))
    assert {r.level for r in found} == {"warn"}  # the connectors refuse at send time
    messages = [r.message for r in found if r.code == "attachments"]
    assert any("setup.exe" in m for m in messages)
    assert any("photo.jpg is too large" in m for m in messages)
    Channel.objects.filter(pk=channel.pk).update(marketplace="cdiscount")
    conversation.channel.refresh_from_db()
    four = tuple(NewAttachment(f"p{i}.pdf", "application/pdf", b"x") for i in range(4))
    found = results(conversation, text, attachments=four)
    assert any("at most 3 files" in r.message for r in found)


def test_levels_default_per_marketplace_then_setting_then_channel_setting(
    conversation: Conversation, shop: Shop
) -> None:
    amazon = conversation.channel
    own = Channel.objects.create(shop=shop, kind="email", marketplace="shop", name="Mail")
    assert levels_for(amazon)["link"] == "block"
    assert levels_for(own)["link"] == "off"
    assert levels_for(own)["marketing"] == "off"
    set_check_level("link", level=CheckLevel.WARN)
    assert levels_for(amazon)["link"] == "warn"
    assert levels_for(own)["link"] == "warn"
    set_check_level("link", level=CheckLevel.OFF, channel=amazon)
    assert levels_for(amazon)["link"] == "off"
    assert levels_for(own)["link"] == "warn"
    set_check_level("link", level=None, channel=amazon)
    assert levels_for(amazon)["link"] == "warn"
    set_check_level("greeting", level=CheckLevel.BLOCK)
    assert codes(conversation, "Bonjour,\nVotre colis est parti.") == {"greeting": "block"}


def test_a_reply_is_refused_on_a_blocking_check_and_nothing_is_stored(
    conversation: Conversation, agent: User
) -> None:
    before = Message.objects.count()
    with pytest.raises(ReplyRefused) as caught:
        actions.reply(
            conversation, actor=agent, text="Bonjour Jeanne, voir https://bit.ly/abc merci"
        )
    assert [r.code for r in caught.value.results] == ["link"]
    assert "https://bit.ly/abc" in caught.value.messages[0]
    assert Message.objects.count() == before
    conversation.refresh_from_db()
    assert conversation.needs_reply


def test_warnings_do_not_block_and_are_returned(conversation: Conversation, agent: User) -> None:
    warnings: list[actions.CheckResultLike] = []
    message = actions.reply(
        conversation, actor=agent, text="Bonjour,\nVotre colis est parti hier.", warnings=warnings
    )
    assert message.pk
    assert [w.code for w in warnings] == ["greeting"]


def test_an_automatic_reply_is_refused_on_a_blocking_check_too(
    conversation: Conversation,
) -> None:
    template = save_template(
        None,
        name="Bad",
        shop=None,
        versions={"fr": ("", "Bonjour {{ customer_first_name }}, appelez le 01 23 45 67 89.")},
    )
    rendered = render_template(template, conversation)
    with pytest.raises(ReplyRefused, match="phone"):
        actions.reply(conversation, actor=None, text=rendered.text, is_auto=True)


def test_a_template_use_is_counted_when_its_reply_is_sent(
    conversation: Conversation, agent: User
) -> None:
    template = save_template(
        None, name="Where", shop=None, versions={"fr": ("", "Bonjour {{ customer_name }},")}
    )
    assert (template.usage_count, template.last_used_at) == (0, None)
    text = render_template(template, conversation).text + "\nVotre colis est parti."
    actions.reply(conversation, actor=agent, text=text, template_id=template.pk)
    template.refresh_from_db()
    assert template.usage_count == 1
    assert template.last_used_at is not None
    # A refused reply counts nothing.
    with pytest.raises(ReplyRefused):
        actions.reply(
            conversation, actor=agent, text="Bonjour Jeanne www.x.com", template_id=template.pk
        )
    assert Template.objects.get(pk=template.pk).usage_count == 1
    # A reply typed by hand counts nothing either.
    actions.reply(conversation, actor=agent, text="Bonjour Jeanne, autre chose ?")
    assert Template.objects.get(pk=template.pk).usage_count == 1
