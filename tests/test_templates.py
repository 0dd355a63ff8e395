"""Templates: sandboxed rendering from a conversation, language fallback, missing variables,
usage counts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from comptoir.accounts.models import User
from comptoir.automation.models import Template, TemplateVersion
from comptoir.automation.templating import (
    VARIABLE_NAMES,
    MissingVariables,
    TemplateRenderError,
    build_context,
    render_template,
)
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.orders.models import Order


@pytest.fixture
def conversation(
    make_inbound: Callable[..., InboundMessage], channel: Channel, shop: Shop
) -> Conversation:
    result = ingest(make_inbound(order_number="402-1111111-2222222"))
    conv = Conversation.objects.select_related("shop", "channel", "customer", "order").get(
        pk=result.conversation_id
    )
    order = Order.objects.create(
        shop=shop,
        channel=channel,
        external_id="402-1111111-2222222",
        items=[{"sku": "LAMP-1", "title": "Lampe Arc", "quantity": 2}],
        carrier="Colissimo",
        tracking_number="6A123",
        tracking_url="https://www.laposte.fr/outils/suivre-vos-envois?code=6A123",
        expected_delivery_at=datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
    )
    Conversation.objects.filter(pk=conv.pk).update(order=order, language="fr")
    conv.refresh_from_db()
    return conv


def make_template(shop: Shop | None = None, **versions: tuple[str, str]) -> Template:
    template = Template.objects.create(shop=shop, name="Where is my order", shortcut="where")
    for language, (subject, body) in versions.items():
        TemplateVersion.objects.create(
            template=template, language=language, subject=subject, body=body
        )
    return template


def test_a_template_is_rendered_with_the_conversation_values(
    conversation: Conversation, agent: User
) -> None:
    template = make_template(
        fr=(
            "Votre commande {{ order_number }}",
            "Bonjour {{ customer_first_name }},\n"
            "{% for item in order_items %}{{ item.quantity }} x {{ item.title }}\n{% endfor %}"
            "Suivi {{ carrier }} {{ tracking_number }} : {{ tracking_link }}, "
            "livraison prévue le {{ expected_delivery }}.\n{{ agent_first_name }}, {{ shop_name }}"
            " sur {{ marketplace }}",
        )
    )
    rendered = render_template(template, conversation, agent=agent)
    assert rendered.subject == "Votre commande 402-1111111-2222222"
    assert rendered.language == "fr"
    assert rendered.text.startswith("Bonjour Jeanne,\n2 x Lampe Arc\n")
    assert "Colissimo 6A123 : https://www.laposte.fr/" in rendered.text
    assert "livraison prévue le 24 novembre 2026" in rendered.text
    assert rendered.text.endswith("Marie, Maison Lumière sur Amazon")
    assert rendered.missing == []


def test_the_context_holds_plain_values_only(conversation: Conversation, agent: User) -> None:
    context = build_context(conversation, agent=agent)
    assert set(context) <= VARIABLE_NAMES

    def plain(value: object) -> bool:
        if isinstance(value, list):
            return all(plain(v) for v in value)
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        return isinstance(value, str | int)

    assert all(plain(v) for v in context.values())


@pytest.mark.parametrize(
    "source",
    [
        "{{ customer_name.__class__ }}",
        "{{ conversation.__class__ }}",
        "{{ conversation.shop.channels }}",
        "{{ customer_name.__class__.__mro__[1].__subclasses__() }}",
        "{{ order_items.__class__.__base__ }}",
        "{{ (order_items|first).__class__ }}",
        "{{ order_items[0].__class__.__init__.__globals__ }}",
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ self._TemplateReference__context }}",
        "{{ lipsum.__globals__ }}",
        "{{ order_items.append(1) }}",
        "{{ order_items[0].update({'title': 'x'}) }}",
        "{{ customer_name.format.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_to_reach_internals(
    conversation: Conversation, agent: User, source: str
) -> None:
    template = make_template(fr=("", source))
    with pytest.raises(TemplateRenderError) as caught:
        render_template(template, conversation, agent=agent)
    assert "class" not in caught.value.messages[0] or "not allowed" in caught.value.messages[0]


def test_the_sandbox_output_never_shows_an_internal_object(
    conversation: Conversation, agent: User
) -> None:
    # Whatever the template does, the text carries no Python repr of an internal object.
    source = "{{ order_items }}{{ order_items|map(attribute='sku')|list }}"
    rendered = render_template(make_template(fr=("", source)), conversation, agent=agent)
    assert "<" not in rendered.text
    assert "object at" not in rendered.text


def test_the_version_follows_the_conversation_language_then_the_shop_then_any(
    conversation: Conversation, shop: Shop
) -> None:
    template = make_template(en=("", "Hello"), de=("", "Hallo"))
    Conversation.objects.filter(pk=conversation.pk).update(language="de")
    conversation.refresh_from_db()
    assert render_template(template, conversation).text == "Hallo"
    # Italian is not there: the shop's language (English) is used.
    Conversation.objects.filter(pk=conversation.pk).update(language="it")
    Shop.objects.filter(pk=shop.pk).update(language="en")
    conversation.refresh_from_db()
    assert render_template(template, conversation).language == "en"
    # Neither: any version, the first one made.
    Shop.objects.filter(pk=shop.pk).update(language="es")
    conversation.refresh_from_db()
    assert render_template(template, conversation).text == "Hello"
    # An explicit language wins.
    assert render_template(template, conversation, language="de-CH").text == "Hallo"


def test_a_missing_variable_blocks_with_its_name(conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(order=None, order_number="")
    conversation.refresh_from_db()
    template = make_template(fr=("", "Bonjour {{ customer_name }}, suivi : {{ tracking_number }}"))
    with pytest.raises(MissingVariables) as caught:
        render_template(template, conversation)
    assert caught.value.missing == ["tracking_number"]
    assert "tracking_number" in caught.value.messages[0]
    preview = render_template(template, conversation, strict=False)
    assert preview.missing == ["tracking_number"]
    assert preview.text == "Bonjour Jeanne Martin, suivi : [tracking_number]"
    # A value the agent typed fills it.
    filled = render_template(template, conversation, values={"tracking_number": "XY1"})
    assert filled.text.endswith("suivi : XY1")


def test_no_greeting_without_a_name(conversation: Conversation) -> None:
    conversation.customer.name = ""
    conversation.customer.save()
    conversation.refresh_from_db()
    template = make_template(fr=("", "Dear {{ customer_name }},"))
    with pytest.raises(MissingVariables, match="customer_name"):
        render_template(template, conversation)


def test_a_condition_on_a_missing_variable_is_allowed(conversation: Conversation) -> None:
    conversation.customer.name = ""
    conversation.customer.save()
    conversation.refresh_from_db()
    template = make_template(
        fr=("", "Bonjour{% if customer_name %} {{ customer_name }}{% endif %},")
    )
    assert render_template(template, conversation).text == "Bonjour,"


def test_an_unknown_variable_is_named_as_unknown(conversation: Conversation) -> None:
    template = make_template(fr=("", "{{ custmer_name }}"))
    with pytest.raises(MissingVariables, match="unknown variable: custmer_name"):
        render_template(template, conversation)


def test_a_broken_template_is_reported(conversation: Conversation) -> None:
    template = make_template(fr=("", "{% if %}"))
    with pytest.raises(TemplateRenderError, match="error"):
        render_template(template, conversation)


def test_reply_by_is_written_in_the_shop_timezone(conversation: Conversation) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(
        respond_by=datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    )
    conversation.refresh_from_db()
    template = make_template(
        fr=("", "Réponse avant le {{ reply_by }}"), en=("", "By {{ reply_by }}")
    )
    assert render_template(template, conversation).text == (
        "Réponse avant le mardi 24 novembre 2026, 09:30"
    )
    assert "09:30" in render_template(template, conversation, language="en").text


@pytest.mark.parametrize("language", ["fr", "en", "de", "es", "it"])
def test_the_demo_templates_render_and_pass_the_checks_in_five_languages(
    conversation: Conversation, agent: User, language: str
) -> None:
    from comptoir.automation.checks import run_checks
    from comptoir.demo.templates import load_templates
    from comptoir.inbox.actions import Draft

    Conversation.objects.filter(pk=conversation.pk).update(
        respond_by=datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
    )
    conversation.refresh_from_db()
    templates = load_templates()
    assert {t.shortcut for t in templates} == {"where", "damaged", "return", "ack", "thanks"}
    for template in templates:
        rendered = render_template(template, conversation, agent=agent, language=language)
        assert rendered.language == language
        assert "Jeanne Martin" in rendered.text
        found = run_checks(Draft(conversation, rendered.text, actor=agent))
        if language == "es":
            # pyspellchecker's Spanish list lacks most conjugated forms (tiene, recibido):
            # Spanish spelling warns too often to be asserted on.
            found = [r for r in found if r.code != "spelling"]
        assert [(r.code, r.excerpt) for r in found] == [], template.shortcut
    ack = next(t for t in templates if t.shortcut == "ack")
    assert "09:30" in render_template(ack, conversation, language=language).text


# -- pages --------------------------------------------------------------------------------------


def test_the_picker_and_shortcut_serve_only_visible_conversations(
    client: Client, conversation: Conversation, agent: User, outsider: User
) -> None:
    from comptoir.demo.templates import load_templates

    load_templates()
    client.force_login(agent)
    page = client.get(f"/automation/c/{conversation.pk}/templates", {"q": "damaged"})
    assert page.status_code == 200
    assert b"Damaged item" in page.content
    assert b"Return request" not in page.content
    expanded = client.get(f"/automation/c/{conversation.pk}/expand", {"shortcut": "where"}).json()
    assert expanded["missing"] == []
    assert "402-1111111-2222222" in expanded["text"]
    assert expanded["text"].startswith("Bonjour Jeanne Martin,")
    checked = client.post(
        f"/automation/c/{conversation.pk}/check", {"text": "Bonjour Jeanne, www.pub.com"}
    )
    assert checked["X-Checks-Blocking"] == "1"
    assert b'data-code="link"' in checked.content
    client.force_login(outsider)
    assert client.get(f"/automation/c/{conversation.pk}/templates").status_code == 404
    assert client.get(f"/automation/c/{conversation.pk}/expand?shortcut=where").status_code == 404


def test_the_reply_page_refuses_a_blocked_answer_and_counts_a_template(
    client: Client, conversation: Conversation, agent: User
) -> None:
    template = make_template(fr=("", "Bonjour {{ customer_name }},"))
    client.force_login(agent)
    url = f"/inbox/c/{conversation.pk}/reply"
    refused = client.post(url, {"text": "Bonjour Jeanne, bit.ly/x", "template_id": template.pk})
    assert refused.status_code == 400
    assert "bit.ly/x" in refused.content.decode()
    sent = client.post(url, {"text": "Bonjour Jeanne Martin,", "template_id": template.pk})
    assert sent.status_code == 302
    template.refresh_from_db()
    assert template.usage_count == 1


def test_the_templates_settings_are_for_owners_admins_and_supervisors(
    client: Client, conversation: Conversation, agent: User, supervisor: User
) -> None:
    client.force_login(agent)
    assert client.get("/settings/templates/").status_code == 403
    assert client.get("/settings/checks/").status_code == 403
    client.force_login(supervisor)
    created = client.post(
        "/settings/templates/new",
        {
            "name": "Tracking",
            "shortcut": ";track",
            "is_active": "on",
            "body_fr": "Bonjour {{ customer_name }}, suivi {{ tracking_number }}",
            "body_en": "",
        },
    )
    assert created.status_code == 302
    template = Template.objects.get(shortcut="track")
    assert [v.language for v in template.versions.all()] == ["fr"]
    listing = client.get("/settings/templates/")
    assert b"never used" in listing.content
    assert b";track" in listing.content
    edit = client.get(f"/settings/templates/{template.pk}/")
    assert b"customer_first_name" in edit.content  # the variables are documented
    preview = client.get(
        f"/settings/templates/{template.pk}/preview", {"conversation": conversation.pk}
    )
    assert b"Bonjour Jeanne Martin, suivi 6A123" in preview.content
    broken = client.post(
        f"/settings/templates/{template.pk}/", {"name": "Tracking", "body_fr": "{% if %}"}
    )
    assert broken.status_code == 200
    assert b"fr:" in broken.content
    client.post(
        "/settings/checks/",
        {"level_spelling": "off", f"level_link_{conversation.channel_id}": "warn"},
    )
    from comptoir.automation.checks import levels_for

    levels = levels_for(conversation.channel)
    assert (levels["spelling"], levels["link"]) == ("off", "warn")
    assert b"Spelling" in client.get("/settings/checks/").content


def test_the_picker_query_count_does_not_grow_with_the_templates(
    client: Client, conversation: Conversation, agent: User, django_assert_num_queries: Any
) -> None:
    client.force_login(agent)
    url = f"/automation/c/{conversation.pk}/templates"
    make_template(fr=("", "Bonjour"))
    with django_assert_num_queries(4) as small:  # session, user, conversation, templates
        client.get(url)
    for n in range(30):
        Template.objects.create(name=f"T{n}", shortcut=f"t{n}")
    with django_assert_num_queries(len(small.captured_queries)):
        assert client.get(url).content.count(b"template-choice") == 20


def test_a_shop_own_shortcut_wins_over_the_all_shops_one(
    client: Client, conversation: Conversation, agent: User, shop: Shop
) -> None:
    from comptoir.automation.actions import save_template

    save_template(None, name="All", shop=None, shortcut="hi", versions={"fr": ("", "Tous")})
    own = save_template(None, name="Own", shop=shop, shortcut="hi", versions={"fr": ("", "À nous")})
    other = Shop.objects.create(name="Autre", slug="autre")
    save_template(None, name="Other", shop=other, shortcut="hi", versions={"fr": ("", "Autre")})
    client.force_login(agent)
    answer = client.get(f"/automation/c/{conversation.pk}/expand", {"shortcut": ";hi"}).json()
    assert (answer["template_id"], answer["text"]) == (own.pk, "À nous")
