"""The rule builder: a rule's conditions as rows of form fields (a test picked from a list, each
with the input it needs), turned into exactly the JSON `conditions.parse` reads, and back.

A row is one test of the top-level group ("all" or "any"). A nested group, or anything the rows
cannot show, stays a row of its own written in JSON, so that every stored rule opens in the
builder and saves unchanged. Adding and removing rows works without JavaScript (submit buttons
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
    "": [],
}


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

    def shown(self) -> list[forms.BoundField]:
        """The row's fields after its type, each marked whether its test uses it."""
        wanted = FIELDS_FOR.get(self.kind(), [])
        rows = []
        for name in self.fields:
            if name in ("type", "negate"):
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


def split(data: dict[str, Any] | None) -> tuple[str, list[dict[str, Any]]]:
    """Stored conditions as ("all" or "any", the rows' initial values)."""
    data = data or {}
    plain = set(data) <= {"all", "any", "negate"} and not data.get("negate")
    if not plain or ("all" in data and "any" in data):
        return "all", [to_initial(data)]  # shown whole, as one JSON row
    match = "any" if data.get("any") is not None else "all"
    return match, [to_initial(n) for n in data.get(match) or []]


def join(match: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The rows' tests as the conditions JSON ({} when there is none: every conversation)."""
    if match != "any" and len(nodes) == 1 and "type" not in nodes[0] and nodes[0].get("negate"):
        return nodes[0]  # a negated whole, shown as one JSON row by `split`
    return {"any" if match == "any" else "all": nodes} if nodes else {}


ConditionFormSet = forms.formset_factory(ConditionForm, extra=0, max_num=conditions.MAX_NODES)


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


def edit_rows(data: QueryDict, prefix: str, *, add: bool, remove: int | None) -> QueryDict:
    """`data` with one empty row added at the end, or row `remove` taken out (the later rows
    renumbered), for a page re-shown rather than saved."""
    out = data.copy()
    total = int(data.get(f"{prefix}-TOTAL_FORMS") or 0)
    if remove is not None and 0 <= remove < total:
        for key in list(out):
            if key.startswith(f"{prefix}-") and key.split("-")[1].isdigit():
                del out[key]
        for key in data:
            parts = key.split("-", 2)
            if len(parts) == 3 and parts[0] == prefix and parts[1].isdigit():
                i = int(parts[1])
                if i != remove:
                    new = f"{prefix}-{i - 1 if i > remove else i}-{parts[2]}"
                    out.setlist(new, data.getlist(key))
        total -= 1
    if add:
        total += 1
    out[f"{prefix}-TOTAL_FORMS"] = str(total)
    out[f"{prefix}-INITIAL_FORMS"] = "0"
    return out
