"""API parity: what an agent or an admin can do on a page, an API token can do too.

The UI's write actions are found in the URL conf (views that only take POST, and form views
that read `request.POST`), not listed by hand: a new button whose view has no API counterpart
fails this test until it gets one (in PARITY) or is placed, with its reason, in UI_ONLY or
NOT_YET. Each counterpart named must be an operation of the OpenAPI document."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

from comptoir.api import api

# UI action (URL name) → its API operation ("METHOD /path" as in the OpenAPI document).
PARITY = {
    # The conversation's action bar, composer and message actions.
    "inbox:reply": "POST /conversations/{conv_id}/reply",
    "inbox:assign_me": "POST /conversations/{conv_id}/assign",
    "inbox:assign": "POST /conversations/{conv_id}/assign",  # and /team for its team field
    "inbox:status": "POST /conversations/{conv_id}/status",
    "inbox:snooze": "POST /conversations/{conv_id}/status",  # status "snoozed" + snooze_until
    "inbox:tag": "POST /conversations/{conv_id}/tags",
    "inbox:untag": "POST /conversations/{conv_id}/untag",
    "inbox:no_response": "POST /conversations/{conv_id}/no-response-needed",
    "inbox:priority": "POST /conversations/{conv_id}/priority",
    "inbox:archive": "POST /conversations/{conv_id}/archive",
    "inbox:delete": "POST /conversations/{conv_id}/delete",
    "inbox:merge": "POST /conversations/{conv_id}/merge",
    "inbox:order_message": "POST /conversations/{conv_id}/order-message",
    "inbox:retry_message": "POST /messages/{message_id}/retry",
    "inbox:resend_message": "POST /messages/{message_id}/resend",
    "inbox:bulk": "POST /conversations/bulk",
    "triage:correct": "POST /conversations/{conv_id}/reading",
    "settings:trash_restore": "POST /conversations/{conv_id}/restore",
    # Templates, rules, channels, data protection.
    "settings:template_new": "POST /templates",
    "settings:template_edit": "PUT /templates/{template_id}",
    "settings:rule_move": "POST /rules/order",
    "settings:rule_active": "POST /rules/{rule_id}/active",
    "settings:rule_delete": "DELETE /rules/{rule_id}",
    "settings:channel_test": "POST /channels/{channel_id}/test",
    "settings:channel_new": "POST /channels",
    "settings:channel_edit": "PUT /channels/{channel_id}",
    "settings:shop_new": "POST /shops",
    "settings:shop_edit": "PUT /shops/{shop_id}",
    "settings:inbound_retry": "POST /inbound/retry",
    "settings:checks": "PUT /checks",
    "settings:privacy_retention": "PUT /privacy/retention/shops/{shop_id}",
    "settings:privacy_channel_retention": "PUT /privacy/retention/channels/{channel_id}",
    "settings:user_new": "POST /users",
    "settings:triage_activate": "POST /triage/activate",
    "settings:triage_train": "POST /triage/train",
    "settings:triage_settings": "PUT /triage/settings",
    "settings:triage_llm": "PUT /triage/drafting",
    "settings:surveys": "PUT /surveys/settings",
    # The notifications page: the user's own preferences, then the admins' webhooks.
    "settings:webhook_create": "POST /webhooks",
    "settings:webhook_test": "POST /webhooks/{webhook_id}/test",
    "settings:webhook_toggle": "POST /webhooks/{webhook_id}/active",
    "settings:webhook_delete": "DELETE /webhooks/{webhook_id}",
    "settings:receiver_create": "POST /webhooks/receivers",
    "automation:draft": "POST /conversations/{conv_id}/draft",
    "faq:draft": "POST /faq/clusters/{cluster_id}/template",
    "care:send": "POST /care/send",
    "health:set_threshold": "PUT /account-health/thresholds/{marketplace}/{metric}",
    # The notifications page's first form (the user's own preferences).
    "settings:notifications": "PUT /notifications/preferences",
    "settings:user_edit": "PATCH /users/{user_id}",
    "settings:team_new": "POST /teams",
    "settings:team_edit": "PUT /teams/{team_id}",
    "settings:sla_policy": "PUT /sla/channels/{channel_id}/policy",
    "settings:sla_calendar_new": "POST /sla/calendars",
    "settings:sla_calendar": "PUT /sla/calendars/{calendar_id}",
    "settings:sla_closure": "POST /sla/calendars/{calendar_id}/closures",
    "settings:sla_closure_delete": "DELETE /sla/closures/{closure_id}",
    "settings:privacy_export": "POST /privacy/export",
    "settings:privacy_erase": "POST /privacy/erase",
    # The knowledge base.
    "knowledge:new": "POST /articles",
    "knowledge:edit": "PUT /articles/{article_id}",
    "knowledge:publish": "POST /articles/{article_id}/publish",
    "knowledge:review": "POST /articles/{article_id}/review",
    "knowledge:from_cluster": "POST /articles/from-cluster/{cluster_id}",
    # Cases.
    "cases:open": "POST /cases",
    "cases:stage": "POST /cases/{case_id}/stage",
    "cases:outcome": "POST /cases/{case_id}/outcome",
    "cases:deadline": "POST /cases/{case_id}/deadline",
    "cases:close": "POST /cases/{case_id}/close",
    "cases:answer": "POST /cases/{case_id}/answer",
    "cases:refund": "POST /cases/{case_id}/refund",
    "cases:close_claim": "POST /cases/{case_id}/close-claim",
    "cases:retry_operation": "POST /cases/steps/{step_id}/retry",
    "cases:return_decision": "POST /cases/{case_id}/return-decision",
    "accounts:availability": "PUT /me/availability",
}

# Things that belong to a person at a screen, not to an integration.
UI_ONLY = {
    # Signing in, two-factor set-up, one's own password, language and profile: a token is
    # already signed in, and a second factor is not something a script should hold.
    "login",
    "login_verify",
    "accounts:confirm",
    "accounts:regenerate",
    "accounts:disable",
    "accounts:logout_everywhere",
    "set_language",
    "profile",
    # An admin resetting or unlocking someone's sign-in: done by a person with their own second
    # factor, never by a token (docs/security.md).
    "settings:security",
    "settings:security_reset",
    "settings:security_unlock",
    # Connecting a mailbox by OAuth: the mailbox's owner signs in at Microsoft or Google in a
    # browser and is sent back to the page; a token cannot take that step for them.
    "settings:channel_oauth",
    # The composer's "read the WhatsApp templates again": the poll reads them hourly anyway;
    # the button only hurries it for the agent looking at the picker.
    "inbox:refresh_templates",
    # Who is looking at or typing in a conversation, and the unsent draft: the page's state.
    "inbox:presence",
    "inbox:draft",
    # Saved views are the inbox page's bookmarks of its filters: GET /conversations takes them.
    "inbox:save_view",
    "inbox:delete_view",
    # The bulk bar's Undo replays the previous values kept in the session; an API caller has
    # them (it read the conversations) and sends the change back itself.
    "inbox:bulk_undo",
    # The composer's live pre-send checks as a fragment: POST .../reply runs the same checks
    # and answers 422 with their reasons; the template preview returns them too.
    "automation:check",
    # The signed-in user's notification bell.
    "notifications:read",
    # Public pages for buyers (no account, no token): the FAQ's vote, the survey, a webhook's
    # test receiver.
    "help:feedback",
    "survey",
    "test_hook",
}

# Gaps known and left for later: none today. A new page's button goes in PARITY with its
# operation, or here (with why) until it gets one.
NOT_YET: set[str] = set()


def _walk(patterns: list[Any], ns: str = "", route: str = "") -> Iterator[tuple[str, str, Any]]:
    for p in patterns:
        if isinstance(p, URLResolver):
            inner = ns + (f"{p.namespace}:" if p.namespace else "")
            yield from _walk(p.url_patterns, inner, route + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield ns + (p.name or ""), route + str(p.pattern), p.callback


def _layers(view: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    while view is not None:
        yield view
        view = getattr(view, "__wrapped__", None)


def _takes_only_post(view: Callable[..., Any]) -> bool:
    """`require_POST` keeps its method list in its wrapper's closure."""
    for layer in _layers(view):
        for cell in getattr(layer, "__closure__", None) or ():
            value = cell.cell_contents
            methods = isinstance(value, list | tuple) and all(isinstance(m, str) for m in value)
            if methods and value and set(value) <= {"POST", "PUT", "PATCH", "DELETE"}:
                return True
    return False


