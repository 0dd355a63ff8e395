"""The rule builder: a rule's conditions as rows of form fields (a test picked from a list, each
with the input it needs), turned into exactly the JSON `conditions.parse` reads, and back.

A row is one test, or the head of a nested group ("all" or "any" of the rows below it); each
row carries its depth, so the rows are the tree written as an outline: (A and B) or (C and not D)
is a top-level "any" over two group rows, each followed by its two tests one level deeper. The
stored JSON is unchanged (the engine always read nested groups): old rules open as they are.
Anything the rows cannot show (a group deeper than `MAX_ROW_DEPTH`, a group with both "all" and
"any") stays a row of its own written in JSON, so that every stored rule opens in the builder
and saves unchanged. Adding and removing rows works without JavaScript (submit buttons
rewrite the formset's data); `static/automation/rules.js` does the same in place.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.http import QueryDict
from django.utils.translation import get_language_info
from django.utils.translation import gettext_lazy as _

from comptoir.automation import conditions
from comptoir.lib import intents

Choices = list[tuple[str, Any]]

# Every test the engine knows, in the order the list offers them, with its label.
CONDITION_TYPES: dict[str, Any] = {
    "marketplace": _("Marketplace"),
    "channel": _("Channel"),
    "shop": _("Shop"),
    "intent": _("Intent"),
    "language": _("Language"),
    "keywords": _("Words in the message"),
    "regex": _("Pattern in the message (regular expression)"),
    "urgency": _("Urgency"),
    "sentiment": _("Sentiment"),
    "tags": _("Tags"),
    "customer_tag": _("A tag on the buyer's conversations"),
    "assignee": _("Assignee"),
    "status": _("Status"),
    "order_status": _("Order status"),
    "sla_state": _("Deadline state"),
    "past_conversations": _("Number of the buyer's other conversations"),
    "business_hours": _("Business hours"),
    "survey_score": _("Survey score"),
    "subgroup": _("A group of conditions"),
    "group": _("A group written in JSON (advanced)"),
}
WHERE = [("any", _("subject or text")), ("subject", _("subject")), ("body", _("text"))]

# The fields each test shows (the rest of the row is hidden), read by the page's script too.
FIELDS_FOR: dict[str, list[str]] = {
    **{t: [f"in_{t}"] for t in conditions.IN_TYPES},
    "keywords": ["words", "where"],
    "regex": ["pattern", "where"],
    "past_conversations": ["min", "max"],
    "survey_score": ["min", "max"],
    "business_hours": ["business"],
    "group": ["raw"],
    "subgroup": ["group_match", "group_buttons"],
    "": [],
}
# Group rows nest this deep at most (the top-level group is one more level: MAX_DEPTH is 5).
MAX_ROW_DEPTH = conditions.MAX_DEPTH - 2
GROUP_MATCH = [("all", _("all of these")), ("any", _("any of these"))]


class ConditionForm(forms.Form):
    """One test. `choices` (from `value_choices`) gives each "is one of" test its list."""

    type = forms.ChoiceField(
        label=_("Condition"), required=False, choices=[("", "—"), *CONDITION_TYPES.items()]
    )
    negate = forms.BooleanField(label=_("Not"), required=False)
    words = forms.CharField(
        label=_("Words or phrases, one per line"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Case, accents and the usual word endings are ignored."),
    )
    pattern = forms.CharField(label=_("Pattern"), required=False, max_length=500)
    where = forms.ChoiceField(label=_("In"), required=False, choices=WHERE)
    min = forms.IntegerField(label=_("At least"), required=False, min_value=0)
    max = forms.IntegerField(label=_("At most"), required=False, min_value=0)
    business = forms.ChoiceField(
        label=_("When"),
        required=False,
        choices=[("1", _("within business hours")), ("0", _("outside business hours"))],
    )
    raw = forms.CharField(
        label=_("Group (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "code"}),
    )
    group_match = forms.ChoiceField(
        label=_("The group holds when it meets"), required=False, choices=GROUP_MATCH
    )
    depth = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_ROW_DEPTH + 1, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, choices: dict[str, Choices] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        initial = self.initial or {}
        for kind in conditions.IN_TYPES:
            known = list((choices or {}).get(kind, []))
            # A stored value the list no longer offers (a deleted tag) stays selectable.
            names = {str(v) for v, _label in known}
            current = initial.get(f"in_{kind}", [])
            if self.is_bound and hasattr(self.data, "getlist"):
                current = self.data.getlist(self.add_prefix(f"in_{kind}"))
            known += [(v, v) for v in current if v not in names]
            self.fields[f"in_{kind}"] = forms.MultipleChoiceField(
                label=_("is one of"),
                required=False,
                choices=known,
                widget=forms.SelectMultiple(attrs={"size": min(6, max(2, len(known)))}),
            )

    def kind(self) -> str:
        """The row's test, as submitted or as stored."""
        if self.is_bound:
            return str(self.data.get(self.add_prefix("type"), ""))
        return str(self.initial.get("type", ""))

    def level(self) -> int:
        """The row's depth in the outline (0: in the top-level group)."""
        key = self.add_prefix("depth")
        raw = self.data.get(key) if self.is_bound else self.initial.get("depth")
        try:
            return max(0, min(int(raw or 0), MAX_ROW_DEPTH + 1))
        except (TypeError, ValueError):
            return 0

    def may_nest(self) -> bool:
        """Whether a group row may hold another group."""
        return self.level() < MAX_ROW_DEPTH

    def shown(self) -> list[forms.BoundField]:
        """The row's fields after its type, each marked whether its test uses it."""
        wanted = FIELDS_FOR.get(self.kind(), [])
        rows = []
        for name in self.fields:
            if name in ("type", "negate", "depth"):
                continue
            bound = self[name]
            bound.used = name in wanted  # type: ignore[attr-defined]
            rows.append(bound)
        return rows

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            self.condition = to_condition(data)
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
        return data


