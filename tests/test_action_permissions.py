"""Each guarded action decides who may do it, whatever calls it: the action itself, the web page,
the API endpoint, a rule, a bulk action. Every caller is tried as a persona who must be refused
(an agent of another team, an analyst, an agent reaching beyond their team) and gives the one
answer of `accounts.permissions`: `NotVisible` / 404 when the actor cannot see the conversation
(or channel), `PermissionDenied` / 403 when they can but may not do this; a rule records a failed
run and a bulk action a failed conversation. Nothing changes in the database. One allowed case per
action shows the callers still work."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import APIToken, Role, Team, User
from comptoir.accounts.permissions import NotVisible
from comptoir.automation import engine
from comptoir.automation import rules as rule_actions
from comptoir.automation.models import Rule, RuleRun, RunOutcome, Trigger
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Channel, Conversation, Event, Shop

API = "/api/v1"
MakeInbound = Callable[..., InboundMessage]
_threads = itertools.count(1)


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _forget_cached_rules() -> None:
    engine._has_rules[0] = 0.0  # whether any rule is active is cached per process


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("alex", "alex@example.com", "pw", role=Role.ADMIN)


@pytest.fixture
def new(make_inbound: MakeInbound) -> Callable[..., Conversation]:
    def build(**overrides: Any) -> Conversation:
        overrides.setdefault("thread_id", f"perm-{next(_threads)}")
        result = ingest(make_inbound(**overrides))
        assert result.conversation_id is not None, result.error
        return Conversation.objects.get(pk=result.conversation_id)

    return build


@pytest.fixture
def conv(new: Callable[..., Conversation]) -> Conversation:
    """A conversation of `team` (its channel's): the agent and the supervisor see it."""
    return new()


@pytest.fixture
def theirs(new: Callable[..., Conversation], shop: Shop, other_team: Team) -> Conversation:
    """A conversation of the other team's channel: the outsider's, not the agent's."""
    channel = Channel.objects.create(
        shop=shop, kind="api", marketplace="fnac", name="Theirs", team=other_team
    )
    return new(channel_id=channel.pk)


def state() -> tuple[Any, ...]:
    """What a refused call must not change: every conversation's assignment, team, deletion and
    merge, the channels' settings, and the events written."""
    convs = tuple(
        Conversation.objects.order_by("pk").values_list(
            "pk", "assignee_id", "team_id", "deleted_at", "merged_into_id"
        )
    )
    channels = tuple(
        (c.pk, c.name, c.team_id, c.is_active, json.dumps(c.get_settings(), sort_keys=True))
        for c in Channel.objects.order_by("pk")
    )
    return convs, channels, Event.objects.count()


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(user: User) -> dict[str, str]:
    token, raw = APIToken.issue(user, "tests")
    APIToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return {"Authorization": f"Bearer {raw}"}


def api_post(user: User, path: str, body: dict[str, Any]) -> Any:
    return Client().post(
        f"{API}{path}", json.dumps(body), content_type="application/json", headers=bearer(user)
    )


def refused_action(expected: int, call: Callable[[], object]) -> None:
    """The action's own refusal: NotVisible for 404, a plain PermissionDenied for 403."""
    with pytest.raises(PermissionDenied) as info:
        call()
    assert isinstance(info.value, NotVisible) == (expected == 404), info.value


def make_rule(actions_: list[dict[str, Any]]) -> Rule:
    return rule_actions.create_rule(
        actor=None, name="route", trigger=Trigger.MESSAGE_RECEIVED, conditions={}, actions=actions_
    )


def rule_run(rule: Rule, new: Callable[..., Conversation]) -> RuleRun:
    """The rule's run on a new conversation of `team`."""
    new()
    engine.pump()
    return RuleRun.objects.get(rule=rule)


# -- assign ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "expected"), [("outsider", 404), ("analyst", 403)])
def test_an_actor_who_may_not_assign_is_refused_by_every_caller(
    request: pytest.FixtureRequest,
    conv: Conversation,
    agent: User,
    persona: str,
    expected: int,
) -> None:
    actor: User = request.getfixturevalue(persona)
    before = state()

    refused_action(expected, lambda: actions.assign_conversation(conv, assignee=agent, actor=actor))
    web = as_user(actor)
    assert web.post(f"/inbox/c/{conv.pk}/assign", {"assignee": agent.pk}).status_code == expected
    assert web.post(f"/inbox/c/{conv.pk}/assign-me").status_code == expected
    api = api_post(actor, f"/conversations/{conv.pk}/assign", {"assignee_id": agent.pk})
    assert api.status_code == expected
    if expected == 404:
        result = actions.bulk_apply("assign", [conv], actor=actor, assignee=actor)
        assert (result.done, list(result.failed)) == ([], [conv.pk])
        # The inbox's bulk bar only offers what the user sees: the rest is ignored.
        web.post("/inbox/bulk", {"action": "assign_me", "ids": [conv.pk]})
    else:
        with pytest.raises(PermissionDenied):
            actions.bulk_apply("assign", [conv], actor=actor, assignee=agent)
        bulk = web.post("/inbox/bulk", {"action": "assign_me", "ids": [conv.pk]})
        assert bulk.status_code == 403

    assert state() == before


@pytest.mark.parametrize("persona", ["outsider", "analyst"])
def test_nobody_gives_a_conversation_to_someone_who_would_not_see_or_answer_it(
    request: pytest.FixtureRequest,
    conv: Conversation,
    agent: User,
    new: Callable[..., Conversation],
    persona: str,
) -> None:
    """The assignee's rule holds for rules too: no rule gives a conversation to another team."""
    assignee: User = request.getfixturevalue(persona)
    before = state()

    refused_action(403, lambda: actions.assign_conversation(conv, assignee=assignee, actor=agent))
    web = as_user(agent).post(f"/inbox/c/{conv.pk}/assign", {"assignee": assignee.pk})
    assert web.status_code == 403
    api = api_post(agent, f"/conversations/{conv.pk}/assign", {"assignee_id": assignee.pk})
    assert api.status_code == 403
    assert api.json()["detail"] == f"user {assignee.pk} cannot be assigned this conversation"
    result = actions.bulk_apply("assign", [conv], actor=agent, assignee=assignee)
    assert list(result.failed) == [conv.pk]
    assert "cannot be assigned" in result.failed[conv.pk]
    assert state() == before

    # A rule names someone who could take conversations when it was saved (the outsider, of
    # another team; the analyst, then still an agent).
    User.objects.filter(pk=assignee.pk).update(role=Role.AGENT)
    rule = make_rule([{"type": "assign_agent", "user_id": assignee.pk}])
    User.objects.filter(pk=assignee.pk).update(role=assignee.role)
    run = rule_run(rule, new)

    assert run.outcome == RunOutcome.FAILED
    assert "cannot be assigned this conversation" in run.error
    assert Conversation.objects.get(pk=run.conversation_id).assignee_id is None


def test_an_agent_assigns_a_colleague_through_every_caller(
    conv: Conversation,
    agent: User,
    supervisor: User,
    new: Callable[..., Conversation],
) -> None:
    actions.assign_conversation(conv, assignee=supervisor, actor=agent)
    assert Conversation.objects.get(pk=conv.pk).assignee_id == supervisor.pk
    web = as_user(agent)
    assert web.post(f"/inbox/c/{conv.pk}/assign", {"assignee": ""}).status_code == 302
    assert Conversation.objects.get(pk=conv.pk).assignee_id is None
    api = api_post(agent, f"/conversations/{conv.pk}/assign", {"assignee_id": agent.pk})
    assert api.status_code == 200
    assert api.json()["assignee"]["id"] == agent.pk
    result = actions.bulk_apply("assign", [conv], actor=agent, assignee=supervisor)
    assert result.done == [conv.pk]
    web.post("/inbox/bulk", {"action": "assign_me", "ids": [conv.pk]})
    assert Conversation.objects.get(pk=conv.pk).assignee_id == agent.pk

    run = rule_run(make_rule([{"type": "assign_agent", "user_id": supervisor.pk}]), new)

    assert run.outcome == RunOutcome.DONE
    assert Conversation.objects.get(pk=run.conversation_id).assignee_id == supervisor.pk


# -- give to a team ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"), [("outsider", 404), ("analyst", 403), ("agent", 403)]
)
def test_giving_a_conversation_to_a_team_is_refused_by_every_caller(
    request: pytest.FixtureRequest,
    conv: Conversation,
    other_team: Team,
    persona: str,
    expected: int,
) -> None:
    """An agent gives a conversation to their own teams only; the outsider cannot see it."""
    actor: User = request.getfixturevalue(persona)
    before = state()

    refused_action(expected, lambda: actions.assign_team(conv, team_id=other_team.pk, actor=actor))
    web = as_user(actor).post(f"/inbox/c/{conv.pk}/assign", {"team": other_team.pk})
    assert web.status_code == expected

    assert state() == before


