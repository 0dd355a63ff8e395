"""The rules settings pages (`/settings/rules/`), for owners, admins and supervisors: the rules in
order (moved up and down), switched on and off, created and edited with a form (trigger, the
conditions and the actions as rows picked from lists: `rule_builder`), the dry run beside it, and
the recent runs.

Thin views: every change goes through `automation.rules`, the dry run through `preview.dry_run`.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, OuterRef, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from comptoir.accounts.models import Role, Team, User
from comptoir.accounts.permissions import require
from comptoir.automation import preview, rule_builder
from comptoir.automation import rules as rule_actions
from comptoir.automation.models import Rule, RuleRun, RunOutcome, Template, Trigger
from comptoir.inbox.models import Priority, Shop, Status
from comptoir.lib import cases as case_words

DRY_RUN_DAYS = 7


def _manager(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return require(
        user, rule_actions.can_manage_rules, "rules are for owners, admins and supervisors"
    )


# -- forms -------------------------------------------------------------------------------------

ACTION_TYPES = [
    ("", "—"),
    ("tag", _("Tag")),
    ("assign_agent", _("Assign to an agent")),
    ("assign_team", _("Assign to a team")),
    ("set_priority", _("Set priority")),
    ("set_status", _("Set status")),
    ("snooze", _("Snooze")),
    ("reply_template", _("Reply with a template (automatic reply)")),
    ("add_note", _("Add an internal note")),
    ("notify", _("Notify")),
    ("no_response_needed", _("Mark as needing no response")),
    ("open_case", _("Open a case")),
    ("stop", _("Stop further rules")),
]


class RuleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=200)
    shop = forms.ModelChoiceField(
        Shop.objects.order_by("name"), required=False, label=_("Shop"), empty_label=_("All shops")
    )
    trigger = forms.ChoiceField(label=_("When"), choices=Trigger.choices)
    silent_days = forms.IntegerField(
        label=_("Days without an answer (for “no reply from the buyer”)"),
        required=False,
        min_value=1,
        max_value=rule_actions.MAX_SILENT_DAYS,
    )
    match = forms.ChoiceField(
        label=_("Match"),
        required=False,
        initial="all",
        choices=[("all", _("all of these conditions")), ("any", _("any of these conditions"))],
        widget=forms.RadioSelect,
    )
    conditions = forms.CharField(
        label=_("Conditions (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
        help_text=_("Empty: every conversation. See the examples below."),
    )
    use_json = forms.BooleanField(
        label=_("Save the JSON above instead of the conditions built with the lists"),
        required=False,
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    stop_processing = forms.BooleanField(label=_("Stop further rules"), required=False)

    def clean_conditions(self) -> dict[str, Any]:
        raw = self.cleaned_data["conditions"].strip()
        if not raw:
            return {}
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from None
        if not isinstance(data, dict):
            raise ValidationError(_('Write an object such as {"all": [...]}.'))
        return data


class ActionForm(forms.Form):
    type = forms.ChoiceField(label=_("Action"), choices=ACTION_TYPES, required=False)
    tag = forms.CharField(label=_("Tag"), max_length=64, required=False)
    user = forms.ModelChoiceField(
        User.objects.filter(is_active=True).exclude(role=Role.ANALYST).order_by("username"),
        label=_("Agent"),
        required=False,
    )
    team = forms.ModelChoiceField(Team.objects.order_by("name"), label=_("Team"), required=False)
    strategy = forms.ChoiceField(
        label=_("Then"),
        required=False,
        choices=[
            ("round_robin", _("an agent in turn (round-robin)")),
            ("least_load", _("the agent with the fewest open conversations")),
            ("team_only", _("the team only")),
        ],
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"), choices=Priority.choices, coerce=int, required=False
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[(s.value, s.label) for s in Status if s != Status.SNOOZED],
    )
    hours = forms.FloatField(label=_("For"), required=False, min_value=0.1)
    unit = forms.ChoiceField(
        label=_("Unit"), required=False, choices=[("hours", _("hours")), ("days", _("days"))]
    )
    template = forms.ModelChoiceField(
        Template.objects.filter(is_active=True).order_by("name"),
        label=_("Template"),
        required=False,
    )
    then_status = forms.ChoiceField(
        label=_("Then"),
        required=False,
        choices=[
            ("", _("leave the status as it is")),
            *((s.value, s.label) for s in Status if s != Status.SNOOZED),
        ],
    )
    text = forms.CharField(
        label=_("Text"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    case_kind = forms.ChoiceField(
        label=_("Case kind"), required=False, choices=list(case_words.KINDS.items())
    )
    users = forms.ModelMultipleChoiceField(
        User.objects.filter(is_active=True).order_by("username"),
        label=_("People to notify (none: the assignee or the team)"),
        required=False,
    )

    def to_action(self) -> dict[str, Any] | None:
        d = self.cleaned_data
        kind = d.get("type")
        if not kind:
            return None
        action: dict[str, Any] = {"type": kind}
        if kind == "tag":
            action["tag"] = d.get("tag") or ""
        elif kind == "assign_agent":
            action["user_id"] = d["user"].pk if d.get("user") else 0
        elif kind == "assign_team":
            action["team_id"] = d["team"].pk if d.get("team") else 0
            action["strategy"] = d.get("strategy") or "round_robin"
        elif kind == "set_priority":
            action["priority"] = d.get("priority") if d.get("priority") is not None else 1
        elif kind == "set_status":
            action["status"] = d.get("status") or "open"
        elif kind == "snooze":
            action["hours"] = _hours(d)
        elif kind == "reply_template":
            action["template_id"] = d["template"].pk if d.get("template") else 0
            action.update({"then_status": d["then_status"]} if d.get("then_status") else {})
        elif kind == "add_note":
            action["text"] = d.get("text") or ""
        elif kind == "notify":
            action["user_ids"] = [u.pk for u in d.get("users") or []]
            action["text"] = d.get("text") or ""
        elif kind == "open_case":
            action["kind"] = d.get("case_kind") or ""
        return action

    def kind(self) -> str:
        if self.is_bound:
            return str(self.data.get(self.add_prefix("type"), ""))
        return str(self.initial.get("type", ""))

    def shown(self) -> list[forms.BoundField]:
        wanted = ACTION_FIELDS.get(self.kind(), [])
        rows = []
        for name in self.fields:
            if name != "type":
                bound = self[name]
                bound.used = name in wanted  # type: ignore[attr-defined]
                rows.append(bound)
        return rows


def _hours(d: dict[str, Any]) -> float:
    hours = d.get("hours") or 0
    return float(hours * 24 if d.get("unit") == "days" else hours)


# The fields each action shows (the page's script reads this too).
ACTION_FIELDS: dict[str, list[str]] = {
    "": [],
    "tag": ["tag"],
    "assign_agent": ["user"],
    "assign_team": ["team", "strategy"],
    "set_priority": ["priority"],
    "set_status": ["status"],
    "snooze": ["hours", "unit"],
    "reply_template": ["template", "then_status"],
    "add_note": ["text"],
    "notify": ["users", "text"],
    "no_response_needed": [],
    "open_case": ["case_kind"],
    "stop": [],
}
ActionFormSet = forms.formset_factory(ActionForm, extra=0, max_num=20)


def _action_initial(action: dict[str, Any]) -> dict[str, Any]:
    kind = action.get("type", "")
    initial: dict[str, Any] = {"type": kind}
    mapping = {
        "tag": "tag",
        "user_id": "user",
        "team_id": "team",
        "strategy": "strategy",
        "priority": "priority",
        "status": "status",
        "hours": "hours",
        "template_id": "template",
        "then_status": "then_status",
        "text": "text",
        "user_ids": "users",
        "kind": "case_kind",
    }
    for key, field in mapping.items():
        if key in action:
            initial[field] = action[key]
    hours = action.get("hours")
    if isinstance(hours, int | float) and hours >= 24 and hours % 24 == 0:
        initial |= {"hours": int(hours // 24), "unit": "days"}
    return initial


class Builder:
    """The rule form, its condition rows and its action rows, from a request or a rule."""

    def __init__(self, request: HttpRequest, rule: Rule | None) -> None:
        choices = rule_builder.value_choices()
        self.editing_rows = False
        if request.method == "POST":
            data = self._rows_edited(request.POST)
            self.form = RuleForm(data)
            self.built = "conditions-TOTAL_FORMS" in data
            self.conditions = rule_builder.ConditionFormSet(
                data if self.built else None,
                prefix="conditions",
                form_kwargs={"choices": choices},
            )
            self.actions = ActionFormSet(data, prefix="actions")
            return
        self.built = True
        stored = rule.conditions if rule is not None else {}
        match, rows = rule_builder.split(stored)
        initial: dict[str, Any] = {"is_active": True, "match": match}
        if rule is not None:
            initial |= {
                "name": rule.name,
                "shop": rule.shop_id,
                "trigger": rule.trigger,
                "silent_days": rule.silent_days,
                "conditions": json.dumps(stored, indent=2, ensure_ascii=False) if stored else "",
                "is_active": rule.is_active,
                "stop_processing": rule.stop_processing,
            }
        self.form = RuleForm(initial=initial)
        self.conditions = rule_builder.ConditionFormSet(
            initial=rows or [{}], prefix="conditions", form_kwargs={"choices": choices}
        )
        actions = [_action_initial(a) for a in (rule.actions if rule is not None else [])]
        self.actions = ActionFormSet(initial=actions or [{}], prefix="actions")

    def _rows_edited(self, post: Any) -> Any:
        """The POST data with a row added or removed when one of those buttons was pressed
        ("refresh" only shows the fields of the tests chosen: nothing is saved either)."""
        self.editing_rows = "refresh" in post
        for prefix in ("conditions", "actions"):
            add = f"add_{prefix}" in post
            removed = post.get(f"remove_{prefix}", "")
            # A condition group's own buttons: a row or a group added inside it.
            add_in = post.get(f"add_in_{prefix}", "")
            group_in = post.get(f"group_in_{prefix}", "")
            group = f"add_group_{prefix}" in post or group_in.isdigit()
            into = add_in or group_in
            if add or group or removed.isdigit() or into.isdigit():
                self.editing_rows = True
                post = rule_builder.edit_rows(
                    post,
                    prefix,
                    add=add or add_in.isdigit(),
                    remove=int(removed) if removed.isdigit() else None,
                    group=group,
                    into=int(into) if into.isdigit() else None,
                )
        return post

    def is_valid(self) -> bool:
        if self.editing_rows:
            return False
        valid = [self.form.is_valid(), self.actions.is_valid()]
        if self.built:
            valid.append(self.conditions.is_valid())
        return all(valid)

    def fields(self) -> dict[str, Any]:
        d = self.form.cleaned_data
        if self.built and not d.get("use_json"):
            assert isinstance(self.conditions, rule_builder.BaseConditionFormSet)
            nodes = self.conditions.nodes
            conditions_data = rule_builder.join(d.get("match") or "all", nodes)
        else:
            conditions_data = d["conditions"]
        return {
            "name": d["name"],
            "trigger": d["trigger"],
            "silent_days": d.get("silent_days"),
            "shop_id": d["shop"].pk if d.get("shop") else None,
            "conditions": conditions_data,
            "actions": [a for f in self.actions.forms if (a := f.to_action()) is not None],
            "is_active": d.get("is_active", False),
            "stop_processing": d.get("stop_processing", False),
        }


def _add_errors(form: RuleForm, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            target = {"shop": "shop", "silent_days": "silent_days"}.get(field, field)
            form.add_error(target if target in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


# -- views -------------------------------------------------------------------------------------


@login_required
def rules(request: HttpRequest) -> HttpResponse:
    _manager(request)
    rows = Rule.objects.select_related("shop").annotate(
        run_count=Count("runs"),
        failed_count=Count("runs", filter=Q(runs__outcome=RunOutcome.FAILED)),
        last_run_at=Max("runs__at"),
        last_failure=Subquery(
            RuleRun.objects.filter(rule=OuterRef("pk"), outcome=RunOutcome.FAILED)
            .order_by("-at", "-pk")
            .values("error")[:1]
        ),
    )
    return render(request, "automation/rules.html", {"rules": rows.order_by("position", "id")})


@login_required
def rule_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(Rule, pk=pk))


def _edit(request: HttpRequest, rule: Rule | None) -> HttpResponse:
    user = _manager(request)
    builder = Builder(request, rule)
    form = builder.form
    matches: list[preview.DryMatch] | None = None
    if request.method == "POST" and builder.is_valid():
        fields = builder.fields()
        try:
            if "dry_run" in request.POST:
                rule_actions.validate(
                    name=fields["name"],
                    trigger=fields["trigger"],
                    silent_days=fields["silent_days"],
                    conditions_data=fields["conditions"],
                    actions_data=fields["actions"],
                    shop_id=fields["shop_id"],
                )
                probe = Rule(**{k: v for k, v in fields.items() if k != "is_active"})
                matches = preview.dry_run(probe, days=DRY_RUN_DAYS)
            elif rule is None:
                created = rule_actions.create_rule(actor=user, **fields)
                return redirect("settings:rule_edit", pk=created.pk)
            else:
                rule_actions.update_rule(rule, actor=user, **fields)
                return redirect("settings:rule_edit", pk=rule.pk)
        except ValidationError as exc:
            _add_errors(form, exc)
    elif request.method == "GET" and rule is not None:
        # The saved rule's dry run beside its form.
        matches = preview.dry_run(rule, days=DRY_RUN_DAYS)
    runs = RuleRun.objects.filter(rule=rule).order_by("-at", "-pk")[:20] if rule is not None else []
    context = {
        "rule": rule,
        "form": form,
        "conditions": builder.conditions,
        "formset": builder.actions,
        "show_errors": not builder.editing_rows,
        "condition_fields": rule_builder.FIELDS_FOR,
        "action_fields": ACTION_FIELDS,
        "advanced": user.is_superuser or user.role in (Role.OWNER, Role.ADMIN),
        "matches": matches,
        "dry_run_days": DRY_RUN_DAYS,
        "runs": runs,
        "examples": EXAMPLES_JSON,
    }
    return render(request, "automation/rule_form.html", context)


@login_required
def rule_dry_run(request: HttpRequest, pk: int) -> HttpResponse:
    _manager(request)
    rule = get_object_or_404(Rule, pk=pk)
    matches = preview.dry_run(rule, days=DRY_RUN_DAYS)
    return render(
        request,
        "automation/rule_dry_run.html",
        {"rule": rule, "matches": matches, "dry_run_days": DRY_RUN_DAYS},
    )


@login_required
@require_POST
def rule_move(request: HttpRequest, pk: int) -> HttpResponse:
    user = _manager(request)
    rule = get_object_or_404(Rule, pk=pk)
    rule_actions.move(rule, actor=user, offset=-1 if request.POST.get("to") == "up" else 1)
    return redirect("settings:rules")


@login_required
@require_POST
def rule_active(request: HttpRequest, pk: int) -> HttpResponse:
    user = _manager(request)
    rule = get_object_or_404(Rule, pk=pk)
    try:
        rule_actions.set_active(rule, actor=user, active=request.POST.get("active") == "1")
    except ValidationError as exc:
        return HttpResponse("; ".join(exc.messages), status=422)
    return redirect("settings:rules")


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    user = _manager(request)
    rule_actions.delete_rule(get_object_or_404(Rule, pk=pk), actor=user)
    return redirect("settings:rules")


EXAMPLES = [
    (
        _("Amazon messages that ask where the order is, in five languages or by intent"),
        {
            "all": [
                {"type": "marketplace", "values": ["amazon"]},
                {
                    "any": [
                        {"type": "intent", "values": ["order_tracking"]},
                        {"type": "keywords", "words": ["where is my order", "où est ma commande"]},
                    ]
                },
            ]
        },
    ),
    (
        _("Out of business hours, not from an existing customer"),
        {
            "all": [
                {"type": "business_hours", "value": False},
                {"type": "past_conversations", "max": 0},
            ]
        },
    ),
    (
        _("An order number in the subject, unassigned, not tagged vip"),
        {
            "all": [
                {"type": "regex", "where": "subject", "pattern": r"\d{3}-\d{7}-\d{7}"},
                {"type": "assignee", "values": ["none"]},
                {"type": "tags", "values": ["vip"], "negate": True},
            ]
        },
    ),
]
EXAMPLES_JSON = [(label, json.dumps(data, ensure_ascii=False)) for label, data in EXAMPLES]
