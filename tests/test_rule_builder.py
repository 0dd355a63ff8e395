"""The rule builder: every condition and action the engine knows has its inputs, and a rule
opened in the builder and saved again keeps exactly the JSON it had."""

from __future__ import annotations

import typing
from html.parser import HTMLParser
from typing import Any

import pytest

from comptoir.accounts.models import Role, Team, User
from comptoir.automation import conditions, effects, rule_builder, rules_views
from comptoir.automation import rules as rule_actions
from comptoir.automation.actions import save_template
from comptoir.automation.models import Rule
from comptoir.inbox.models import Channel, Tag

# One example of each test; a test the engine gains without a widget (or an example) fails below.
CONDITION_SAMPLES: dict[str, dict[str, Any]] = {
    "channel": {"type": "channel", "values": ["{channel}"]},
    "marketplace": {"type": "marketplace", "values": ["amazon", "ebay"]},
    "shop": {"type": "shop", "values": ["{shop}"], "negate": True},
    "intent": {"type": "intent", "values": ["order_tracking", "not_received"]},
    "language": {"type": "language", "values": ["fr"]},
    "urgency": {"type": "urgency", "values": ["high"]},
    "sentiment": {"type": "sentiment", "values": ["negative"]},
    "order_status": {"type": "order_status", "values": ["none", "shipped"]},
    "assignee": {"type": "assignee", "values": ["none", "{user}"]},
    "status": {"type": "status", "values": ["open"]},
    "tags": {"type": "tags", "values": ["vip"], "negate": True},
    "customer_tag": {"type": "customer_tag", "values": ["vip", "gone-tag"]},
    "sla_state": {"type": "sla_state", "values": ["at_risk", "breached"]},
    "keywords": {"type": "keywords", "where": "subject", "words": ["cassé", "où est ma commande"]},
    "regex": {"type": "regex", "where": "body", "pattern": r"\d{3}-\d{7}-\d{7}"},
    "past_conversations": {"type": "past_conversations", "min": 1, "max": 5},
    "business_hours": {"type": "business_hours", "value": False},
    "survey_score": {"type": "survey_score", "max": 2},
}
ACTION_SAMPLES: dict[str, dict[str, Any]] = {
    "tag": {"type": "tag", "tag": "damaged"},
    "assign_agent": {"type": "assign_agent", "user_id": "{user}"},
    "assign_team": {"type": "assign_team", "team_id": "{team}", "strategy": "least_load"},
    "set_priority": {"type": "set_priority", "priority": 3},
    "set_status": {"type": "set_status", "status": "pending"},
    "snooze": {"type": "snooze", "hours": 48},
    "reply_template": {
        "type": "reply_template",
        "template_id": "{template}",
        "then_status": "pending",
    },
    "add_note": {"type": "add_note", "text": "Check the photos"},
    "notify": {"type": "notify", "user_ids": ["{user}"], "text": "Look"},
    "no_response_needed": {"type": "no_response_needed"},
    "open_case": {"type": "open_case", "kind": "damaged"},
    "stop": {"type": "stop"},
}


def _engine_condition_types() -> set[str]:
    found: set[str] = set()
    for cls in conditions._Leaf.__subclasses__():
        found |= set(typing.get_args(cls.model_fields["type"].annotation))
    return found


def _engine_action_types() -> set[str]:
    union = typing.get_args(effects.Action)[0]
    return {typing.get_args(c.model_fields["type"].annotation)[0] for c in typing.get_args(union)}


def test_every_condition_and_action_of_the_engine_has_a_widget() -> None:
    engine = _engine_condition_types()
    assert engine == set(CONDITION_SAMPLES), "give the new test a sample here"
    assert engine <= set(rule_builder.CONDITION_TYPES)
    assert all(rule_builder.FIELDS_FOR[t] for t in engine)
    actions = _engine_action_types()
    assert actions == set(ACTION_SAMPLES), "give the new action a sample here"
    assert actions <= {code for code, _label in rules_views.ACTION_TYPES}
    assert actions <= set(rules_views.ACTION_FIELDS)


# -- the page's form read back as a browser would submit it ----------------------------------