def test_a_supervisor_or_a_rule_gives_a_conversation_to_any_team(
    conv: Conversation,
    supervisor: User,
    agent: User,
    team: Team,
    other_team: Team,
    outsider: User,
    new: Callable[..., Conversation],
) -> None:
    actions.assign_team(conv, team_id=other_team.pk, actor=supervisor)
    assert Conversation.objects.get(pk=conv.pk).team_id == other_team.pk
    assert as_user(agent).post(f"/inbox/c/{conv.pk}/assign", {"team": team.pk}).status_code == 302
    assert Conversation.objects.get(pk=conv.pk).team_id == team.pk

    # A rule is the system: any team, then one of its members (who now sees it).
    run = rule_run(make_rule([{"type": "assign_team", "team_id": other_team.pk}]), new)

    assert run.outcome == RunOutcome.DONE
    routed = Conversation.objects.get(pk=run.conversation_id)
    assert (routed.team_id, routed.assignee_id) == (other_team.pk, outsider.pk)


# -- delete and restore ------------------------------------------------------------------------


@pytest.mark.parametrize(("persona", "expected"), [("outsider", 404), ("analyst", 403)])
def test_deleting_is_refused_by_every_caller(
    request: pytest.FixtureRequest, conv: Conversation, persona: str, expected: int
) -> None:
    actor: User = request.getfixturevalue(persona)
    before = state()

    refused_action(expected, lambda: actions.delete_conversation(conv, actor=actor))
    assert as_user(actor).post(f"/inbox/c/{conv.pk}/delete").status_code == expected
    if expected == 404:
        result = actions.bulk_apply("delete", [conv], actor=actor)
        assert list(result.failed) == [conv.pk]
    else:
        with pytest.raises(PermissionDenied):
            actions.bulk_apply("delete", [conv], actor=actor)

    assert state() == before


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("outsider", 404), ("analyst", 403), ("agent", 403), ("supervisor", 403)],
)
def test_restoring_is_refused_by_every_caller_to_all_but_owners_and_admins(
    request: pytest.FixtureRequest,
    conv: Conversation,
    agent: User,
    persona: str,
    expected: int,
) -> None:
    """The action says 403 to a role that sees the conversation; the trash page and the API
    answer 403 for the trash itself and 404 for a conversation not in the caller's trash."""
    actions.delete_conversation(conv, actor=agent)
    actor: User = request.getfixturevalue(persona)
    before = state()

    refused_action(expected, lambda: actions.restore_conversation(conv, actor=actor))
    assert as_user(actor).post(f"/settings/trash/{conv.pk}/restore").status_code == 403
    assert api_post(actor, f"/conversations/{conv.pk}/restore", {}).status_code == 404

    assert state() == before