def to_condition(d: dict[str, Any]) -> dict[str, Any] | None:
    """A row's cleaned data as one test of the JSON (None: an empty row)."""
    kind = d.get("type") or ""
    if not kind:
        return None
    node: dict[str, Any]
    if kind in conditions.IN_TYPES:
        values = list(d.get(f"in_{kind}") or [])
        if not values:
            raise ValidationError(_("Pick at least one value."))
        node = {"type": kind, "values": values}
    elif kind == "keywords":
        words = [w.strip() for w in (d.get("words") or "").splitlines() if w.strip()]
        if not words:
            raise ValidationError(_("Write at least one word."))
        node = {"type": kind, "where": d.get("where") or "any", "words": words}
    elif kind == "regex":
        node = {"type": kind, "where": d.get("where") or "any", "pattern": d.get("pattern") or ""}
    elif kind in ("past_conversations", "survey_score"):
        node = {"type": kind}
        node.update({k: d[k] for k in ("min", "max") if d.get(k) is not None})
    elif kind == "business_hours":
        node = {"type": kind, "value": d.get("business", "1") != "0"}
    elif kind == "group":
        node = _json_object(d.get("raw") or "")
    elif kind == "subgroup":
        node = {"any" if d.get("group_match") == "any" else "all": []}  # filled by `nest`
    else:
        raise ValidationError(_("Unknown condition."))
    if d.get("negate"):
        node["negate"] = True
    return node


def _json_object(raw: str) -> dict[str, Any]:
    try:
        node = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from None
    if not isinstance(node, dict):
        raise ValidationError(_('Write an object such as {"all": [...]}.'))
    return node


