"""Every page of the web interface, found from the URL conf, and a shop with something on each:
the French-catalogue test and the phone-width browser test visit the same list, so a new page
is checked by both without being named here (its object, if it takes one, may need adding to
OBJECTS)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from comptoir.accounts.models import Role, Team, User
from comptoir.automation.models import Template, TemplateVersion
from comptoir.automation.rules import create_rule
from comptoir.connectors.base import InboundMessage
from comptoir.faq.models import Cluster, MiningRun
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Priority, Shop, Status
from comptoir.knowledge import actions as kb_actions
from comptoir.notifications.models import Notification, ReceivedPayload, TestReceiver, Webhook
from comptoir.orders.models import Order
from comptoir.sla.models import BusinessCalendar

PASSWORD = "pages-pass-42"


def sign_in(page: Any, base: str, username: str, password: str = PASSWORD) -> None:
    """Through the login page, as a person does; on the inbox when it returns."""
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click(".login button[type=submit]")
    page.wait_for_url(f"{base}/inbox/")


# The namespaces (and bare names) of the pages people read; the API, the admin, the buyer's
# survey page and the test receiver have their own tests.
UI_NAMESPACES = (
    "inbox", "settings", "notifications", "faq", "analytics", "automation", "triage", "knowledge"
)  # fmt: skip
UI_NAMES = ("profile", "password_change")

# Which object a page's id names, by the start of its path.
OBJECTS = {
    "inbox/c/": "conversation",
    "settings/templates/": "template",
    "settings/channels/": "channel",
    "settings/shops/": "shop",
    "settings/users/": "user",
    "settings/teams/": "team",
    "settings/sla/channels/": "channel",
    "settings/sla/calendars/": "calendar",
    "settings/rules/": "rule",
    "faq/": "cluster",
    "kb/": "article",
}

# A relay address as the marketplaces write them: one unbroken word wider than a phone.
LONG_RELAY = "7p4kx9w2lqz8m3n5v6b1c0d9f8g7h6j5k4l3m2n1-0123456789abcdef@marketplace.amazon.fr"


def _walk(patterns: list[Any], prefix: str = "", ns: str = "") -> Iterator[tuple[str, str]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            inner = f"{ns}:{p.namespace}" if ns and p.namespace else (p.namespace or ns)
            yield from _walk(p.url_patterns, prefix + str(p.pattern), inner)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), f"{ns}:{p.name}" if ns else (p.name or "")


def candidate_paths(world: dict[str, Any]) -> list[str]:
    """The UI's GET-able paths with their ids filled in (actions answer 405 and are dropped by
    `pages`); a path whose id names no known object is left out."""
    out = []
    for route, name in _walk(get_resolver().url_patterns):
        if not (name.split(":")[0] in UI_NAMESPACES or name in UI_NAMES):
            continue
        if "<" in route:
            if route.count("<") > 1:
                continue
            kind = next((v for k, v in OBJECTS.items() if route.startswith(k)), None)
            if kind is None or kind not in world:
                continue
            route = route[: route.index("<")] + str(world[kind].pk) + route[route.index(">") + 1 :]
        out.append("/" + route)
    return sorted(set(out))


def pages(client: Client, world: dict[str, Any]) -> list[str]:
    """The full HTML pages among the candidates (not fragments, downloads or POST-only)."""
    found = []
    for path in candidate_paths(world):
        response = client.get(path)
        kind = response.get("Content-Type", "")
        if response.streaming:  # the live updates' stream (closing it ends the test's db)
            continue
        if "attachment" in response.get("Content-Disposition", ""):  # a file (the report)
            continue
        full_page = b"<html" in response.content[:200].lower()
        if response.status_code == 200 and kind.startswith("text/html") and full_page:
            found.append(path)
    return found


# Every page the list must keep finding: a change to the URL conf or the world that loses one
# fails here rather than silently checking less.
CORE_PAGES = {
    "/inbox/",
    "/inbox/c/{conversation}/",
    "/notifications/",
    "/profile/",
    "/settings/",
    "/settings/channels/",
    "/settings/notifications/",
    "/settings/rules/",
    "/settings/rules/{rule}/",
    "/settings/rules/new",
    "/settings/sla/",
    "/settings/templates/",
    "/settings/templates/{template}/",
    "/settings/users/",
    "/settings/teams/",
    "/settings/shops/",
    "/settings/inbound/",
    "/settings/triage/",
    "/settings/surveys/",
    "/settings/checks/",
    "/analytics/",
    "/faq/",
}


def core_pages(world: dict[str, Any]) -> set[str]:
    return {p.format(**{k: v.pk for k, v in world.items() if hasattr(v, "pk")}) for p in CORE_PAGES}


@pytest.fixture
def world(shop: Shop, team: Team, channel: Channel, agent: User) -> dict[str, Any]:
    """A small shop with one of each thing a page lists, written in French by French buyers
    (a page's English would then be the interface's own), and an owner who sees every page."""
    owner = User.objects.create_user(
        "sophie", "sophie@example.com", PASSWORD, role=Role.OWNER, first_name="Sophie"
    )
    team.members.add(owner)
    team.name = "Équipe boutiques"  # the shared fixture's "Marketplaces" reads as English
    team.save()
    agent.set_password(PASSWORD)
    agent.save()
    fnac = Channel.objects.create(shop=shop, kind="api", marketplace="fnac", name="Fnac", team=team)
    order = Order.objects.create(
        shop=shop, channel=fnac, external_id="FN-7731", status="shipped",
        tracking_number="6A1234", items=[{"title": "Lampe de chevet", "quantity": 1}],
    )  # fmt: skip

    def inbound(**fields: Any) -> Conversation:
        now = timezone.now()
        sender = {"identity_kind": "email", **fields.pop("sender")}
        message = InboundMessage(
            channel_id=fields.pop("channel_id", channel.pk),
            sender=sender,
            sent_at=now - timedelta(hours=fields.pop("hours_ago", 1)),
            **fields,
        )
        return Conversation.objects.get(pk=ingest(message).conversation_id)

    conv = inbound(
        external_id="m1", thread_id="t1", subject="Colis pas reçu", order_number="FN-7731",
        channel_id=fnac.pk, hours_ago=30,
        text="Bonjour, mon colis n'est toujours pas arrivé. Pouvez-vous vérifier ?",
        sender={"identity_value": LONG_RELAY, "name": "Laurent Laurent - Amazon",
                "email": LONG_RELAY},
    )  # fmt: skip
    other = inbound(
        external_id="m2", thread_id="t2", subject="Question sur la lampe",
        text="La lampe existe-t-elle en blanc ?",
        sender={"identity_value": "a@x.fr", "name": "Jeanne Martin", "email": "a@x.fr"},
    )  # fmt: skip
    actions.assign_conversation(conv, assignee=agent, actor=owner)
    actions.set_priority(conv, priority=Priority.HIGH, actor=owner)
    actions.tag_conversation(conv, tag="livraison", actor=owner)
    actions.add_note(conv, text="@marie peux-tu regarder ?", actor=owner)
    actions.set_status(other, status=Status.PENDING, actor=owner)
    template = Template.objects.create(name="Colis en route", shortcut="colis")
    TemplateVersion.objects.create(
        template=template, language="fr", subject="", body="Bonjour {{ customer.name }},"
    )
    rule = create_rule(
        actor=owner, name="Étiqueter les retours", trigger="message_received",
        conditions={"all": [{"type": "keywords", "where": "any", "words": ["retour"]}]},
        actions=[{"type": "tag", "tag": "retour"}],
    )  # fmt: skip
    calendar = BusinessCalendar.objects.create(shop=shop, name="Bureau")
    run = MiningRun.objects.create(
        since=timezone.now() - timedelta(days=30), finished_at=timezone.now()
    )
    cluster = Cluster.objects.create(
        run=run, language="fr", intent="where_is_my_order", size=2, label="Colis pas reçu",
        terms=["colis", "reçu"], examples=[], marketplaces={"fnac": 2},
    )  # fmt: skip
    article = kb_actions.save_article(
        None, actor=owner, shop=shop, theme="delivery",
        versions={"fr": kb_actions.VersionInput("Délais de livraison", "Sous 48 heures.")},
    )  # fmt: skip
    receiver = TestReceiver.objects.create(name="Récepteur " + "x" * 60, token="t" * 40)
    Webhook.objects.create(
        name="Canal Slack", url=f"https://hooks.example.com/services/{LONG_RELAY}", format="slack"
    )
    ReceivedPayload.objects.create(
        receiver=receiver, body='{"kind": "mentioned", "text": "' + "y" * 400 + '"}'
    )
    Notification.objects.create(
        user=owner, kind="mentioned", conversation=conv, actor=agent, text="@sophie", batch="b1"
    )
    return {
        "owner": owner,
        "agent": agent,
        "shop": shop,
        "team": team,
        "channel": channel,
        "conversation": conv,
        "other": other,
        "order": order,
        "template": template,
        "rule": rule,
        "calendar": calendar,
        "cluster": cluster,
        "article": article,
        "user": agent,
    }