def test_an_agent_deletes_and_an_admin_restores_a_conversation(
    conv: Conversation, new: Callable[..., Conversation], agent: User, admin: User
) -> None:
    other = new()

    assert as_user(agent).post(f"/inbox/c/{conv.pk}/delete").status_code == 302
    assert actions.bulk_apply("delete", [other], actor=agent).done == [other.pk]
    assert as_user(admin).post(f"/settings/trash/{conv.pk}/restore").status_code == 302

    assert Conversation.objects.get(pk=conv.pk).deleted_at is None
    assert Conversation.objects.get(pk=other.pk).deleted_at is not None


# -- merge -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "source", "into", "expected"),
    [
        ("agent", "conv", "theirs", 404),  # into another team's conversation
        ("outsider", "theirs", "conv", 404),  # from their own into one they cannot see
        ("analyst", "conv", "theirs", 403),
    ],
)
def test_merging_is_refused_unless_the_actor_sees_both_and_writes(
    request: pytest.FixtureRequest, persona: str, source: str, into: str, expected: int
) -> None:
    actor: User = request.getfixturevalue(persona)
    src: Conversation = request.getfixturevalue(source)
    dst: Conversation = request.getfixturevalue(into)
    before = state()

    refused_action(expected, lambda: actions.merge_conversations(src, into=dst, actor=actor))
    web = as_user(actor).post(f"/inbox/c/{src.pk}/merge", {"into": str(dst.pk)})
    assert web.status_code == expected
    # A number that names nothing is answered as one the user cannot see (the analyst may not
    # merge at all).
    missing = as_user(actor).post(f"/inbox/c/{src.pk}/merge", {"into": "999999"})
    assert missing.status_code == (403 if persona == "analyst" else 404)

    assert state() == before


