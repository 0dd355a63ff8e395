"""The inbox's filter bar and bulk bar in a real browser: active filters as removable chips, the
ticked rows kept through a live refresh, and a bulk change counted and undone."""

from __future__ import annotations

import re
from typing import Any

import pytest

from comptoir.accounts.models import Role, Team, User
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Priority
from tests.conftest import close_quietly  # noqa: F401


@pytest.fixture
def karim(team: Team) -> User:
    user = User.objects.create_user(
        "karim", "karim@example.com", "pw", role=Role.AGENT, first_name="Karim"
    )
    team.members.add(user)
    return user


@pytest.fixture
def four(make_inbound: Any, shop: Any, team: Team) -> list[Conversation]:
    fnac = Channel.objects.create(shop=shop, kind="api", marketplace="fnac", name="Fnac", team=team)
    ids = [
        ingest(
            make_inbound(subject=f"Colis {i}", sender={"identity_value": f"b{i}@x.fr"})
        ).conversation_id
        for i in range(3)
    ]
    ids.append(
        ingest(
            make_inbound(channel_id=fnac.pk, subject="Lampe", sender={"identity_value": "f@x.fr"})
        ).conversation_id
    )
    return list(Conversation.objects.filter(pk__in=ids).order_by("id"))


def log_in(page: Any, base: str, user: User) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw")
    page.click(".login button[type=submit]")
    page.wait_for_url(f"{base}/inbox/")


def test_active_filters_show_as_chips_that_remove_themselves(
    page: Any, live_server: Any, agent: User, four: list[Conversation]
) -> None:
    base = live_server.url
    log_in(page, base, agent)
    assert page.locator(".more-filters .filter-grid").is_visible() is False  # folded away
    assert page.locator(".active-filters").count() == 0

    page.click(".more-filters summary")
    page.select_option("select[name=marketplace]", "fnac")
    page.select_option("select[name=has_order]", "no")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r"marketplace=fnac"))
    assert page.locator("tr.row").count() == 1
    chips = page.locator(".active-filters .chip")
    assert chips.count() == 2
    assert "Marketplace: Fnac" in chips.nth(0).inner_text()
    assert page.locator(".more-filters .count-badge").inner_text() == "2"

    page.click(".chip[data-filter=marketplace] .chip-remove")
    page.wait_for_url(re.compile(r"^(?!.*marketplace=).*has_order=no"))
    assert page.locator(".active-filters .chip").count() == 1
    assert page.locator("tr.row").count() == 4
    assert page.csp_errors == []


def test_ticked_rows_survive_the_live_refresh_and_a_bulk_change_is_undone(
    page: Any, live_server: Any, agent: User, karim: User, four: list[Conversation],
    make_inbound: Any, settings: Any,
) -> None:  # fmt: skip
    settings.COMPTOIR_LIVE_CHECK_SECONDS = 0.1
    settings.COMPTOIR_LIVE_SECONDS = 5
    base = live_server.url
    log_in(page, base, agent)
    boxes = page.locator("input[name=ids]")
    for i in range(3):
        boxes.nth(i).check()
    assert page.locator("#bulk-count").inner_text() == "3 selected"

    # A new message arrives: the rows are fetched again, the three ticks stay.
    ingest(make_inbound(subject="Arrivé à l'instant", sender={"identity_value": "new@x.fr"}))
    page.wait_for_selector("tr.row >> text=Arrivé à l'instant")
    assert page.locator("input[name=ids]:checked").count() == 3
    assert page.locator("#bulk-count").inner_text() == "3 selected"
    ticked = [int(v) for v in page.locator("input[name=ids]:checked").evaluate_all(
        "boxes => boxes.map(b => b.value)")]  # fmt: skip

    # Assign them to a colleague and set their priority, counted; Undo puts the priority back.
    page.click("#bulk-assign summary")
    page.click(f"#bulk-assign button[value='{karim.pk}']")
    page.wait_for_selector(".toast >> text=3 conversations changed")
    assert Conversation.objects.filter(pk__in=ticked, assignee=karim).count() == 3
    for pk in ticked:
        page.check(f"input[name=ids][value='{pk}']")
    page.click("#bulk-priority summary")
    page.click(f"#bulk-priority button[value='{Priority.URGENT}']")
    page.wait_for_selector(".toast >> text=3 conversations changed")
    assert Conversation.objects.filter(pk__in=ticked, priority=Priority.URGENT).count() == 3
    page.click(".toast .undo")
    page.wait_for_selector(".toast >> text=3 conversations put back")
    assert Conversation.objects.filter(pk__in=ticked, priority=Priority.NORMAL).count() == 3
    assert Conversation.objects.filter(pk__in=ticked, assignee=karim).count() == 3
    assert page.csp_errors == []