def to_initial(node: dict[str, Any]) -> dict[str, Any]:
    """One test of the JSON as a row's initial values."""
    kind = node.get("type")
    initial: dict[str, Any] = {"type": kind, "negate": bool(node.get("negate"))}
    if kind in conditions.IN_TYPES:
        values = node.get("values", [])
        values = values if isinstance(values, list) else [values]
        initial[f"in_{kind}"] = [str(v) for v in values]
    elif kind == "keywords":
        initial |= {"words": "\n".join(node.get("words", [])), "where": node.get("where", "any")}
    elif kind == "regex":
        initial |= {"pattern": node.get("pattern", ""), "where": node.get("where", "any")}
    elif kind in ("past_conversations", "survey_score"):
        initial |= {"min": node.get("min"), "max": node.get("max")}
    elif kind == "business_hours":
        initial["business"] = "1" if node.get("value", True) else "0"
    else:
        return {"type": "group", "raw": json.dumps(node, indent=2, ensure_ascii=False)}
    return initial


def _is_group(node: Any) -> bool:
    return (
        isinstance(node, dict)
        and "type" not in node
        and set(node) <= {"all", "any", "negate"}
        and ("all" in node) != ("any" in node)
        and isinstance(node.get("all", node.get("any")), list)
    )


def rows_of(node: dict[str, Any], depth: int) -> list[dict[str, Any]]:
    """One node of the tree as rows: a group's head row followed by its children's, deeper."""
    if _is_group(node) and depth <= MAX_ROW_DEPTH:
        key = "any" if "any" in node else "all"
        head = {"type": "subgroup", "group_match": key, "negate": bool(node.get("negate"))}
        children = [r for child in node[key] for r in rows_of(child, depth + 1)]
        return [{**head, "depth": depth}, *children]
    return [{**to_initial(node), "depth": depth}]


def split(data: dict[str, Any] | None) -> tuple[str, list[dict[str, Any]]]:
    """Stored conditions as ("all" or "any", the rows' initial values)."""
    data = data or {}
    if not _is_group(data):
        return "all", [to_initial(data)] if data else []  # shown whole, as one JSON row
    if data.get("negate"):
        return "all", rows_of(data, 0)  # the negated whole as one group row
    match = "any" if "any" in data else "all"
    return match, [r for n in data[match] for r in rows_of(n, 0)]


