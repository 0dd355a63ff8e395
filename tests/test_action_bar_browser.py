"""The conversation's action bar in a real browser: menus opened with the mouse and the keyboard,
each change confirmed by a toast, and Undo putting back what was there."""

from __future__ import annotations

from typing import Any

import pytest

from comptoir.accounts.models import Role, Team, User
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation, Status
from tests.conftest import close_quietly  # noqa: F401


@pytest.fixture
def karim(team: Team) -> User:
    user = User.objects.create_user(
        "karim", "karim@example.com", "pw", role=Role.AGENT, first_name="Karim"
    )
    team.members.add(user)
    return user


@pytest.fixture
def conv(make_inbound: Any) -> Conversation:
    result = ingest(make_inbound(subject="Colis abîmé", text="Le carton est arrivé écrasé."))
    return Conversation.objects.get(pk=result.conversation_id)


def open_conversation(page: Any, base: str, user: User, conv: Conversation) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw")
    page.click(".login button[type=submit]")
    page.wait_for_url(f"{base}/inbox/")
    page.goto(f"{base}/inbox/c/{conv.pk}/")


def test_assigning_from_the_bar_is_confirmed_and_undone(
    page: Any, live_server: Any, agent: User, karim: User, conv: Conversation
) -> None:
    open_conversation(page, live_server.url, agent, conv)
    assert page.locator(".action-bar form, .action-bar details").count() >= 7
    # The side panel no longer carries its own assign, priority, tag and snooze forms.
    panel_forms = ".panel select[name=assignee], .panel select[name=priority], .panel [name=until]"
    assert page.locator(panel_forms).count() == 0
    assert page.locator(".panel > section").first.get_attribute("class") == "customer-card"

    page.click("#menu-assign summary")
    page.click(f"#menu-assign button[value='{karim.pk}']")
    page.wait_for_selector(".toast >> text=Assigned to Karim")
    conv.refresh_from_db()
    assert conv.assignee == karim
    assert page.locator("#menu-assign .menu-value").inner_text() == "Karim"

    page.click(".toast .undo")
    page.wait_for_selector(".toast >> text=No longer assigned")
    conv.refresh_from_db()
    assert conv.assignee is None
    assert page.locator(".toast .undo").count() == 0  # an undo is not itself undone
    assert page.csp_errors == []


def test_status_and_snooze_from_the_keyboard_then_undo_with_z(
    page: Any, live_server: Any, agent: User, conv: Conversation
) -> None:
    open_conversation(page, live_server.url, agent, conv)

    # u opens the status menu on the current status; the arrows move to Pending.
    page.keyboard.press("u")
    assert page.locator("#menu-status").get_attribute("open") is not None
    assert page.evaluate("document.activeElement.value") == "open"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("document.activeElement.value") == "pending"
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast >> text=Status: Pending")
    conv.refresh_from_db()
    assert conv.status == Status.PENDING

    # s opens the snooze menu on its first choice (tomorrow morning).
    page.keyboard.press("s")
    assert page.locator("#menu-status").get_attribute("open") is None
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast >> text=Snoozed until")
    conv.refresh_from_db()
    assert conv.status == Status.SNOOZED
    assert conv.snoozed_until is not None
    assert page.locator(".snoozed-until").count() == 1

    # z undoes the last change: back to pending, not to open.
    page.keyboard.press("z")
    page.wait_for_selector(".toast >> text=Status: Pending")
    conv.refresh_from_db()
    assert conv.status == Status.PENDING
    assert page.csp_errors == []


def test_tags_are_added_and_removed_from_the_bar(
    page: Any, live_server: Any, agent: User, conv: Conversation
) -> None:
    open_conversation(page, live_server.url, agent, conv)
    page.keyboard.press("t")
    page.keyboard.type("casse")
    page.keyboard.press("Enter")
    page.wait_for_selector(".toast >> text=Tag added: casse")
    assert [t.name for t in conv.tags.all()] == ["casse"]

    page.click("#menu-tags summary")
    page.click("#menu-tags .chip-remove")
    page.wait_for_selector(".toast >> text=Tag removed: casse")
    assert conv.tags.count() == 0
    page.click(".toast .undo")
    page.wait_for_selector(".toast >> text=Tag added: casse")
    assert conv.tags.count() == 1
