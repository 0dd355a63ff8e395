"""The template editor: the variables offered are the ones templating fills, with readable
labels, and the text as typed is previewed on the server against a conversation, with the
pre-send checks, before anything is saved."""

from __future__ import annotations

from collections.abc import Callable

from django.test import Client

from comptoir.accounts.models import User
from comptoir.automation.models import Template
from comptoir.automation.templating import VARIABLES, placeholder
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation
from tests.test_templates import conversation  # noqa: F401

PREVIEW = {"X-Fragment": "preview"}


def test_the_picker_offers_every_variable_with_its_label_and_what_it_inserts(
    client: Client, supervisor: User
) -> None:
    client.force_login(supervisor)
    page = client.get("/settings/templates/new").content.decode()
    picker = page[
        page.index('id="variable-picker"') : page.index("</ul>", page.index("variable-picker"))
    ]
    for variable in VARIABLES:
        assert f'data-variable="{variable.name}"' in picker
        assert str(variable.description).replace("'", "&#x27;") in picker
    assert 'data-insert="{{ customer_first_name }}"' in picker
    assert placeholder(VARIABLES[3]).startswith("{% for item in order_items %}")
    french = client.get("/settings/templates/new", headers={"Accept-Language": "fr"})
    assert "Le prénom de l&#x27;acheteur" in french.content.decode()


def test_the_text_as_typed_is_previewed_with_its_checks_and_nothing_is_saved(
    client: Client,
    supervisor: User,
    conversation: Conversation,  # noqa: F811
) -> None:
    client.force_login(supervisor)
    body = (
        "Bonjour {{ customer_first_name }}, colis {{ tracking_number }} chez {{ carrier }}."
        " Voir bit.ly/x"
    )
    fragment = client.post(
        "/settings/templates/new",
        {
            "name": "Suivi",
            "body_fr": body,
            "body_en": "Hello {{ customer_first_name }}",
            "conversation": str(conversation.pk),
            "preview": "1",
        },
        headers=PREVIEW,
    )
    html = fragment.content.decode()
    assert fragment.status_code == 200
    assert "<html" not in html
    assert "Bonjour Jeanne, colis 6A123 chez Colissimo. Voir bit.ly/x" in html
    assert 'data-code="link"' in html  # the pre-send checks ran on the rendered text
    assert not Template.objects.exists()

    english = client.post(
        "/settings/templates/new",
        {
            "body_fr": body,
            "body_en": "Hello {{ customer_first_name }}",
            "editing": "en",
            "conversation": str(conversation.pk),
            "preview": "1",
        },
        headers=PREVIEW,
    )
    assert "Hello Jeanne" in english.content.decode()


def test_a_missing_value_is_named_by_its_label_and_the_preview_works_without_javascript(
    client: Client, supervisor: User, make_inbound: Callable[..., InboundMessage]
) -> None:
    result = ingest(make_inbound(subject="Sans commande"))
    client.force_login(supervisor)
    page = client.post(
        "/settings/templates/new",
        {
            "name": "Suivi",
            "body_fr": "Votre colis : {{ tracking_number }}",
            "conversation": str(result.conversation_id),
            "preview": "1",
        },
    )
    html = page.content.decode()
    assert "<html" in html  # the whole page, the preview in its place
    preview = html[html.index('id="template-preview"') :]
    assert "Votre colis : [tracking_number]" in preview
    assert "This conversation has no value for: The parcel&#x27;s tracking number" in preview
    assert 'name="body_fr"' in html
    assert "Votre colis : {{ tracking_number }}" in html  # the text typed is kept
    assert not Template.objects.exists()