class _FormReader(HTMLParser):
    """The fields of the form with id `rule-form` as a browser submits them (no script)."""

    def __init__(self) -> None:
        super().__init__()
        self.data: list[tuple[str, str]] = []
        self.inside = False
        self.in_template = 0
        self.select: str | None = None
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.inside = a.get("id") == "rule-form"
        if tag == "template":
            self.in_template += 1
        if not self.inside or self.in_template:
            return
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind not in ("submit", "button"):
                self.data.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select":
            self.select = a.get("name")
        elif tag == "option" and self.select and "selected" in a:
            self.data.append((self.select, a.get("value", "")))
        elif tag == "textarea":
            self.textarea, self.text = a.get("name"), ""

    def handle_data(self, data: str) -> None:
        if self.textarea:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.inside = False
        elif tag == "template":
            self.in_template -= 1
        elif tag == "select":
            self.select = None
        elif tag == "textarea" and self.textarea:
            # A browser drops the newline right after <textarea>.
            self.data.append((self.textarea, self.text.removeprefix("\n")))
            self.textarea = None


def form_data(html: str, **extra: str) -> dict[str, Any]:
    reader = _FormReader()
    reader.feed(html)
    out: dict[str, Any] = {}
    for name, value in reader.data:
        out.setdefault(name, []).append(value)
    for name, value in extra.items():
        out[name] = [value]
    return out


@pytest.fixture
def refs(db: None, supervisor: User, channel: Channel) -> dict[str, str]:
    team = Team.objects.create(name="Logistics")
    agent = User.objects.create_user("tom", "tom@example.com", "pw", role=Role.AGENT)
    team.members.add(agent)
    template = save_template(
        None, name="Thanks", shop=None, versions={"fr": ("", "Merci {{ shop_name }}")}
    )
    Tag.objects.create(name="vip")
    return {
        "channel": str(channel.pk),
        "shop": str(channel.shop_id),
        "user": str(agent.pk),
        "team": str(team.pk),
        "template": str(template.pk),
    }


def _fill(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {k: _fill(v, refs) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, refs) for v in node]
    if isinstance(node, str) and node.startswith("{") and node[1:-1] in refs:
        return refs[node[1:-1]]
    return node


def _ids_as_numbers(action: dict[str, Any]) -> dict[str, Any]:
    out = dict(action)
    for key in ("user_id", "team_id", "template_id"):
        if key in out:
            out[key] = int(out[key])
    if "user_ids" in out:
        out["user_ids"] = [int(u) for u in out["user_ids"]]
    return out


def _round_trip(client: Any, rule: Rule) -> Rule:
    page = client.get(f"/settings/rules/{rule.pk}/").content.decode()
    response = client.post(f"/settings/rules/{rule.pk}/", form_data(page, save="1"))
    assert response.status_code == 302, response.content.decode()[-3000:]
    return Rule.objects.get(pk=rule.pk)


def test_each_condition_and_action_opens_in_the_builder_and_saves_unchanged(
    client: Any, supervisor: User, refs: dict[str, str]
) -> None:
    client.force_login(supervisor)
    when = {"all": [_fill(c, refs) for c in CONDITION_SAMPLES.values()]}
    do = [_ids_as_numbers(_fill(a, refs)) for a in ACTION_SAMPLES.values()]
    rule = rule_actions.create_rule(
        actor=supervisor, name="Everything", trigger="message_received", conditions=when, actions=do
    )

    saved = _round_trip(client, rule)

    assert saved.conditions == when
    assert effects.parse(saved.actions) == effects.parse(do)
    assert (saved.name, saved.trigger) == ("Everything", "message_received")


@pytest.mark.parametrize(
    "when",
    [
        {},
        {"any": [{"type": "intent", "values": ["refund"]}, {"type": "language", "values": ["de"]}]},
        {
            "all": [
                {"type": "marketplace", "values": ["amazon"]},
                {
                    "any": [
                        {"type": "intent", "values": ["order_tracking"]},
                        {"type": "keywords", "where": "any", "words": ["where is my order"]},
                    ]
                },
            ]
        },
        {"any": [{"type": "status", "values": ["open"]}], "negate": True},
    ],
)
def test_groups_and_nesting_survive_a_save_from_the_builder(
    client: Any, supervisor: User, when: dict[str, Any]
) -> None:
    client.force_login(supervisor)
    rule = rule_actions.create_rule(
        actor=supervisor,
        name="Groups",
        trigger="message_received",
        conditions=when,
        actions=[{"type": "tag", "tag": "x"}],
    )
    assert _round_trip(client, rule).conditions == when