def _reads_a_form(view: Callable[..., Any]) -> bool:
    inner = list(_layers(view))[-1]
    try:
        source = inspect.getsource(inner)
    except (OSError, TypeError):
        return False
    return "request.POST" in source or 'method == "POST"' in source


def ui_actions() -> dict[str, str]:
    """URL name → route of every UI view that changes something."""
    found = {}
    for name, route, view in _walk(get_resolver().url_patterns):
        if route.startswith(("api/", "admin/")):
            continue
        if _takes_only_post(view) or _reads_a_form(view):
            found[name] = route
    return found


def api_operations() -> set[str]:
    spec = api.get_openapi_schema(path_prefix="")
    return {f"{m.upper()} {path}" for path, ops in spec["paths"].items() for m in ops}


def test_the_ui_actions_are_found() -> None:
    found = ui_actions()
    # Losing the detection would make the test below check nothing.
    assert {"inbox:tag", "inbox:bulk", "settings:template_edit", "knowledge:new"} <= set(found)
    assert len(found) >= 60


def test_every_ui_action_has_an_api_counterpart_or_a_reason() -> None:
    missing = sorted(set(ui_actions()) - set(PARITY) - UI_ONLY - NOT_YET)
    assert missing == [], f"give these UI actions an API operation (or a reason): {missing}"


def test_the_counterparts_named_are_operations_of_the_api() -> None:
    operations = api_operations()
    assert sorted(op for op in PARITY.values() if op not in operations) == []


def test_the_lists_name_only_real_ui_actions() -> None:
    """No stale entry: an action removed from the UI, or one that got its API operation and
    stayed in NOT_YET, is taken out of the list."""
    names = {name for name, _route, _view in _walk(get_resolver().url_patterns)}
    listed = set(PARITY) | UI_ONLY | NOT_YET
    assert sorted(listed - names) == []
    assert not set(PARITY) & (UI_ONLY | NOT_YET)
    assert not UI_ONLY & NOT_YET


def test_every_operation_of_the_document_is_routed(client: Any) -> None:
    """Two routers declaring one path (GET in one, POST in another) leave the second's method
    answering 405: each operation must reach its view (401 here, without a token)."""
    unrouted = []
    for operation in sorted(api_operations()):
        method, path = operation.split(" ", 1)
        url = "/api/v1" + re.sub(r"\{[^}]+\}", "1", path)
        answer = getattr(client, method.lower())(url, content_type="application/json")
        if answer.status_code == 405:
            unrouted.append(operation)
    assert unrouted == []
