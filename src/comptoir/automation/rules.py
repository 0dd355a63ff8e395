"""Every change to a rule goes through these functions (the settings page and the API alike).

A rule is validated whole before it is saved: its conditions (regexes included, with their time
guard) and its actions, and the users, teams and templates these name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from comptoir.accounts.models import Role
from comptoir.automation import conditions, effects, templating
from comptoir.automation.models import Rule, Trigger
from comptoir.inbox.models import Event, Shop

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.automation.models import Template

MANAGE_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.SUPERVISOR})
MAX_SILENT_DAYS = 365


def can_manage_rules(user: User) -> bool:
    return user.is_active and (user.is_superuser or user.role in MANAGE_ROLES)


def _check(actor: User | None) -> None:
    if actor is not None and not can_manage_rules(actor):
        raise PermissionDenied("rules are for owners, admins and supervisors")


def validate(
    *,
    name: str,
    trigger: str,
    silent_days: int | None,
    conditions_data: Any,
    actions_data: Any,
    shop_id: int | None,
) -> None:
    """Raise ValidationError (per field) when the rule cannot be saved as it is."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["a rule needs a name"]
    if trigger not in Trigger.values:
        errors["trigger"] = [f"unknown trigger {trigger!r} (use {', '.join(Trigger.values)})"]
    elif trigger == Trigger.BUYER_SILENT and (
        silent_days is None or not 1 <= silent_days <= MAX_SILENT_DAYS
    ):
        errors["silent_days"] = [f"give a number of days from 1 to {MAX_SILENT_DAYS}"]
    if shop_id is not None and not Shop.objects.filter(pk=shop_id).exists():
        errors["shop"] = [f"shop {shop_id} does not exist"]
    try:
        conditions.parse(conditions_data)
    except conditions.ConditionError as exc:
        errors["conditions"] = [str(exc)]
    try:
        parsed = effects.parse(actions_data)
        effects.check_references(parsed)
    except effects.EffectError as exc:
        errors["actions"] = [str(exc)]
    else:
        if not actions_data:
            errors["actions"] = ["a rule needs at least one action"]
        elif problems := _auto_reply_problems(parsed, trigger):
            errors["actions"] = problems
    if errors:
        raise ValidationError(errors)


def _auto_reply_problems(parsed: list[effects.Action], trigger: str) -> list[str]:
    """What the rule's automatic replies could not fill in when it runs: refused now rather
    than failing then (see templating.auto_reply_problems)."""
    known = _known(trigger)
    problems: list[str] = []
    for action in parsed:
        if isinstance(action, effects.ReplyTemplateAction):
            template = effects.load_template(action.template_id)
            if template is not None:
                problems += templating.auto_reply_problems(template, known=known)
    return problems


def rules_that_cannot_fill(template: Template) -> list[tuple[Rule, list[str]]]:
    """The active rules that reply automatically with `template`, each with what it could
    not fill in (for the template editor: a template edited after its rules were saved)."""
    found = []
    for rule in Rule.objects.filter(is_active=True).order_by("position", "pk"):
        try:
            parsed = effects.parse(rule.actions)
        except effects.EffectError:
            continue
        if any(
            isinstance(a, effects.ReplyTemplateAction) and a.template_id == template.pk
            for a in parsed
        ):
            problems = templating.auto_reply_problems(template, known=_known(rule.trigger))
            if problems:
                found.append((rule, problems))
    return found


def _known(trigger: str) -> frozenset[str]:
    if trigger == Trigger.MESSAGE_RECEIVED:
        return templating.KNOWN_ON_BUYER_MESSAGE
    return templating.ALWAYS_KNOWN


def _last_event_id() -> int:
    return int(Event.objects.aggregate(top=Max("pk"))["top"] or 0)


