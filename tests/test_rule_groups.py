"""Nested condition groups in the rule builder, without typing JSON: (A and B) or (C and not D)
built with the group buttons (no script: each button re-shows the page), saved as the nested
JSON the engine always read, opened again as indented rows, and old flat rules unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import QueryDict

from comptoir.accounts.models import User
from comptoir.automation import rule_builder
from comptoir.automation import rules as rule_actions
from comptoir.automation.models import Rule
from tests.test_rule_builder import form_data

A = {"type": "marketplace", "values": ["amazon"]}
B = {"type": "keywords", "where": "any", "words": ["cassé"]}
C = {"type": "marketplace", "values": ["cdiscount"]}
D = {"type": "status", "values": ["resolved"]}
NESTED = {"any": [{"all": [A, B]}, {"all": [C, {**D, "negate": True}]}]}


def _press(client: Any, url: str, html: str, **fields: str) -> str:
    response = client.post(url, form_data(html, **fields))
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _set(html: str, **fields: str | list[str]) -> dict[str, Any]:
    data = form_data(html)
    for name, value in fields.items():
        data[name.replace("__", "-")] = value if isinstance(value, list) else [value]
    return data


def test_the_outline_becomes_the_tree_and_back() -> None:
    match, rows = rule_builder.split(NESTED)
    assert match == "any"
    assert [(r["type"], r["depth"]) for r in rows] == [
        ("subgroup", 0),
        ("marketplace", 1),
        ("keywords", 1),
        ("subgroup", 0),
        ("marketplace", 1),
        ("status", 1),
    ]
    assert rows[5]["negate"] is True
    nodes = [(r["depth"], rule_builder.to_condition(_cleaned(r))) for r in rows]
    assert rule_builder.join(match, rule_builder.nest(nodes)) == NESTED


def _cleaned(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if row["type"] == "keywords":
        out["words"] = row["words"]
    return out


def test_a_flat_rule_and_a_json_row_open_as_before() -> None:
    assert rule_builder.split({"all": [A, B]}) == (
        "all",
        [{**rule_builder.to_initial(A), "depth": 0}, {**rule_builder.to_initial(B), "depth": 0}],
    )
    both = {"all": [A], "any": [B]}  # not a valid group: shown whole in JSON
    assert rule_builder.split(both)[1][0]["type"] == "group"


def test_a_group_row_added_inside_goes_after_the_groups_content() -> None:
    data = QueryDict(mutable=True)
    rows = [("subgroup", 0), ("marketplace", 1), ("status", 0)]
    for i, (kind, depth) in enumerate(rows):
        data[f"conditions-{i}-type"] = kind
        data[f"conditions-{i}-depth"] = str(depth)
    data["conditions-TOTAL_FORMS"] = "3"
    out = rule_builder.edit_rows(data, "conditions", add=True, into=0)
    kinds = [(out.get(f"conditions-{i}-type", ""), out[f"conditions-{i}-depth"]) for i in range(4)]
    assert kinds == [("subgroup", "0"), ("marketplace", "1"), ("", "1"), ("status", "0")]
    gone = rule_builder.edit_rows(out, "conditions", remove=0)  # the group and its content
    assert gone["conditions-TOTAL_FORMS"] == "1"
    assert gone["conditions-0-type"] == "status"


def test_a_supervisor_builds_a_or_of_two_and_groups_with_the_buttons(
    client: Any, supervisor: User
) -> None:
    client.force_login(supervisor)
    url = "/settings/rules/new"
    html = client.get(url).content.decode()
    html = _press(client, url, html, add_group_conditions="1")  # row 0 is empty: group at 1
    html = _press(client, url, html, remove_conditions="0")
    html = _press(client, url, html, add_in_conditions="0")  # the group now has two rows
    html = _press(client, url, html, add_group_conditions="1")
    html = _press(client, url, html, add_in_conditions="3")
    assert html.count('class="builder-row conditions-row depth-1"') == 4
    data = _set(
        html,
        name="Cassé or open on Cdiscount",
        trigger="message_received",
        match="any",
        conditions__1__type="marketplace",
        conditions__1__in_marketplace=["amazon"],
        conditions__2__type="keywords",
        conditions__2__words="cassé",
        conditions__4__type="marketplace",
        conditions__4__in_marketplace=["cdiscount"],
        conditions__5__type="status",
        conditions__5__in_status=["resolved"],
        conditions__5__negate="on",
        actions__0__type="tag",
        actions__0__tag="check",
        save="1",
    )
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[-2000:]
    assert Rule.objects.get().conditions == NESTED

    page = client.get(response["Location"]).content.decode()
    assert page.count('class="builder-row conditions-row depth-1"') == 4
    assert page.count('<option value="subgroup" selected>') == 2


def test_an_empty_group_is_refused_with_a_reason_and_nothing_is_saved(
    client: Any, supervisor: User
) -> None:
    client.force_login(supervisor)
    url = "/settings/rules/new"
    html = client.get(url).content.decode()
    html = _press(client, url, html, add_group_conditions="1")  # its one row left empty
    data = _set(html, name="Empty", trigger="message_received", save="1")
    data["actions-0-type"] = ["tag"]
    data["actions-0-tag"] = ["x"]
    response = client.post(url, data)
    assert response.status_code == 200
    assert "A group has no condition" in response.content.decode()
    assert not Rule.objects.exists()


@pytest.mark.parametrize("when", [NESTED, {"all": [A, B]}, {"any": [{"all": [A]}], "negate": True}])
def test_stored_rules_save_unchanged_from_the_builder(
    client: Any, supervisor: User, when: dict[str, Any]
) -> None:
    client.force_login(supervisor)
    rule = rule_actions.create_rule(
        actor=supervisor,
        name="Kept",
        trigger="message_received",
        conditions=when,
        actions=[{"type": "tag", "tag": "x"}],
    )
    page = client.get(f"/settings/rules/{rule.pk}/").content.decode()
    response = client.post(f"/settings/rules/{rule.pk}/", form_data(page, save="1"))
    assert response.status_code == 302, response.content.decode()[-2000:]
    rule.refresh_from_db()
    assert rule.conditions == when
