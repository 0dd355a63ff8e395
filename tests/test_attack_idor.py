"""Attack: reaching another team's conversation by its id (IDOR).

Every route of the URL conf (pages, actions, fragments, the REST API) whose id names a
conversation, a message, an attachment, a case or a case's step is tried, by GET and by POST, as
an agent of another team and as an anonymous caller, on a conversation of one team. Nothing of
it may show in any answer, no write may succeed, and the answer to "not yours" is one: 404 for
the agent (405 where the route takes no such method), a sign-in for the anonymous caller.

The routes come from the URL conf, not from a list here: a new route with such an id is tried
without being named, and one whose id this test cannot place fails it until placed."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from comptoir.accounts.models import APIToken, User
from comptoir.cases import actions as case_actions
from comptoir.cases.models import Case, CaseOperation
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Attachment, Conversation, Event, Message
from comptoir.orders.models import Order

SECRET = "Zq7-secret-of-team-A"

# Which object a route's id names, by the start of its path (the longest start wins).
KINDS = {
    "inbox/c/": "conversation",
    "automation/c/": "conversation",
    "triage/c/": "conversation",
    "kb/c/": "conversation",
    "cases/open/": "conversation",
    "api/v1/conversations/": "conversation",
    "inbox/m/": "message",
    "api/v1/messages/": "message",
    "inbox/a/": "attachment",
    "cases/steps/": "operation",
    "cases/": "case",
    "api/v1/cases/": "case",
    "api/v1/cases/steps/": "operation",
    # A buyer and an order are seen through their conversations and channels.
    "api/v1/customers/": "customer",
    "api/v1/orders/": "order",
}
# Ids of other things (settings, rules, templates, articles, teams, users, shops, webhooks,
# retention, FAQ clusters, saved views, public pages): each has its own permission tests; they
# are not about a conversation's content.
OTHER_IDS = re.compile(
    r"^(admin/|settings/|"
    r"api/v1/(channels|rules|sla|analytics|tags|templates|articles|account-health|teams|users"
    r"|shops|webhooks|privacy|faq)/|"
    r"faq/|kb/(\d|<|from-cluster)|"
    r"help/|s/|hooks/|password-reset/|inbox/views/|"
    # The live chat widget's endpoints: keyed by a shop's public key, the visitor by a signed
    # token (tests/test_chat.py refuses forged and other channels' tokens).
    r"chat/)"
)


def _walk(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern)


def _routes() -> list[tuple[str, str]]:
    """(route, kind) for every route with an id of something a conversation holds."""
    found, unplaced = [], []
    for route in sorted(set(_walk(get_resolver().url_patterns))):
        route = route.lstrip("^").rstrip("$")
        if "<" not in route or OTHER_IDS.match(route):
            continue
        starts = [k for k in KINDS if route.startswith(k)]
        if not starts:
            unplaced.append(route)
            continue
        found.append((route, KINDS[max(starts, key=len)]))
    assert not unplaced, f"place these routes' ids in KINDS or OTHER_IDS: {unplaced}"
    return found


def _fill(route: str, ids: dict[str, int], kind: str) -> str:
    """The route with its first id set to the object's and any other to a plausible value."""
    first = True

    def one(match: re.Match[str]) -> str:
        nonlocal first
        if first:
            first = False
            return str(ids[kind])
        return "1" if "int" in match.group(0) or "id" in match.group(0) else "x"

    return "/" + re.sub(r"<[^>]+>", one, route)


@pytest.fixture
def target(
    make_inbound: Callable[..., InboundMessage], agent: User, channel: Any
) -> dict[str, Any]:
    """Team A's conversation with a message, an attachment, a note, a case and a case step;
    the secret stands where the words of the buyer and the agents do (a case's own fields,
    such as its kind and amounts, are figures an analyst may read)."""
    result = ingest(
        make_inbound(
            subject=f"Commande {SECRET}",
            text=f"Bonjour, {SECRET}, le colis est arrivé cassé.",
            attachments=[{"filename": f"{SECRET}.pdf", "data": SECRET.encode()}],
        )
    )
    assert result.conversation_id is not None, result.error
    conv = Conversation.objects.get(pk=result.conversation_id)
    actions.add_note(conv, text=f"note {SECRET}", actor=agent)
    case = case_actions.open_case(conv, kind="damaged", actor=agent)
    step = CaseOperation.objects.create(
        case=case, kind="refund", payload={"text": SECRET}, delivery_state="failed", error=SECRET
    )
    message = Message.objects.filter(conversation=conv).order_by("pk").first()
    assert message is not None
    attachment = Attachment.objects.get(message=message)
    order = Order.objects.create(
        shop=conv.shop,
        channel=conv.channel,
        customer=conv.customer,
        external_id="402-SECRET-1",
        items=[{"sku": "x", "title": SECRET, "quantity": 1, "unit_price": "1"}],
    )
    Conversation.objects.filter(pk=conv.pk).update(order=order)
    return {
        "conversation": conv.pk,
        "message": message.pk,
        "attachment": attachment.pk,
        "case": case.pk,
        "operation": step.pk,
        "customer": conv.customer_id,
        "order": order.pk,
    }


