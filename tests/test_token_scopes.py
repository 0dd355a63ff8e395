"""API token scopes: a read-only token reads and never writes, on every operation the OpenAPI
document lists (so a new endpoint is covered without being named here); the owners' and
admins' endpoints want the admin scope."""

from __future__ import annotations

import re
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from comptoir.accounts.models import APIToken, Role, TokenScope, User
from comptoir.accounts.tokens import issue_token
from comptoir.api import api
from comptoir.audit.models import AuditEvent
from comptoir.inbox.models import Channel, Conversation, Event, InboundRecord, Message

API = "/api/v1"


def _operations() -> list[tuple[str, str]]:
    spec = api.get_openapi_schema(path_prefix="")
    return sorted(
        (method, path)
        for path, ops in spec["paths"].items()
        for method in ops
        if method in {"get", "post", "put", "patch", "delete"}
    )


OPERATIONS = _operations()
WRITES = [(m, p) for m, p in OPERATIONS if m != "get"]


def _url(path: str, conv_id: int) -> str:
    return API + re.sub(r"\{[^}]+\}", str(conv_id), path)


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("olivia", "olivia@example.com", "pw", role=Role.OWNER)


def token(user: User, scope: str) -> dict[str, str]:
    _, raw = issue_token(user, name=f"{scope} token", scope=scope, actor=user)
    return {"HTTP_AUTHORIZATION": f"Bearer {raw}"}


def _counts() -> tuple[int, ...]:
    return tuple(m.objects.count() for m in (Conversation, Message, Event, InboundRecord, Channel))


def test_the_schema_lists_writes_to_check() -> None:
    # The generated list is the test's input: it must hold the writes we know of.
    assert ("post", "/conversations/{conv_id}/reply") in WRITES
    assert ("post", "/privacy/erase") in WRITES
    assert ("get", "/audit") in OPERATIONS
    assert len(WRITES) >= 10


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_a_read_only_token_gets_403_on_every_write(
    client: Client, owner: User, channel: Channel, method: str, path: str, make_inbound: Any
) -> None:
    from comptoir.inbox.ingest import ingest

    conv_id = ingest(make_inbound()).conversation_id
    assert conv_id is not None
    headers = token(owner, TokenScope.READ)
    before = _counts()
    response = getattr(client, method)(
        _url(path, conv_id), data={}, content_type="application/json", **headers
    )
    assert response.status_code == 403, (method, path, response.content[:200])
    assert "read-only" in response.json()["detail"]
    assert _counts() == before


def test_a_read_only_token_still_reads(client: Client, owner: User, channel: Channel) -> None:
    response = client.get(f"{API}/conversations", **token(owner, TokenScope.READ))
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/audit"), ("get", "/trash"), ("get", "/privacy/buyers?q=x")]
)
def test_owners_endpoints_want_the_admin_scope(
    client: Client, owner: User, method: str, path: str
) -> None:
    assert getattr(client, method)(API + path, **token(owner, TokenScope.WRITE)).status_code == 403
    assert getattr(client, method)(API + path, **token(owner, TokenScope.ADMIN)).status_code == 200


def test_an_admin_token_is_only_for_owners_and_admins(agent: User) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        issue_token(agent, name="too wide", scope=TokenScope.ADMIN, actor=None)


def test_the_command_issues_a_scoped_token_and_both_ends_are_audited(agent: User) -> None:
    out, err = StringIO(), StringIO()
    call_command(
        "token", "create", agent.username, "ERP", "--scope", "read", stdout=out, stderr=err
    )
    row = APIToken.objects.get(user=agent)
    assert row.scope == TokenScope.READ
    assert "(read)" in err.getvalue()
    call_command("token", "revoke", row.prefix, stdout=StringIO())
    actions = list(AuditEvent.objects.order_by("pk").values_list("action", "via"))
    assert actions == [("token.created", "cli"), ("token.revoked", "cli")]
    raw = out.getvalue().strip()
    # The raw token is never in the log.
    assert not AuditEvent.objects.filter(object_label__contains=raw[12:]).exists()


def test_tokens_default_to_the_widest_scope_of_their_role(
    owner: User, agent: User, analyst: User
) -> None:
    assert APIToken.issue(owner, "a")[0].scope == TokenScope.ADMIN
    assert APIToken.issue(agent, "b")[0].scope == TokenScope.WRITE
    assert APIToken.issue(analyst, "c")[0].scope == TokenScope.WRITE
