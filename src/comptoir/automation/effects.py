"""What a rule does: a list of actions, as JSON checked by pydantic, each run through the same
`inbox.actions` functions an agent's click goes through (with `actor=None, via="rule:<id>"`, so
that the timeline says which rule did it and the pump never lets it trigger a rule again).

    [{"type": "tag", "tag": "damaged"},
     {"type": "assign_team", "team_id": 3, "strategy": "round_robin"},
     {"type": "reply_template", "template_id": 7},
     {"type": "open_case", "kind": "damaged"}]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic import ValidationError as PydanticValidationError

from comptoir.cases import actions as case_actions
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.models import Direction, Message, Status
from comptoir.lib import cases as case_words

if TYPE_CHECKING:
    from comptoir.accounts.models import User
    from comptoir.automation.models import Rule, Template
    from comptoir.inbox.models import Conversation, Event

logger = logging.getLogger("comptoir.automation")


class EffectError(ValueError):
    """The actions cannot be used as they are; the message says why, for a human."""


class Skip(Exception):
    """An action deliberately not done (rate limit, auto-submitted mail): not a failure."""


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TagAction(_Action):
    type: Literal["tag"]
    tag: str = Field(min_length=1, max_length=64)


class AssignAgentAction(_Action):
    type: Literal["assign_agent"]
    user_id: int


class AssignTeamAction(_Action):
    """Give the conversation to a team and, unless `strategy` is "team_only", to one of its
    members: the next in turn (round_robin) or the one with the fewest open conversations."""

    type: Literal["assign_team"]
    team_id: int
    strategy: Literal["team_only", "round_robin", "least_load"] = "round_robin"


class SetPriorityAction(_Action):
    type: Literal["set_priority"]
    priority: int = Field(ge=0, le=3)


class SetStatusAction(_Action):
    type: Literal["set_status"]
    status: Literal["open", "pending", "resolved"]


class SnoozeAction(_Action):
    type: Literal["snooze"]
    hours: float = Field(gt=0, le=24 * 366)


class ReplyTemplateAction(_Action):
    """An automatic reply from a template (`is_auto`): never to an automatic message, at most
    one per customer per AUTO_REPLY_MIN_HOURS, and not at all when the template cannot be
    filled in or a blocking pre-send check refuses it."""

    type: Literal["reply_template"]
    template_id: int
    then_status: Literal["open", "pending", "resolved"] | None = None


class NoteAction(_Action):
    type: Literal["add_note"]
    text: str = Field(min_length=1, max_length=10_000)


class NotifyAction(_Action):
    """Tell people (`user_ids`; none: the conversation's assignee, else its team...)."""

    type: Literal["notify"]
    user_ids: list[int] = Field(default_factory=list, max_length=100)
    text: str = Field("", max_length=2000)


class NoResponseNeededAction(_Action):
    type: Literal["no_response_needed"]


class OpenCaseAction(_Action):
    """Open a case of `kind` (`lib.cases.KINDS`) on the conversation: once, since a
    conversation's open case of that kind is left as it is."""

    type: Literal["open_case"]
    kind: str

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value not in case_words.KINDS:
            raise ValueError(f"unknown case kind {value!r} (use {', '.join(case_words.KINDS)})")
        return value


class StopAction(_Action):
    """No later rule runs for this event."""

    type: Literal["stop"]


Action = Annotated[
    TagAction
    | AssignAgentAction
    | AssignTeamAction
    | SetPriorityAction
    | SetStatusAction
    | SnoozeAction
    | ReplyTemplateAction
    | NoteAction
    | NotifyAction
    | NoResponseNeededAction
    | OpenCaseAction
    | StopAction,
    Field(discriminator="type"),
]
_ACTIONS: TypeAdapter[list[Action]] = TypeAdapter(list[Action])
MAX_ACTIONS = 20


def parse(data: Any) -> list[Action]:
    """Validate a stored or submitted actions list (shape only; see `check_references`)."""
    if not isinstance(data, list):
        raise EffectError('actions must be a list such as [{"type": "tag", "tag": "vip"}]')
    if len(data) > MAX_ACTIONS:
        raise EffectError(f"at most {MAX_ACTIONS} actions in a rule")
    try:
        return _ACTIONS.validate_python(data)
    except PydanticValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            where = ".".join(str(x) for x in err["loc"])
            parts.append(f"{where}: {err['msg']}" if where else err["msg"])
        raise EffectError("; ".join(parts)) from None


def check_references(parsed: list[Action]) -> None:
    """The users, teams and templates the actions name exist (and may act)."""
    from comptoir.accounts.models import Team, User

    for a in parsed:
        if isinstance(a, AssignAgentAction):
            user = User.objects.filter(pk=a.user_id, is_active=True).first()
            if user is None or not user.can_write:
                raise EffectError(f"user {a.user_id} does not exist or may not take conversations")
        elif isinstance(a, AssignTeamAction):
            if not Team.objects.filter(pk=a.team_id).exists():
                raise EffectError(f"team {a.team_id} does not exist")
        elif isinstance(a, NotifyAction):
            found = User.objects.filter(pk__in=a.user_ids, is_active=True).count()
            if found != len(set(a.user_ids)):
                raise EffectError("notify: some of these users do not exist")
        elif isinstance(a, ReplyTemplateAction) and load_template(a.template_id) is None:
            raise EffectError(f"template {a.template_id} does not exist")


# -- running -----------------------------------------------------------------------------------


@dataclass
class Context:
    rule: Rule
    conversation: Conversation
    event: Event | None
    message: Message | None  # the message that triggered the rule, if one did
    now: datetime

    @property
    def via(self) -> str:
        return self.rule.actor_label


def run_action(action: Any, ctx: Context) -> str:
    """Do one action; returns a note for the run log. Raises Skip when deliberately not done,
    ValidationError (or another exception) when it failed."""
    conv, via = ctx.conversation, ctx.via
    if isinstance(action, TagAction):
        inbox_actions.tag_conversation(conv, tag=action.tag, actor=None, via=via)
        return f"tagged {action.tag}"
    if isinstance(action, AssignAgentAction):
        user = _user(action.user_id)
        inbox_actions.assign_conversation(conv, assignee=user, actor=None, via=via)
        return f"assigned to {user.username}"
    if isinstance(action, AssignTeamAction):
        return _assign_team(action, ctx)
    if isinstance(action, SetPriorityAction):
        inbox_actions.set_priority(conv, priority=action.priority, actor=None, via=via)
        return f"priority {action.priority}"
    if isinstance(action, SetStatusAction):
        inbox_actions.set_status(conv, status=action.status, actor=None, via=via)
        return f"status {action.status}"
    if isinstance(action, SnoozeAction):
        until = ctx.now + timedelta(hours=action.hours)
        inbox_actions.snooze_conversation(conv, until=until, actor=None, via=via)
        return f"snoozed until {until.isoformat()}"
    if isinstance(action, ReplyTemplateAction):
        return _auto_reply(action, ctx)
    if isinstance(action, NoteAction):
        inbox_actions.add_note(conv, actor=None, text=action.text, via=via)
        return "note added"
    if isinstance(action, NotifyAction):
        from django.utils.translation import gettext

        from comptoir.notifications.actions import Kind, notify

        rule_name, conv_id = ctx.rule.name, conv.pk

        def matched() -> str:  # written in each recipient's language
            return gettext("Rule “%(rule)s” matched conversation %(id)s") % {
                "rule": rule_name,
                "id": conv_id,
            }

        notify(
            Kind.RULE,
            conversations=[conv.pk],
            users=action.user_ids,
            text=action.text or matched,
        )
        return "notified"
    return _run_other(action, ctx)


def _run_other(action: Any, ctx: Context) -> str:
    conv, via = ctx.conversation, ctx.via
    if isinstance(action, NoResponseNeededAction):
        inbox_actions.mark_no_response_needed(conv, actor=None, via=via)
        return "marked no response needed"
    if isinstance(action, OpenCaseAction):
        case = case_actions.open_case(conv, kind=action.kind, actor=None, via=via)
        return f"case {case.pk} ({action.kind})"
    if isinstance(action, StopAction):
        return "stop"
    raise ValidationError(f"unknown action {action!r}")


def _user(user_id: int) -> User:
    """The user a rule names. Whether they may take this conversation (active, may answer,
    would see it) is the action's rule: a refusal fails the run, nothing is changed."""
    from comptoir.accounts.models import User
    from comptoir.inbox.permissions import cannot_assign

    user = User.objects.filter(pk=user_id).first()
    if user is None:
        raise cannot_assign(user_id)
    return user


# -- assignment --------------------------------------------------------------------------------


def team_members(team_id: int) -> list[User]:
    """The members who can take conversations, in a stable order."""
    from comptoir.accounts.models import Role, User

    return list(
        User.objects.filter(teams__pk=team_id, is_active=True)
        .exclude(role=Role.ANALYST)
        .order_by("pk")
    )


def _assign_team(action: AssignTeamAction, ctx: Context) -> str:
    conv = ctx.conversation
    inbox_actions.assign_team(conv, team_id=action.team_id, actor=None, via=ctx.via)
    if action.strategy == "team_only":
        return f"team {action.team_id}"
    members = team_members(action.team_id)
    if not members:
        raise ValidationError(f"team {action.team_id} has no member who can take it")
    if action.strategy == "round_robin":
        user = next_in_turn(action.team_id, members)
    else:
        user = least_loaded(members)
    inbox_actions.assign_conversation(conv, assignee=user, actor=None, via=ctx.via)
    return f"team {action.team_id}, assigned to {user.username} ({action.strategy})"


def next_in_turn(team_id: int, members: list[User]) -> User:
    """The member after the one who got the team's last round-robin conversation. The turn's
    row is locked, so two workers assigning at once give two different members."""
    from comptoir.automation.models import RoundRobin

    RoundRobin.objects.get_or_create(team_id=team_id)
    turn = RoundRobin.objects.select_for_update().get(team_id=team_id)
    after = turn.last_user_id or 0
    user = next((m for m in members if m.pk > after), members[0])
    turn.last_user = user
    turn.save(update_fields=["last_user"])
    return user


def least_loaded(members: list[User]) -> User:
    """The member with the fewest open or pending conversations (the lowest id on a tie)."""
    from comptoir.accounts.models import User

    open_states = [Status.OPEN, Status.PENDING]
    loads = dict(
        User.objects.filter(pk__in=[m.pk for m in members])
        .annotate(
            load=Count(
                "assigned_conversations",
                filter=Q(
                    assigned_conversations__status__in=open_states,
                    assigned_conversations__deleted_at__isnull=True,
                    assigned_conversations__merged_into__isnull=True,
                ),
            )
        )
        .values_list("pk", "load")
    )
    return min(members, key=lambda m: (loads.get(m.pk, 0), m.pk))


# -- auto-replies ------------------------------------------------------------------------------


def auto_reply_window() -> timedelta:
    return timedelta(hours=settings.AUTO_REPLY_MIN_HOURS)


def _auto_reply(action: ReplyTemplateAction, ctx: Context) -> str:
    conv = ctx.conversation
    trigger = ctx.message or (
        Message.objects.filter(conversation_id=conv.pk, direction=Direction.IN)
        .order_by("-created_at", "-pk")
        .first()
    )
    if trigger is not None and trigger.is_auto:
        # An out-of-office or a marketplace robot: answering it starts a mail loop.
        raise Skip("the message is automatic (auto-submitted): no auto-reply")
    window = auto_reply_window()
    if window > timedelta(0):
        _rate_limit(conv, window, ctx.now)
    template = load_template(action.template_id)
    if template is None:
        raise ValidationError(f"template {action.template_id} no longer exists")
    text = render(template, conv)
    # The pre-send checks run inside reply(): a blocking one raises ReplyRefused (a
    # ValidationError), so nothing is sent and the run is logged as failed with its reason.
    message = inbox_actions.reply(
        conv,
        actor=None,
        text=text,
        is_auto=True,
        then_status=action.then_status,
        via=ctx.via,
        template_id=template.pk,
    )
    return f"auto-reply {message.pk} queued"


def _rate_limit(conv: Conversation, window: timedelta, now: datetime) -> None:
    """Skip when the customer (or, unknown, the conversation) had an auto-reply lately."""
    from comptoir.inbox.models import Customer

    recent = Message.objects.filter(
        direction=Direction.OUT, is_auto=True, created_at__gte=now - window
    )
    if conv.customer_id is not None:
        # Locked: two workers answering the same buyer at once send one reply, not two.
        Customer.objects.select_for_update().filter(pk=conv.customer_id).first()
        recent = recent.filter(conversation__customer_id=conv.customer_id)
    else:
        recent = recent.filter(conversation_id=conv.pk)
    if recent.exists():
        hours = window.total_seconds() / 3600
        raise Skip(f"this customer had an automatic reply in the last {hours:g} h")


def load_template(template_id: int) -> Template | None:
    """An active template (the templates work's model, named by id, never by foreign key)."""
    from comptoir.automation.models import Template

    return Template.objects.filter(pk=template_id, is_active=True).first()


def render(template: Template, conv: Conversation) -> str:
    """The filled-in text in the conversation's language. A missing variable raises
    `MissingVariables` (a ValidationError): the reply is not sent and the run fails."""
    from comptoir.automation.templating import render_template

    if template.shop_id is not None and template.shop_id != conv.shop_id:
        raise ValidationError(f"template {template.pk} belongs to another shop")
    return render_template(template, conv, agent=None).text