def _state(conv_id: int) -> tuple[Any, ...]:
    conv = Conversation.objects.get(pk=conv_id)
    return (
        conv.status,
        conv.assignee_id,
        conv.team_id,
        conv.priority,
        conv.deleted_at,
        conv.snoozed_until,
        Event.objects.filter(conversation_id=conv_id).count(),
        Message.objects.filter(conversation_id=conv_id).count(),
        list(Case.objects.filter(conversation_id=conv_id).values_list("stage", "outcome")),
        CaseOperation.objects.filter(case__conversation_id=conv_id).count(),
    )


# One JSON body that every conversation and case operation of the API accepts as well formed
# (each reads its own fields), so the request reaches the permission check.
API_BODY = {
    "text": "hello",
    "assignee_id": None,
    "status": "resolved",
    "stage": "resolved",
    "outcome": "rejected",
    "reason": "no",
    "deadline": None,
    "tag": "x",
    "priority": 1,
    "team_id": None,
    "into": 1,
    "field": "intent",
    "value": "refund",
    "decision": "accept",
}


def _post_data() -> dict[str, str]:
    """A body most of the actions would accept from someone allowed."""
    return {
        "text": "hello",
        "status": "resolved",
        "priority": "high",
        "tag": "x",
        "assignee": "",
        "until": "2030-01-01T10:00",
        "stage": "resolved",
        "amount": "10",
        "kind": "refund",
        "deadline": "2030-01-01T10:00",
        "into": "1",
        "outcome": "rejected",
        "reason": "no",
        "rejection_reason": "no",
    }


def test_the_routes_are_found_from_the_url_conf() -> None:
    kinds = {kind for _, kind in _routes()}
    # Every kind of object has routes: losing them would make the tests below check nothing.
    assert kinds == set(KINDS.values())
    assert len(_routes()) >= 40


def test_an_agent_of_another_team_reaches_nothing_by_id(
    target: dict[str, Any], outsider: User
) -> None:
    client = Client()
    client.force_login(outsider)
    _token, raw = APIToken.issue(outsider, "attack")
    api = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    before = _state(target["conversation"])
    refused = []
    for route, kind in _routes():
        path = _fill(route, target, kind)
        extra = api if route.startswith("api/") else {}
        for method in ("get", "post"):
            if method == "post" and route.startswith("api/"):
                response = client.post(
                    path, data=API_BODY, content_type="application/json", **extra
                )
            else:
                response = getattr(client, method)(
                    path, data=_post_data() if method == "post" else None, **extra
                )
            body = b"" if response.streaming else response.content
            assert SECRET.encode() not in body, (method, path)
            if response.status_code not in (404, 405):
                refused.append((method.upper(), path, response.status_code))
    assert refused == [], "not yours must be 404 (or 405): " + repr(refused)
    assert _state(target["conversation"]) == before


def test_an_anonymous_caller_reaches_nothing_by_id(target: dict[str, Any]) -> None:
    client = Client()
    before = _state(target["conversation"])
    let_in = []
    for route, kind in _routes():
        path = _fill(route, target, kind)
        for method in ("get", "post"):
            response = getattr(client, method)(path)
            body = b"" if response.streaming else response.content
            assert SECRET.encode() not in body, (method, path)
            signs_in = response.status_code == 302 and "/login/" in response.get("Location", "")
            if not (signs_in or response.status_code in (401, 403, 404, 405)):
                let_in.append((method.upper(), path, response.status_code))
    assert let_in == []
    assert _state(target["conversation"]) == before


def test_an_analyst_reads_but_writes_nothing(target: dict[str, Any], analyst: User) -> None:
    """Analysts see every conversation, read-only (docs/security.md): no write by id changes
    anything, and each action that would write says 403 (seen, not theirs to change)."""
    client = Client()
    client.force_login(analyst)
    _token, raw = APIToken.issue(analyst, "attack")
    api = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    before = _state(target["conversation"])
    for route, kind in _routes():
        path = _fill(route, target, kind)
        if route.startswith("api/"):
            response = client.post(path, data=API_BODY, content_type="application/json", **api)
            assert response.status_code in (403, 404, 405), (path, response.status_code)
        else:
            client.post(path, data=_post_data())
        assert _state(target["conversation"]) == before, path