def test_an_agent_merges_two_conversations_of_their_team(
    conv: Conversation, new: Callable[..., Conversation], agent: User
) -> None:
    first, second = new(), new()

    actions.merge_conversations(first, into=conv, actor=agent)
    page = as_user(agent).post(f"/inbox/c/{second.pk}/merge", {"into": f"#{conv.pk}"})

    assert page.status_code == 302
    assert set(Conversation.objects.filter(merged_into=conv).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
    }


# -- channel and shop settings -----------------------------------------------------------------


def _channel_form(channel: Channel, **changes: Any) -> dict[str, Any]:
    return {
        "kind": channel.kind,
        "name": channel.name,
        "shop": channel.shop_id,
        "marketplace": channel.marketplace,
        "team": channel.team_id or "",
        "is_active": "on",
        "webhook_url": "",
        "timeout_seconds": "10",
        **changes,
    }


@pytest.mark.parametrize(
    ("persona", "expected"), [("outsider", 404), ("agent", 403), ("analyst", 403)]
)
def test_channel_and_shop_settings_are_refused_by_every_caller(
    request: pytest.FixtureRequest, channel: Channel, shop: Shop, persona: str, expected: int
) -> None:
    actor: User = request.getfixturevalue(persona)
    before = state()

    refused_action(
        expected,
        lambda: actions.configure_channel(
            channel,
            actor=actor,
            shop_id=shop.pk,
            kind=channel.kind,
            marketplace=channel.marketplace,
            name="Renamed",
            team_id=None,
            is_active=False,
            settings={},
        ),
    )
    web = as_user(actor)
    edited = web.post(f"/settings/channels/{channel.pk}/edit", _channel_form(channel, name="X"))
    assert edited.status_code == expected
    assert web.post(f"/settings/channels/{channel.pk}/test").status_code == expected
    assert api_post(actor, f"/channels/{channel.pk}/test", {}).status_code == expected
    # Shops are not a team's: refused (403) to every non-admin alike.
    refused_action(
        403,
        lambda: actions.save_shop(
            shop, actor=actor, name="X", language="fr", country="FR", timezone_name="UTC"
        ),
    )
    form = {"name": "X", "language": "fr", "country": "FR", "timezone": "UTC"}
    assert web.post(f"/settings/shops/{shop.pk}/edit", form).status_code == 403

    assert state() == before
    assert Shop.objects.get(pk=shop.pk).name == shop.name


def test_an_admin_changes_a_channels_settings(channel: Channel, shop: Shop, admin: User) -> None:
    actions.configure_channel(
        channel,
        actor=admin,
        shop_id=shop.pk,
        kind=channel.kind,
        marketplace=channel.marketplace,
        name="Amazon FR",
        team_id=channel.team_id,
        is_active=True,
        settings={"webhook_url": None, "timeout_seconds": 10.0},
    )
    page = as_user(admin).post(
        f"/settings/channels/{channel.pk}/edit", _channel_form(channel, name="Amazon DE")
    )

    assert page.status_code == 302
    assert Channel.objects.get(pk=channel.pk).name == "Amazon DE"