def nest(rows: list[tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """(depth, node) rows in outline order as the tree: a group row's node takes the rows after
    it that are deeper than it. A row deeper than any open group joins the innermost one."""
    top: list[dict[str, Any]] = []
    open_groups: list[tuple[int, list[dict[str, Any]]]] = [(-1, top)]
    for depth, node in rows:
        while len(open_groups) > 1 and depth <= open_groups[-1][0]:
            open_groups.pop()
        open_groups[-1][1].append(node)
        if _is_group(node):
            open_groups.append((depth, node["any" if "any" in node else "all"]))
    return top


def empty_groups(nodes: list[dict[str, Any]]) -> int:
    """How many groups of the tree hold no test (an empty "all" would match everything)."""
    count = 0
    for node in nodes:
        if _is_group(node):
            children = node["any" if "any" in node else "all"]
            count += (not children) + empty_groups(children)
    return count


def join(match: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows' tests as the conditions JSON ({} when there is none: every conversation)."""
    if match != "any" and len(nodes) == 1 and "type" not in nodes[0] and nodes[0].get("negate"):
        return nodes[0]  # a negated whole, shown as one group row by `split`
    return {"any" if match == "any" else "all": nodes} if nodes else {}


class BaseConditionFormSet(forms.BaseFormSet):  # type: ignore[type-arg]
    """The rows, and once valid, the tree they write (`nodes`)."""

    nodes: list[dict[str, Any]] = []

    def clean(self) -> None:
        if any(self.errors):
            return
        rows = [
            (f.level(), c) for f in self.forms if (c := getattr(f, "condition", None)) is not None
        ]
        self.nodes = nest(rows)
        if empty_groups(self.nodes):
            raise ValidationError(_("A group has no condition: add one to it or remove the group."))


ConditionFormSet = forms.formset_factory(
    ConditionForm, formset=BaseConditionFormSet, extra=0, max_num=conditions.MAX_NODES
)


# -- the lists of values -------------------------------------------------------------------------


def value_choices() -> dict[str, Choices]:
    """What each "is one of" test offers, read once per page (not once per row)."""
    from comptoir.accounts.models import User
    from comptoir.inbox.models import Channel, Marketplace, Shop, SLAState, Status, Tag
    from comptoir.orders.models import OrderStatus
    from comptoir.triage.language import LANGUAGES

    tags = [(n, n) for n in Tag.objects.order_by("name").values_list("name", flat=True)[:500]]
    users = User.objects.filter(is_active=True).order_by("username")
    return {
        "channel": [(str(c.pk), c.name) for c in Channel.objects.order_by("name")],
        "marketplace": list(Marketplace.choices),
        "shop": [(str(s.pk), s.name) for s in Shop.objects.order_by("name")],
        "intent": [*intents.LABELS.items(), (intents.UNSURE, intents.UNSURE_LABEL)],
        "language": [(c, _language_name(c)) for c in LANGUAGES],
        "urgency": list(intents.URGENCIES.items()),
        "sentiment": list(intents.SENTIMENTS.items()),
        "tags": tags,
        "customer_tag": tags,
        "assignee": [("none", _("Nobody")), *((str(u.pk), u.display_name) for u in users)],
        "status": list(Status.choices),
        "order_status": [("none", _("No order")), *OrderStatus.choices],
        "sla_state": list(SLAState.choices),
    }


def _language_name(code: str) -> str:
    try:
        return str(get_language_info(code)["name_translated"])
    except KeyError:
        return code


# -- rows added and removed without JavaScript --------------------------------------------------


def _row_depth(row: dict[str, list[str]]) -> int:
    raw = (row.get("depth") or ["0"])[0]
    return int(raw) if raw.isdigit() else 0


def _group_end(rows: list[dict[str, list[str]]], at: int) -> int:
    """The index after row `at` and the rows deeper than it (its group's content)."""
    end = at + 1
    while end < len(rows) and _row_depth(rows[end]) > _row_depth(rows[at]):
        end += 1
    return end


def edit_rows(
    data: QueryDict,
    prefix: str,
    *,
    add: bool = False,
    remove: int | None = None,
    group: bool = False,
    into: int | None = None,
) -> QueryDict:
    """`data` re-written for a page re-shown rather than saved: row `remove` taken out (a group
    row with its content), then an empty row (`add`) or a new group with one empty row in it
    (`group`) put at the end, or at the end of the group that row `into` heads."""
    total = int(data.get(f"{prefix}-TOTAL_FORMS") or 0)
    rows: list[dict[str, list[str]]] = [{} for _ in range(total)]
    out = data.copy()
    for key in data:
        parts = key.split("-", 2)
        if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit():
            del out[key]
            if int(parts[1]) < total:
                rows[int(parts[1])][parts[2]] = data.getlist(key)
    if remove is not None and 0 <= remove < len(rows):
        grouped = (rows[remove].get("type") or [""])[0] == "subgroup"
        del rows[remove : _group_end(rows, remove) if grouped else remove + 1]
    if add or group:
        depth, at = 0, len(rows)
        if into is not None and 0 <= into < len(rows):
            depth, at = _row_depth(rows[into]) + 1, _group_end(rows, into)
        new = [{"depth": [str(depth)]}]
        if group and depth <= MAX_ROW_DEPTH:
            head = {"type": ["subgroup"], "group_match": ["all"], "depth": [str(depth)]}
            new = [head, {"depth": [str(depth + 1)]}]
        rows[at:at] = new
    for index, row in enumerate(rows):
        for name, values in row.items():
            out.setlist(f"{prefix}-{index}-{name}", values)
    out[f"{prefix}-TOTAL_FORMS"] = str(len(rows))
    out[f"{prefix}-INITIAL_FORMS"] = "0"
    return out