@transaction.atomic
def create_rule(
    *,
    actor: User | None,
    name: str,
    trigger: str,
    conditions: Any = None,
    actions: Any = None,
    shop_id: int | None = None,
    silent_days: int | None = None,
    is_active: bool = True,
    stop_processing: bool = False,
) -> Rule:
    """A new rule, last in the order. It acts on what happens from now on, not on history."""
    _check(actor)
    conditions = conditions or {}
    actions = actions or []
    validate(
        name=name,
        trigger=trigger,
        silent_days=silent_days,
        conditions_data=conditions,
        actions_data=actions,
        shop_id=shop_id,
    )
    last = Rule.objects.aggregate(top=Max("position"))["top"]
    return Rule.objects.create(
        name=name.strip()[:200],
        trigger=trigger,
        silent_days=silent_days if trigger == Trigger.BUYER_SILENT else None,
        conditions=conditions,
        actions=actions,
        shop_id=shop_id,
        is_active=is_active,
        stop_processing=stop_processing,
        position=(last + 1) if last is not None else 0,
        since_event_id=_last_event_id(),
        active_since=timezone.now(),
        created_by=actor,
    )


@transaction.atomic
def update_rule(
    rule: Rule,
    *,
    actor: User | None,
    name: str,
    trigger: str,
    conditions: Any,
    actions: Any,
    shop_id: int | None,
    silent_days: int | None = None,
    is_active: bool = True,
    stop_processing: bool = False,
) -> Rule:
    _check(actor)
    validate(
        name=name,
        trigger=trigger,
        silent_days=silent_days,
        conditions_data=conditions,
        actions_data=actions,
        shop_id=shop_id,
    )
    locked = Rule.objects.select_for_update().get(pk=rule.pk)
    switched_on = is_active and not locked.is_active
    locked.name = name.strip()[:200]
    locked.trigger = trigger
    locked.silent_days = silent_days if trigger == Trigger.BUYER_SILENT else None
    locked.conditions = conditions or {}
    locked.actions = actions or []
    locked.shop_id = shop_id
    locked.is_active = is_active
    locked.stop_processing = stop_processing
    if switched_on:
        _restart(locked)
    locked.save()
    return locked


def _restart(rule: Rule) -> None:
    # Switched back on: it does not catch up on what happened while it was off.
    rule.since_event_id = _last_event_id()
    rule.active_since = timezone.now()


@transaction.atomic
def set_active(rule: Rule, *, actor: User | None, active: bool) -> Rule:
    _check(actor)
    locked = Rule.objects.select_for_update().get(pk=rule.pk)
    if locked.is_active == active:
        return locked
    if active:
        # A rule saved before a schema change must still be valid to run.
        validate(
            name=locked.name,
            trigger=locked.trigger,
            silent_days=locked.silent_days,
            conditions_data=locked.conditions,
            actions_data=locked.actions,
            shop_id=locked.shop_id,
        )
        _restart(locked)
    locked.is_active = active
    locked.save()
    return locked


@transaction.atomic
def reorder(*, actor: User | None, rule_ids: list[int]) -> None:
    """Set the order of the rules: `rule_ids` first, in this order, then the others as they
    were."""
    _check(actor)
    rules = list(Rule.objects.select_for_update().order_by("position", "id"))
    known = {r.pk: r for r in rules}
    unknown = [pk for pk in rule_ids if pk not in known]
    if unknown or len(set(rule_ids)) != len(rule_ids):
        raise ValidationError(f"unknown or repeated rules: {unknown or rule_ids}")
    ordered = [known[pk] for pk in rule_ids] + [r for r in rules if r.pk not in set(rule_ids)]
    changed = []
    for position, rule in enumerate(ordered):
        if rule.position != position:
            rule.position = position
            changed.append(rule)
    Rule.objects.bulk_update(changed, ["position"])


def move(rule: Rule, *, actor: User | None, offset: int) -> None:
    """Move a rule up (offset -1) or down (+1) in the order."""
    ids = list(Rule.objects.order_by("position", "id").values_list("pk", flat=True))
    i = ids.index(rule.pk)
    j = max(0, min(len(ids) - 1, i + offset))
    ids.insert(j, ids.pop(i))
    reorder(actor=actor, rule_ids=ids)


@transaction.atomic
def delete_rule(rule: Rule, *, actor: User | None) -> None:
    """Delete a rule and its run log."""
    _check(actor)
    Rule.objects.filter(pk=rule.pk).delete()
