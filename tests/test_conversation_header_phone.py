"""The conversation's header on a phone (390 px): one line, the title and its deadline chip;
the channel, status, assignee, tags and the deadline's details wait behind the action bar's
"Details" menu. On a laptop the full lines stay and the menu is not there."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation
from tests.test_action_bar_browser import open_conversation


@pytest.fixture
def late_conv(make_inbound: Any) -> Conversation:
    subject = "Commande jamais reçue, colis perdu entre Lyon et Marseille depuis trois semaines"
    result = ingest(
        make_inbound(
            subject=subject,
            text="Où est mon colis ?",
            sent_at=timezone.now() - timedelta(days=3),
        )
    )
    conv = Conversation.objects.get(pk=result.conversation_id)
    assert conv.respond_by is not None
    return conv


def _height(page: Any, selector: str) -> float:
    return float(page.locator(selector).bounding_box()["height"])


def test_the_phone_header_is_one_line_with_the_deadline_chip(
    page: Any, live_server: Any, agent: User, late_conv: Conversation
) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    open_conversation(page, live_server.url, agent, late_conv)
    chip = page.locator(".conv-head .deadline-chip")
    assert chip.is_visible()
    assert "overdue" in chip.inner_text().lower()
    line = float(
        page.evaluate(
            "parseFloat(getComputedStyle(document.querySelector('.conv-head h1')).lineHeight)"
        )
    )
    assert _height(page, ".conv-head") <= line * 1.5  # one line, not three
    assert not page.locator(".thread > .meta").is_visible()
    assert not page.locator(".thread > .deadline").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.click("#menu-info summary")
    info = page.locator("#menu-info .conv-info")
    assert info.is_visible()
    assert f"#{late_conv.pk}" in info.inner_text()
    assert late_conv.channel.name in info.inner_text()


def test_the_laptop_header_keeps_its_lines_and_no_details_menu(
    page: Any, live_server: Any, agent: User, late_conv: Conversation
) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    open_conversation(page, live_server.url, agent, late_conv)
    assert page.locator(".thread > .deadline").is_visible()
    assert page.locator(".thread > .meta").is_visible()
    assert not page.locator("#menu-info").is_visible()
    assert not page.locator(".conv-head .deadline-chip").is_visible()