def test_a_rule_is_built_from_the_lists_without_any_json(
    client: Any, supervisor: User, refs: dict[str, str]
) -> None:
    client.force_login(supervisor)
    page = client.get("/settings/rules/new").content.decode()
    assert 'name="conditions"' not in page  # the raw JSON is for admins
    data = form_data(page, name="Damaged parcels", trigger="message_received")
    data |= {
        "match": ["any"],
        "conditions-0-type": ["keywords"],
        "conditions-0-words": ["cassé\ncarton écrasé\n"],
        "conditions-0-where": ["any"],
        "actions-0-type": ["snooze"],
        "actions-0-hours": ["2"],
        "actions-0-unit": ["days"],
    }
    added = client.post("/settings/rules/new", {**data, "add_conditions": "1"})
    assert added.status_code == 200
    data = form_data(added.content.decode())
    assert data["conditions-TOTAL_FORMS"] == ["2"]
    assert data["conditions-0-words"] == ["cassé\ncarton écrasé\n"]
    data |= {"conditions-1-type": ["intent"], "conditions-1-in_intent": ["damaged_or_defective"]}
    shown = client.post("/settings/rules/new", {**data, "refresh": "1"})
    assert shown.status_code == 200  # the fields of the tests chosen, nothing saved
    assert not Rule.objects.exists()
    second_row = shown.content.decode().split('name="conditions-1-type"')[1]
    assert 'data-field="in_intent">' in second_row  # shown, not hidden
    assert 'data-field="words" hidden>' in second_row

    response = client.post("/settings/rules/new", {**data, "save": "1"})

    assert response.status_code == 302
    rule = Rule.objects.get()
    assert rule.conditions == {
        "any": [
            {"type": "keywords", "where": "any", "words": ["cassé", "carton écrasé"]},
            {"type": "intent", "values": ["damaged_or_defective"]},
        ]
    }
    assert rule.actions == [{"type": "snooze", "hours": 48.0}]


def test_a_row_is_removed_without_javascript_and_the_others_keep_their_values(
    client: Any, supervisor: User
) -> None:
    client.force_login(supervisor)
    data = form_data(client.get("/settings/rules/new").content.decode(), name="R")
    data |= {
        "conditions-TOTAL_FORMS": ["3"],
        "conditions-0-type": ["status"],
        "conditions-0-in_status": ["open"],
        "conditions-1-type": ["urgency"],
        "conditions-1-in_urgency": ["high"],
        "conditions-2-type": ["language"],
        "conditions-2-in_language": ["fr", "de"],
    }
    page = client.post("/settings/rules/new", {**data, "remove_conditions": "1"})

    after = form_data(page.content.decode())
    assert after["conditions-TOTAL_FORMS"] == ["2"]
    assert after["conditions-0-in_status"] == ["open"]
    assert after["conditions-1-type"] == ["language"]
    assert after["conditions-1-in_language"] == ["fr", "de"]
    assert "This field is required" not in page.content.decode()
    assert not Rule.objects.exists()


def test_a_row_without_a_value_is_refused_with_the_reason(client: Any, supervisor: User) -> None:
    client.force_login(supervisor)
    data = form_data(client.get("/settings/rules/new").content.decode(), name="R")
    data |= {"conditions-0-type": ["intent"], "actions-0-type": ["tag"], "actions-0-tag": ["x"]}
    page = client.post("/settings/rules/new", {**data, "save": "1"})
    assert page.status_code == 200
    assert "Pick at least one value." in page.content.decode()
    french = client.post(
        "/settings/rules/new", {**data, "save": "1"}, headers={"Accept-Language": "fr"}
    )
    assert "Choisissez au moins une valeur." in french.content.decode()
    assert not Rule.objects.exists()


def test_admins_may_save_raw_json_instead(client: Any, channel: Channel) -> None:
    admin = User.objects.create_user("ada", "ada@example.com", "pw", role=Role.ADMIN)
    client.force_login(admin)
    page = client.get("/settings/rules/new").content.decode()
    assert 'name="conditions"' in page
    data = form_data(page, name="Raw", trigger="message_received", use_json="on")
    data |= {
        "conditions": ['{"all": [{"type": "tags", "values": ["vip"]}]}'],
        "actions-0-type": ["stop"],
    }
    assert client.post("/settings/rules/new", data).status_code == 302
    assert Rule.objects.get().conditions == {"all": [{"type": "tags", "values": ["vip"]}]}


def test_the_saved_rule_shows_its_dry_run_beside_the_form(
    client: Any, supervisor: User, make_inbound: Any
) -> None:
    from comptoir.inbox.ingest import ingest

    conv_id = ingest(
        make_inbound(subject="Colis cassé", text="Le carton est cassé")
    ).conversation_id
    client.force_login(supervisor)
    rule = rule_actions.create_rule(
        actor=supervisor,
        name="Broken",
        trigger="message_received",
        conditions={"all": [{"type": "keywords", "words": ["cassée"]}]},
        actions=[{"type": "tag", "tag": "broken"}],
    )
    page = client.get(f"/settings/rules/{rule.pk}/").content.decode()
    panel = page[page.index('id="dry-run-panel"') :]
    assert f"#{conv_id} Colis cassé" in panel
