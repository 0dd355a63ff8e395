"""The demo's knowledge base: published articles in French and English for each shop, one
linked to the return template, a draft from the largest FAQ-mining cluster, and some public
views and "did this answer your question?" answers, so that the pages show figures."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from comptoir.accounts.models import User
from comptoir.automation.models import Template
from comptoir.faq.models import Cluster
from comptoir.inbox.models import Conversation, Shop
from comptoir.knowledge import actions
from comptoir.knowledge.actions import VersionInput
from comptoir.knowledge.models import Article

# theme → ((French question, answer), (English question, answer))
ARTICLES: tuple[tuple[str, tuple[str, str], tuple[str, str]], ...] = (
    (
        "delivery",
        (
            "Quand vais-je recevoir ma commande ?",
            "Nous expédions les commandes sous 48 heures ouvrées. La livraison prend ensuite "
            "2 à 4 jours ouvrés en France métropolitaine. Dès l'expédition, vous recevez le "
            "numéro de suivi du transporteur dans votre espace client de la place de marché.",
        ),
        (
            "When will my order arrive?",
            "We ship orders within 48 working hours. Delivery then takes 2 to 4 working days "
            "in mainland France. Once shipped, the carrier's tracking number is in your "
            "account on the marketplace.",
        ),
    ),
    (
        "delivery",
        (
            "Mon suivi n'avance plus, que faire ?",
            "Un suivi peut rester immobile un ou deux jours pendant le transport. Au-delà de "
            "trois jours ouvrés sans nouvelle étape, écrivez-nous depuis la page de votre "
            "commande : nous ouvrons une enquête auprès du transporteur.",
        ),
        (
            "My tracking has stopped moving: what should I do?",
            "Tracking can stay still for a day or two in transit. After three working days "
            "without a new step, write to us from your order page: we open an inquiry with "
            "the carrier.",
        ),
    ),
    (
        "payment",
        (
            "Quels moyens de paiement acceptez-vous ?",
            "Le paiement se fait sur la place de marché où vous avez commandé : carte "
            "bancaire, PayPal ou paiement en plusieurs fois selon ses conditions. Nous ne "
            "recevons jamais vos coordonnées bancaires.",
        ),
        (
            "Which payment methods do you accept?",
            "You pay on the marketplace where you ordered: card, PayPal or instalments, on "
            "its terms. We never see your card details.",
        ),
    ),
    (
        "returns",
        (
            "Comment retourner un article ?",
            "Vous avez 30 jours après la livraison pour nous retourner un article, dans son "
            "emballage d'origine. Demandez le retour depuis la page de votre commande : "
            "l'étiquette vous est envoyée, et le remboursement part dès réception du colis.",
        ),
        (
            "How do I return an item?",
            "You have 30 days after delivery to return an item, in its original packaging. "
            "Ask for the return from your order page: we send the label, and the refund "
            "leaves as soon as the parcel reaches us.",
        ),
    ),
    (
        "product",
        (
            "Mon luminaire est-il compatible avec une ampoule LED ?",
            "Oui : tous nos luminaires acceptent les ampoules LED du culot indiqué sur la "
            "fiche produit (E27 ou E14). Pour un variateur, choisissez une ampoule dite "
            "« dimmable ».",
        ),
        (
            "Can I use an LED bulb in my lamp?",
            "Yes: every lamp we sell takes LED bulbs with the base shown on the product page "
            "(E27 or E14). With a dimmer, choose a bulb marked dimmable.",
        ),
    ),
    (
        "account",
        (
            "Comment obtenir ma facture ?",
            "La facture est disponible dans votre espace client de la place de marché, sur la "
            "page de la commande, dès l'expédition.",
        ),
        (
            "How do I get my invoice?",
            "The invoice is in your account on the marketplace, on the order's page, as soon "
            "as the order ships.",
        ),
    ),
)


def _publish(shop: Shop, author: User, now: datetime) -> list[Article]:
    returns = Template.objects.filter(shortcut="return").first()
    made = []
    for theme, fr, en in ARTICLES:
        article = actions.save_article(
            None,
            actor=author,
            shop=shop,
            theme=theme,
            template=returns if theme == "returns" else None,
            versions={"fr": VersionInput(*fr), "en": VersionInput(*en)},
        )
        actions.set_published(article, actor=author, published=True)
        actions.mark_reviewed(article, actor=author)
        made.append(article)
    # One left unreviewed for a long time: the list flags it.
    Article.objects.filter(pk=made[-1].pk).update(
        reviewed_at=None, created_at=now - timedelta(days=400)
    )
    return made


def _visits(shop: Shop, articles: list[Article], rng: random.Random, now: datetime) -> None:
    # A third of the visitors came from a link in a reply: their buyer is known.
    buyers = list(
        Conversation.objects.filter(shop=shop)
        .order_by("pk")
        .values_list("customer__email", "order_number")[:200]
    )
    for n in range(rng.randint(40, 80)):
        article = rng.choice(articles)
        visitor = f"demo{shop.pk}v{n:04d}".ljust(16, "0")
        at = now - timedelta(days=rng.uniform(0, 28))
        email, order = rng.choice(buyers) if buyers and rng.random() < 0.35 else ("", "")
        actions.record_view(
            article,
            shop=shop,
            visitor=visitor,
            language="fr",
            email=email or "",
            order_number=order,
            at=at,
        )
        if rng.random() < 0.4:
            actions.record_feedback(article, visitor=visitor, helpful=rng.random() < 0.75)


def seed(author: User, *, now: datetime, seed: int) -> str:
    """Every shop's articles, a draft from the largest FAQ cluster; a line for the log."""
    rng = random.Random(seed)
    count = 0
    for shop in Shop.objects.order_by("pk"):
        articles = _publish(shop, author, now)
        _visits(shop, articles, rng, now)
        count += len(articles)
    cluster = Cluster.objects.order_by("-run__started_at", "-size", "pk").first()
    if cluster is not None:
        actions.draft_from_cluster(cluster, actor=author)
    return f"knowledge base: {count} published articles in French and English (/help/<shop>/)"
