"""Attack: script in what buyers send (XSS), shown in a real browser.

A corpus of payloads goes where a buyer or a marketplace writes: the subject, the text, the
mail's HTML, the buyer's name, an attachment's file name, the order's number and its items'
titles. Each payload, if it ran, would set a sentinel on the page. The inbox and the
conversation are then opened in Chromium as the agent: the sentinel is never set, no element
of a payload exists in the page (it is shown as text), and the page's CSP had nothing to
refuse (so it is the escaping that holds, with the CSP as a second wall)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from comptoir.accounts.models import User
from comptoir.connectors.base import InboundMessage
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation
from comptoir.orders.models import Order
from tests.pages_support import sign_in

PASSWORD = "xss-pass-42"
RUN = "document.documentElement.dataset.pwned='1'"
PAYLOADS = [
    f"<script>{RUN}</script>",
    f'<img src=x onerror="{RUN}">',
    f'<svg onload="{RUN}"></svg>',
    f'"><img src=x onerror={RUN}>',
    f"'><script>{RUN}</script>",
    f'<a href="javascript:{RUN}">click</a>',
    f'<iframe srcdoc="<script>parent.{RUN}</script>"></iframe>',
    f'<details open ontoggle="{RUN}">',
    f"{{{{ {RUN} }}}}",
    f'<math><mtext><table><mglyph><style><img src=x onerror="{RUN}">',
    f'<div style="background:url(javascript:{RUN})">x</div>',
    f"</textarea><script>{RUN}</script>",
]


@pytest.fixture
def attacked(
    channel: Channel, agent: User, make_inbound: Callable[..., InboundMessage]
) -> list[int]:
    """One conversation per payload, the payload in every field a buyer or marketplace fills."""
    agent.set_password(PASSWORD)
    agent.save()
    ids = []
    for n, payload in enumerate(PAYLOADS):
        number = f"XSS-{n}-{payload[:20]}"
        Order.objects.create(
            shop_id=channel.shop_id,
            channel=channel,
            external_id=number,
            status="shipped",
            items=[{"title": payload, "quantity": 1}],
        )
        result = ingest(
            make_inbound(
                thread_id=f"xss-{uuid.uuid4()}",
                subject=payload,
                text=f"Bonjour {payload} commande {number}",
                html=f"<p>Bonjour</p>{payload}",
                order_number=number,
                sender={
                    "identity_kind": "email",
                    "identity_value": f"b{n}@example.com",
                    "email": f"b{n}@example.com",
                    "name": payload,
                },
                attachments=[{"filename": f"{payload}.pdf", "data": b"%PDF-1.4"}],
            )
        )
        assert result.conversation_id is not None, result.error
        ids.append(result.conversation_id)
    assert Conversation.objects.filter(pk__in=ids).count() == len(PAYLOADS)
    return ids


INJECTED = """() => {
    const els = [...document.querySelectorAll('*')];
    const handlers = els.filter(e => [...e.attributes].some(
        a => a.name.startsWith('on') && a.value.includes('pwned')));
    const links = els.filter(e => (e.getAttribute('href') || '').includes('pwned'));
    const frames = [...document.querySelectorAll('iframe[srcdoc*=pwned]')];
    const scripts = [...document.scripts].filter(s => s.textContent.includes('pwned'));
    return {
        pwned: document.documentElement.dataset.pwned || null,
        elements: handlers.length + links.length + frames.length + scripts.length,
    };
}"""


def _check(page: Any) -> None:
    found = page.evaluate(INJECTED)
    assert found == {"pwned": None, "elements": 0}, page.url
    assert page.csp_errors == [], page.url


def test_no_payload_runs_or_becomes_markup_in_the_inbox_and_the_conversation(
    page: Any, live_server: Any, attacked: list[int], agent: User
) -> None:
    base = live_server.url
    sign_in(page, base, agent.username, PASSWORD)
    page.wait_for_selector("table.conversations tr.row")
    # Every payload is in the list (as text), and none did anything.
    assert "onerror" in page.content()
    _check(page)
    page.goto(f"{base}/inbox/?view=all&q=Bonjour")
    _check(page)
    for conv_id, payload in zip(attacked, PAYLOADS, strict=True):
        page.goto(f"{base}/inbox/c/{conv_id}/")
        page.wait_for_selector("main")
        # Shown, as text: what the buyer wrote is there to read, and inert.
        assert payload in page.inner_text("body"), payload
        _check(page)
