"""The rule builder and the template editor in a real browser (their script on, under the CSP):
a rule built from the lists, saved, its dry run seen and its values found again; a variable
inserted at the cursor and the answer previewed as it is typed."""

from __future__ import annotations

from typing import Any

import pytest

from comptoir.accounts.models import User
from comptoir.automation.models import Rule
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation
from tests.conftest import close_quietly  # noqa: F401
from tests.test_templates import conversation  # noqa: F401


def log_in(page: Any, base: str, user: User) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "pw")
    page.click(".login button[type=submit]")
    page.wait_for_url(f"{base}/inbox/")


@pytest.fixture
def broken(make_inbound: Any) -> Conversation:
    result = ingest(make_inbound(subject="Colis cassé", text="Le vase est arrivé cassé."))
    assert result.conversation_id is not None
    return Conversation.objects.get(pk=result.conversation_id)


def test_a_rule_is_built_saved_dry_run_and_reopened_with_its_values(
    page: Any, live_server: Any, supervisor: User, broken: Conversation
) -> None:
    log_in(page, live_server.url, supervisor)
    page.goto(f"{live_server.url}/settings/rules/new")
    page.fill("input[name=name]", "Broken on Amazon")
    # Without a test chosen, the row shows no input; choosing one shows its own.
    assert page.locator("[name=conditions-0-words]").is_hidden()
    page.select_option("[name=conditions-0-type]", "keywords")
    page.fill("[name=conditions-0-words]", "cassée\nbrisé")
    assert page.locator("[name=conditions-0-in_marketplace]").is_hidden()
    page.click("button[name=add_conditions]")
    page.select_option("[name=conditions-1-type]", "marketplace")
    page.select_option("[name=conditions-1-in_marketplace]", ["amazon"])
    page.click("button[name=add_conditions]")
    page.select_option("[name=conditions-2-type]", "status")
    page.locator(".conditions-row").nth(2).locator(".row-remove").click()
    assert page.locator(".conditions-row").nth(2).is_hidden()
    page.select_option("[name=actions-0-type]", "tag")
    page.fill("[name=actions-0-tag]", "damaged")

    page.click("button[name=dry_run]")
    page.locator("#dry-run-panel").get_by_text(f"#{broken.pk} Colis cassé").wait_for()
    assert page.url.endswith("/settings/rules/new")  # the panel changed in place
    assert page.input_value("[name=conditions-0-words]") == "cassée\nbrisé"
    assert not Rule.objects.exists()

    page.click("button[name=save]")
    page.wait_for_url(f"{live_server.url}/settings/rules/*/")

    rule = Rule.objects.get()
    assert rule.conditions == {
        "all": [
            {"type": "keywords", "where": "any", "words": ["cassée", "brisé"]},
            {"type": "marketplace", "values": ["amazon"]},
        ]
    }
    assert rule.actions == [{"type": "tag", "tag": "damaged"}]
    page.locator("#dry-run-panel").get_by_text(f"#{broken.pk} Colis cassé").wait_for()

    page.goto(f"{live_server.url}/settings/rules/{rule.pk}/")
    assert page.input_value("[name=conditions-0-type]") == "keywords"
    assert page.input_value("[name=conditions-0-words]") == "cassée\nbrisé"
    assert page.input_value("[name=conditions-1-type]") == "marketplace"
    chosen = page.eval_on_selector(
        "[name=conditions-1-in_marketplace]",
        "s => Array.from(s.selectedOptions).map(o => o.value)",
    )
    assert chosen == ["amazon"]
    assert page.locator("[name=conditions-1-in_marketplace]").is_visible()
    assert page.input_value("[name=actions-0-tag]") == "damaged"
    assert page.csp_errors == []


def test_a_variable_is_inserted_at_the_cursor_and_the_preview_follows(
    page: Any,
    live_server: Any,
    supervisor: User,
    conversation: Conversation,  # noqa: F811
) -> None:
    log_in(page, live_server.url, supervisor)
    page.goto(f"{live_server.url}/settings/templates/new")
    page.fill("input[name=name]", "Suivi")
    body = page.locator("[name=body_fr]")
    body.fill("Bonjour , votre colis arrive.")
    body.focus()
    body.evaluate("t => t.setSelectionRange(8, 8)")
    page.locator(".var-insert[data-variable=customer_first_name]").click()

    assert body.input_value() == "Bonjour {{ customer_first_name }}, votre colis arrive."
    page.locator("#template-preview .preview-text").get_by_text(
        "Bonjour Jeanne, votre colis arrive."
    ).wait_for()
    body.press("End")
    page.locator(".var-insert[data-variable=tracking_number]").click()
    page.locator("#template-preview .preview-text").get_by_text("arrive.6A123").wait_for()
    assert page.locator("#template-preview .checks-ok, #template-preview .checks").count() == 1
    assert page.csp_errors == []


def test_nested_groups_are_built_with_buttons_dry_run_and_saved(
    page: Any, live_server: Any, supervisor: User, broken: Conversation
) -> None:
    """(A and B) or (C and not D) from the lists and the group buttons, no JSON typed."""
    log_in(page, live_server.url, supervisor)
    page.goto(f"{live_server.url}/settings/rules/new")
    page.fill("input[name=name]", "Broken, or open elsewhere")
    page.check("input[name=match][value=any]")
    page.select_option("[name=conditions-0-type]", "subgroup")
    # Choosing a group shows its own buttons; a test's row does not have them.
    assert page.locator(".conditions-row").nth(0).locator(".row-group-buttons").is_visible()
    page.click("button[name=add_in_conditions][value='0']")
    page.click("button[name=add_in_conditions][value='0']")
    page.select_option("[name=conditions-1-type]", "keywords")
    page.fill("[name=conditions-1-words]", "cassée")
    page.select_option("[name=conditions-2-type]", "marketplace")
    page.select_option("[name=conditions-2-in_marketplace]", ["amazon"])
    page.click("button[name=add_group_conditions]")
    page.select_option("[name=conditions-4-type]", "marketplace")
    page.select_option("[name=conditions-4-in_marketplace]", ["cdiscount"])
    page.click("button[name=add_in_conditions][value='3']")
    page.select_option("[name=conditions-5-type]", "status")
    page.select_option("[name=conditions-5-in_status]", ["resolved"])
    page.check("[name=conditions-5-negate]")
    assert page.locator(".conditions-row.depth-1").count() == 4
    page.select_option("[name=actions-0-type]", "tag")
    page.fill("[name=actions-0-tag]", "damaged")

    page.click("button[name=dry_run]")
    page.locator("#dry-run-panel").get_by_text(f"#{broken.pk} Colis cassé").wait_for()
    assert not Rule.objects.exists()
    page.click("button[name=save]")
    page.wait_for_url(f"{live_server.url}/settings/rules/*/")
    status = {"type": "status", "values": ["resolved"], "negate": True}
    assert Rule.objects.get().conditions == {
        "any": [
            {
                "all": [
                    {"type": "keywords", "where": "any", "words": ["cassée"]},
                    {"type": "marketplace", "values": ["amazon"]},
                ]
            },
            {"all": [{"type": "marketplace", "values": ["cdiscount"]}, status]},
        ]
    }
    # Removing a group takes its content with it.
    page.locator(".conditions-row").nth(3).locator(".row-remove").click()
    assert page.locator(".conditions-row.depth-1:visible").count() == 2
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    assert page.csp_errors == []
