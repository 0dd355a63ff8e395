"""FAQ mining: paraphrases grouped, topics apart, the command, the page, the drafted template."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone, translation

from comptoir.accounts.models import Role, User
from comptoir.automation.models import Template
from comptoir.faq import actions, mining
from comptoir.faq.models import Cluster
from comptoir.inbox.models import Channel, Conversation, Direction, Event, EventKind, Message, Shop

NOW = timezone.now()

TRACKING_FR = [
    "Bonjour, où est mon colis ? Je n'ai pas de numéro de suivi",
    "Bonjour ou est mon colis, pas de numero de suivi svp",
    "Où en est mon colis ? Pouvez-vous me donner le numéro de suivi",
    "Bonjour, je voudrais le numéro de suivi de mon colis",
    "Où est mon colis svp, numéro de suivi ?",
    "où est mon colis ? merci de m'envoyer le numero de suivi",
]
INVOICE_FR = [
    "Bonjour, pouvez-vous m'envoyer la facture de ma commande",
    "Je voudrais recevoir une facture pour ma commande svp",
    "Pourriez vous m'envoyer la facture de la commande ?",
    "Bonjour, j'ai besoin de la facture de ma commande",
    "Envoyez moi la facture de ma commande merci",
]
TRACKING_EN = [
    "Hello, where is my parcel? I have no tracking number",
    "Where is my parcel, can you send the tracking number",
    "Hi where is my parcel, no tracking number yet",
    "Could you give me the tracking number of my parcel",
    "where is my parcel?? tracking number please",
]
SIZE_EN = [
    "Is this jacket true to size or should I order a size up",
    "Does the jacket run small? Which size should I order",
    "What size should I order for this jacket, I am usually a medium",
    "Is the jacket true to size?",
    "Jacket size question: does it fit true to size",
]
ODD = [
    ("fr", "order_tracking", "Le livreur a laissé le carton chez la voisine du dessus"),
    ("en", "product_question", "Is the battery replaceable by the user"),
    ("fr", "invoice", "Mon entreprise a changé d'adresse postale depuis"),
    ("en", "order_tracking", "The courier left it with my neighbour downstairs"),
]


def _questions() -> list[mining.Question]:
    groups = [
        ("fr", "order_tracking", TRACKING_FR),
        ("fr", "invoice", INVOICE_FR),
        ("en", "order_tracking", TRACKING_EN),
        ("en", "product_question", SIZE_EN),
    ]
    rows = [(lang, intent, t) for lang, intent, texts in groups for t in texts] + ODD
    return [
        mining.Question(i, i, lang, intent, text, "amazon", NOW - timedelta(days=i))
        for i, (lang, intent, text) in enumerate(rows, start=1)
    ]


def test_paraphrases_cluster_together_and_topics_apart() -> None:
    asked = _questions()
    assert len(asked) == 21 + 4
    found = mining.cluster(asked, NOW)
    texts = [{q.text for q in f.members} for f in found]
    for group in (TRACKING_FR, INVOICE_FR, TRACKING_EN, SIZE_EN):
        assert set(group) in texts, group
    assert len(found) == 4  # the odd messages stay alone, and alone is not a frequent question
    tracking = next(f for f in found if f.language == "fr" and f.intent == "order_tracking")
    assert "suivi" in tracking.terms
    assert "colis" in tracking.terms
    assert tracking.marketplaces == {"amazon": 6}
    assert len(tracking.examples) == 5
    assert tracking.recent == 6
    assert tracking.previous == 0


def test_closing_and_other_messages_are_not_questions() -> None:
    thanks = [
        mining.Question(i, i, "en", "thanks_or_closing", "Thanks a lot, got it", "amazon", NOW)
        for i in range(5)
    ]
    assert mining.cluster(thanks, NOW) == []


def test_the_trend_counts_the_last_30_days_against_the_30_before() -> None:
    asked = [
        mining.Question(i, i, "en", "invoice", "please send the invoice", "ebay", NOW - age)
        for i, age in enumerate([timedelta(days=d) for d in (1, 2, 3, 4, 40)])
    ]
    (found,) = mining.cluster(asked, NOW)
    assert (found.recent, found.previous) == (4, 1)
    assert Cluster(recent=4, previous=1).trend == "up"
    assert Cluster(recent=1, previous=4).trend == "down"
    assert Cluster(recent=3, previous=3).trend == "flat"


# -- stored runs, the command, the page -------------------------------------------------------


@pytest.fixture
def ebay(shop: Shop, team: object) -> Channel:
    return Channel.objects.create(shop=shop, kind="api", marketplace="ebay", name="eBay", team=team)


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("ada", "ada@example.com", "pw", role=Role.ADMIN)


REPLY = "Bonjour, votre colis est en route : voici le suivi {{ tracking }}."


def _ask(channel: Channel, text: str, intent: str, reply: str = "", days: int = 1) -> Message:
    at = NOW - timedelta(days=days)
    conv = Conversation.objects.create(shop=channel.shop, channel=channel, subject="?")
    asked = Message.objects.create(
        conversation=conv,
        channel=channel,
        direction=Direction.IN,
        text=text,
        new_text=text,
        language="fr",
        intent=intent,
        received_at=at,
        created_at=at,
    )
    if reply:
        Message.objects.create(
            conversation=conv,
            channel=channel,
            direction=Direction.OUT,
            text=reply,
            received_at=at + timedelta(hours=1),
            created_at=at + timedelta(hours=1),
        )
    return asked


@pytest.fixture
def mined(channel: Channel, ebay: Channel) -> Cluster:
    """Two clusters: tracking (answered by agents, no template) and invoices (a template)."""
    for i, text in enumerate(TRACKING_FR):
        reply = REPLY.replace("{{ tracking }}", f"XY{i}") if i < 4 else "Il arrive demain."
        _ask(channel if i % 2 else ebay, text, "order_tracking", reply)
    template = Template.objects.create(name="Facture")
    for text in INVOICE_FR:
        conv = _ask(channel, text, "invoice", "Voici la facture.").conversation
        Event.objects.create(
            conversation=conv, kind=EventKind.REPLIED, data={"template_id": template.pk}
        )
    _ask(channel, "Merci beaucoup !", "thanks_or_closing")
    actions.mine(NOW - timedelta(days=90))
    return Cluster.objects.get(intent="order_tracking")


def test_a_run_stores_clusters_with_the_template_agents_used(mined: Cluster) -> None:
    invoice = Cluster.objects.get(intent="invoice")
    assert invoice.template is not None
    assert invoice.template.name == "Facture"
    assert mined.template is None
    assert mined.size == 6
    assert mined.marketplaces == {"amazon": 3, "ebay": 3}


def test_the_command_prints_the_clusters(channel: Channel, ebay: Channel) -> None:
    for text in TRACKING_FR:
        _ask(channel, text, "order_tracking")
    out = StringIO()
    call_command("faq", "mine", "--since", "90d", stdout=out)
    printed = out.getvalue()
    assert "6 buyer messages" in printed
    assert "1 clusters" in printed
    assert "     6 ↑ [fr] Order tracking: " in printed
    assert "no template yet" in printed


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_page_lists_and_filters_the_clusters(mined: Cluster, supervisor: User) -> None:
    client = _client(supervisor)
    page = client.get("/faq/").content.decode()
    assert f"cluster-{mined.pk}" in page
    assert "No template yet" in page
    assert "Facture" in page
    only_invoices = client.get("/faq/?intent=invoice").content.decode()
    assert f"cluster-{mined.pk}" not in only_invoices
    assert "Facture" in only_invoices
    on_ebay = client.get("/faq/?marketplace=ebay").content.decode()
    assert f"cluster-{mined.pk}" in on_ebay
    assert "Facture" not in on_ebay
    assert f"cluster-{mined.pk}" not in client.get("/faq/?language=en").content.decode()


def test_the_detail_shows_the_messages_and_the_replies(mined: Cluster, analyst: User) -> None:
    page = _client(analyst).get(f"/faq/{mined.pk}/").content.decode()
    first = Message.objects.get(pk=mined.examples[0])
    assert f"/inbox/c/{first.conversation_id}/" in page
    assert "voici le suivi XY" in page
    assert "Draft a template" not in page  # analysts read only


def test_drafting_makes_an_inactive_template_of_the_usual_reply(
    mined: Cluster, admin: User
) -> None:
    response = _client(admin).post(f"/faq/{mined.pk}/draft")
    template = Template.objects.exclude(name="Facture").get()
    assert response.status_code == 302
    assert response["Location"] == f"/settings/templates/{template.pk}/"
    assert not template.is_active
    assert template.name == mined.label
    assert template.category == "order_tracking"
    (version,) = template.versions.all()
    assert version.language == "fr"
    assert version.body.startswith("Bonjour, votre colis est en route : voici le suivi XY")


def test_who_may_see_and_draft(mined: Cluster, agent: User, supervisor: User) -> None:
    assert _client(agent).get("/faq/").status_code == 403
    assert _client(agent).get(f"/faq/{mined.pk}/").status_code == 403
    assert _client(supervisor).get("/faq/999999/").status_code == 404
    assert _client(supervisor).post(f"/faq/{mined.pk}/draft").status_code == 403
    assert not Template.objects.exclude(name="Facture").exists()


def test_the_page_speaks_french(mined: Cluster, admin: User) -> None:
    admin.language = "fr"
    admin.save()
    with translation.override("en"):  # the user's language must not outlive the request
        page = _client(admin).get(f"/faq/{mined.pk}/").content.decode()
    assert "Préparer un modèle" in page
    assert "Pas encore de modèle" in page
    assert "Questions fréquentes" in page


def test_the_weekly_mining_is_registered_and_stores_a_run(db: None) -> None:
    from datetime import timedelta

    from comptoir.faq import tasks as faq_tasks
    from comptoir.faq.models import MiningRun
    from comptoir.jobs.periodic import REGISTRY

    job = REGISTRY["faq.mine"]
    assert (job.task, job.every) == (faq_tasks.mine_weekly, timedelta(days=7))
    assert faq_tasks.mine_weekly.call() == "0 questions, 0 clusters"
    assert MiningRun.objects.count() == 1
