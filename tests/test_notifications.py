"""Notifications: who is told, how (email now, digest, webhooks), and the sources that tell."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import Role, Team, User
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.models import Channel, Conversation, Shop
from comptoir.notifications import actions
from comptoir.notifications.actions import Kind, notify
from comptoir.notifications.models import (
    DeliveryState,
    EmailChoice,
    EmailState,
    Notification,
    ReceivedPayload,
    Webhook,
    WebhookDelivery,
)
from comptoir.notifications.tasks import deliver_webhook, send_digests
from tests.mailservers import SMTPServer, free_port
from tests.notify_helpers import run_notification_tasks

OnCommit = Callable[..., Any]


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def make_conv(shop: Shop, channel: Channel) -> Callable[..., Conversation]:
    counter = iter(range(1, 1_000_000))

    def build(**fields: Any) -> Conversation:
        n = next(counter)
        data: dict[str, Any] = {"shop": shop, "channel": channel, "subject": f"Commande {n}"}
        data.update(fields)
        return Conversation.objects.create(**data)

    return build


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create_user("olivier", "olivier@example.com", "pw", role=Role.OWNER)


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("adele", "adele@example.com", "pw", role=Role.ADMIN)


@pytest.fixture
def hook_server() -> Iterator[SimpleNamespace]:
    """A local HTTP server that records the POSTs it gets and answers the statuses queued."""
    received: list[tuple[str, dict[str, str], bytes]] = []
    statuses: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((self.path, dict(self.headers), body))
            status = statuses.pop(0) if statuses else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(
        url=f"http://127.0.0.1:{server.server_port}", received=received, statuses=statuses
    )
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_mail(settings: Any, smtp_server: SMTPServer) -> SMTPServer:
    """Comptoir's own mail goes to the real SMTP server of this test process."""
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": smtp_server.host,
                "port": smtp_server.port,
                "use_tls": False,
                "timeout": 10,
            },
        }
    }
    smtp_server.received.clear()
    return smtp_server


def rows(kind: str | None = None) -> list[tuple[str, int | None]]:
    qs = Notification.objects.order_by("user__username", "conversation_id")
    if kind:
        qs = qs.filter(kind=kind)
    return list(qs.values_list("user__username", "conversation_id"))


# -- recipients and scope ----------------------------------------------------------------------


def test_an_assigned_conversation_goes_to_its_assignee_only(
    make_conv: Callable[..., Conversation], agent: User, supervisor: User
) -> None:
    conv = make_conv(assignee=agent)

    assert notify(Kind.SLA_AT_RISK, conversations=[conv.pk]) == 1

    assert rows() == [("marie", conv.pk)]


def test_an_unassigned_conversation_goes_to_its_team_else_to_supervisors_and_admins(
    shop: Shop,
    make_conv: Callable[..., Conversation],
    agent: User,
    supervisor: User,
    outsider: User,
    admin: User,
    owner: User,
) -> None:
    teamless = Channel.objects.create(shop=shop, kind="api", marketplace="fnac", name="Fnac")
    team_conv = make_conv()
    orphan = make_conv(channel=teamless)

    notify(Kind.SLA_BREACHED, conversations=[team_conv.pk, orphan.pk])

    assert set(rows()) == {
        ("adele", orphan.pk),
        ("marie", team_conv.pk),
        ("olivier", orphan.pk),
        ("paul", orphan.pk),
        ("paul", team_conv.pk),
    }
    assert len(rows()) == 5


def test_a_conversation_handed_to_another_team_goes_to_that_team(
    make_conv: Callable[..., Conversation], agent: User, outsider: User, other_team: Team
) -> None:
    conv = make_conv(team=other_team)

    notify(Kind.SLA_AT_RISK, conversations=[conv.pk])

    assert rows() == [("olga", conv.pk)]


def test_an_outsider_named_as_recipient_is_never_notified(
    make_conv: Callable[..., Conversation], agent: User, outsider: User
) -> None:
    conv = make_conv()

    notify(Kind.RULE, conversations=[conv.pk], users=[agent.pk, outsider.pk], text="Urgent")

    assert rows() == [("marie", conv.pk)]


def test_words_written_by_comptoir_reach_each_recipient_in_their_language(
    make_conv: Callable[..., Conversation], agent: User, supervisor: User
) -> None:
    """A notification Comptoir writes (a rule's, a warning) is written once per language of its
    recipients; words someone typed go as they are."""
    from django.utils.translation import gettext

    supervisor.language = "fr"
    supervisor.save()
    conv = make_conv()

    notify(
        Kind.RULE,
        conversations=[conv.pk],
        users=[agent.pk, supervisor.pk],
        text=lambda: (
            gettext("Rule “%(rule)s” matched conversation %(id)s")
            % {"rule": "Colis", "id": conv.pk}
        ),
    )
    notify(Kind.RULE, conversations=[conv.pk], users=[supervisor.pk], text="Look")

    told = dict(Notification.objects.filter(text__contains="Colis").values_list("user", "text"))
    assert told[agent.pk] == f"Rule “Colis” matched conversation {conv.pk}"
    assert told[supervisor.pk] == f"La règle « Colis » s\u2019applique à la conversation {conv.pk}"
    assert Notification.objects.filter(user=supervisor, text="Look").exists()


def test_deleted_and_merged_conversations_notify_no_one(
    make_conv: Callable[..., Conversation], agent: User
) -> None:
    kept = make_conv(assignee=agent)
    deleted = make_conv(assignee=agent, deleted_at=timezone.now())
    merged = make_conv(assignee=agent, merged_into=kept)

    notify(Kind.SLA_BREACHED, conversations=[deleted.pk, merged.pk])

    assert rows() == []


def test_the_actor_and_inactive_users_are_not_told(
    make_conv: Callable[..., Conversation], agent: User, supervisor: User
) -> None:
    conv = make_conv()
    supervisor.is_active = False
    supervisor.save()

    notify(Kind.RULE, conversations=[conv.pk], users=[agent.pk, supervisor.pk], actor_id=agent.pk)

    assert rows() == []


def test_a_stopped_channel_is_told_to_owners_and_admins_once(
    channel: Channel,
    agent: User,
    supervisor: User,
    admin: User,
    owner: User,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        inbox_actions.record_channel_error(channel, error="401 Unauthorized", permanent=True)
        inbox_actions.record_channel_error(channel, error="401 Unauthorized", permanent=True)
    run_notification_tasks()

    assert list(
        Notification.objects.order_by("user__username").values_list(
            "user__username", "channel_id", "kind", "email_state"
        )
    ) == [
        ("adele", channel.pk, "channel_unhealthy", "sent"),
        ("olivier", channel.pk, "channel_unhealthy", "sent"),
    ]
    assert sorted(m.to[0] for m in mailoutbox) == ["adele@example.com", "olivier@example.com"]
    mail = mailoutbox[0]
    assert mail.subject == "[Comptoir] Amazon FR (API) has stopped: it needs you"
    assert "401 Unauthorized" in mail.body
    assert f"/settings/channels/#channel-{channel.pk}" in mail.body


# -- preferences -------------------------------------------------------------------------------


def test_preferences_choose_email_digest_or_nothing_per_kind(
    make_conv: Callable[..., Conversation], agent: User, supervisor: User, admin: User
) -> None:
    conv = make_conv()
    actions.set_preferences(agent, {Kind.SLA_AT_RISK: (EmailChoice.DIGEST, True)})
    actions.set_preferences(supervisor, {Kind.SLA_AT_RISK: (EmailChoice.OFF, True)})
    actions.set_preferences(admin, {Kind.SLA_AT_RISK: (EmailChoice.OFF, False)})

    notify(Kind.SLA_AT_RISK, conversations=[conv.pk], users=[agent.pk, supervisor.pk, admin.pk])
    notify(Kind.SLA_BREACHED, conversations=[conv.pk], users=[agent.pk, admin.pk])

    states = Notification.objects.order_by("kind", "user__username")
    assert list(states.values_list("kind", "user__username", "email_state")) == [
        # no email and no webhook: the kind is off for the admin, not even listed
        ("sla_at_risk", "marie", EmailState.DIGEST),
        ("sla_at_risk", "paul", EmailState.NONE),  # webhook only: listed, not mailed
        ("sla_breached", "adele", EmailState.QUEUED),  # other kinds keep the default
        ("sla_breached", "marie", EmailState.QUEUED),
    ]
    assert actions.preferences_of(agent)[Kind.SLA_AT_RISK] == (EmailChoice.DIGEST, True)
    assert actions.preferences_of(agent)[Kind.MENTIONED] == (EmailChoice.NOW, True)


# -- delivery ----------------------------------------------------------------------------------


def test_an_email_is_delivered_through_a_real_smtp_server(
    smtp_mail: SMTPServer,
    make_conv: Callable[..., Conversation],
    agent: User,
    supervisor: User,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    conv = make_conv(subject="Colis abîmé")

    with django_capture_on_commit_callbacks(execute=True):
        inbox_actions.assign_conversation(conv, assignee=agent, actor=supervisor)
    run_notification_tasks()

    (_sender, recipients, raw) = smtp_mail.received[0]
    assert len(smtp_mail.received) == 1
    assert recipients == ["marie@example.com"]
    mail = message_from_bytes(raw, policy=policy.default)
    assert mail["Subject"] == "[Comptoir] Assigned to you: Colis abîmé"
    body = mail.get_content()
    assert f"http://127.0.0.1:8000/inbox/c/{conv.pk}/" in body
    assert "paul" in body  # who assigned it
    note = Notification.objects.get()
    assert note.email_state == EmailState.SENT
    assert note.emailed_at is not None


def test_a_refused_email_is_retried_then_marked_failed_with_the_reason(
    smtp_mail: SMTPServer,
    make_conv: Callable[..., Conversation],
    agent: User,
    supervisor: User,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    smtp_mail.refuse["marie@example.com"] = "550 no such user"
    conv = make_conv()
    with django_capture_on_commit_callbacks(execute=True):
        notify(Kind.ASSIGNED, conversations=[conv.pk], users=[agent.pk], actor_id=supervisor.pk)
    run_notification_tasks()

    note = Notification.objects.get()
    assert note.email_state == EmailState.QUEUED  # will be tried again
    assert "550" in note.email_error
    (retry,) = DBTaskResult.objects.filter(task_path__endswith="send_notification_emails")
    assert retry.run_after > timezone.now()
    assert retry.args_kwargs["kwargs"] == {"attempt": 2}

    from comptoir.notifications.tasks import MAX_EMAIL_ATTEMPTS, send_notification_emails

    send_notification_emails.call(note.batch, attempt=MAX_EMAIL_ATTEMPTS)
    note.refresh_from_db()
    assert note.email_state == EmailState.FAILED
    assert "550" in note.email_error


def test_webhooks_post_json_and_slack_text_signed_with_their_secret(
    hook_server: SimpleNamespace,
    make_conv: Callable[..., Conversation],
    agent: User,
    admin: User,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    as_json = actions.create_webhook(
        actor=admin, name="ERP", url=hook_server.url + "/json", fmt="json", secret="s3cret"
    )
    actions.create_webhook(
        actor=admin,
        name="Slack",
        url=hook_server.url + "/slack",
        fmt="slack",
        kinds=[Kind.SLA_BREACHED],
    )
    convs = [make_conv(assignee=agent, subject=f"Retard {i}") for i in range(3)]

    with django_capture_on_commit_callbacks(execute=True):
        notify(Kind.SLA_BREACHED, conversations=[c.pk for c in convs])
        notify(Kind.SLA_AT_RISK, conversations=[convs[0].pk])  # Slack wants breaches only
    run_notification_tasks()

    posts = {path: (headers, body) for path, headers, body in hook_server.received}
    assert len(hook_server.received) == 3  # JSON twice (one post per call), Slack once
    headers, body = next(
        (h, b) for p, h, b in hook_server.received if p == "/json" and b"sla_breached" in b
    )
    data = json.loads(body)
    assert data["kind"] == "sla_breached"
    assert data["conversation_count"] == 3
    assert [c["id"] for c in data["conversations"]] == [c.pk for c in convs]
    assert data["conversations"][0]["url"] == f"http://127.0.0.1:8000/inbox/c/{convs[0].pk}/"
    timestamp = headers["X-Comptoir-Timestamp"]
    assert headers["X-Comptoir-Signature"] == actions.sign("s3cret", timestamp, body)
    assert headers["X-Comptoir-Event"] == "sla_breached"
    slack_headers, slack_body = posts["/slack"]
    slack = json.loads(slack_body)
    assert list(slack) == ["text"]
    assert slack["text"].startswith("*SLA breached: 3 conversations*")
    assert (
        f"<http://127.0.0.1:8000/inbox/c/{convs[1].pk}/|#{convs[1].pk} Retard 1>" in (slack["text"])
    )
    assert slack_headers["X-Comptoir-Signature"].startswith("sha256=")  # a secret by default
    as_json.refresh_from_db()
    assert as_json.last_status == 200
    assert as_json.last_error == ""
    assert set(WebhookDelivery.objects.values_list("state", flat=True)) == {DeliveryState.SENT}


def test_a_users_own_webhook_hears_only_what_that_user_is_told_and_wants(
    hook_server: SimpleNamespace,
    make_conv: Callable[..., Conversation],
    agent: User,
    supervisor: User,
    admin: User,
) -> None:
    actions.create_webhook(
        actor=admin, name="Marie's", url=hook_server.url + "/marie", fmt="json", user=agent
    )
    mine, theirs = make_conv(assignee=agent), make_conv(assignee=supervisor)

    notify(Kind.SLA_AT_RISK, conversations=[mine.pk, theirs.pk])
    actions.set_preferences(agent, {Kind.SLA_BREACHED: (EmailChoice.NOW, False)})
    notify(Kind.SLA_BREACHED, conversations=[mine.pk])

    (delivery,) = WebhookDelivery.objects.all()
    data = json.loads(delivery.body)
    assert (data["kind"], [c["id"] for c in data["conversations"]]) == ("sla_at_risk", [mine.pk])


def test_a_failing_webhook_is_retried_with_backoff_and_does_not_block_the_others(
    hook_server: SimpleNamespace,
    make_conv: Callable[..., Conversation],
    agent: User,
    admin: User,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    down = actions.create_webhook(
        actor=admin, name="Down", url=f"http://127.0.0.1:{free_port()}/", fmt="json"
    )
    flaky = actions.create_webhook(actor=admin, name="Flaky", url=hook_server.url, fmt="slack")
    hook_server.statuses.append(503)
    conv = make_conv(assignee=agent)

    with django_capture_on_commit_callbacks(execute=True):
        notify(Kind.SLA_BREACHED, conversations=[conv.pk])
    outcomes = run_notification_tasks()

    assert len([o for o in outcomes if o.startswith("retrying")]) == 2
    down.refresh_from_db()
    flaky.refresh_from_db()
    assert down.last_status is None
    assert "ConnectError" in down.last_error
    assert flaky.last_status == 503
    assert flaky.last_error.startswith("HTTP 503")
    retries = DBTaskResult.objects.filter(task_path__endswith="deliver_webhook")
    assert retries.count() == 2
    for retry in retries:
        assert retry.run_after > timezone.now()  # deferred, not hammering
        assert retry.args_kwargs["kwargs"] == {"attempt": 2}

    # The next attempt of the flaky one gets through; the state and the status follow.
    flaky_delivery = WebhookDelivery.objects.get(webhook=flaky)
    assert flaky_delivery.state == DeliveryState.RETRYING
    assert deliver_webhook.call(flaky_delivery.pk, attempt=2) == "delivered (200)"
    flaky.refresh_from_db()
    flaky_delivery.refresh_from_db()
    assert (flaky.last_status, flaky.last_error) == (200, "")
    assert (flaky_delivery.state, flaky_delivery.attempts) == (DeliveryState.SENT, 2)

    # The dead one gives up after its last attempt, with its error kept.
    from comptoir.notifications.tasks import MAX_WEBHOOK_ATTEMPTS

    down_delivery = WebhookDelivery.objects.get(webhook=down)
    deliver_webhook.call(down_delivery.pk, attempt=MAX_WEBHOOK_ATTEMPTS)
    down_delivery.refresh_from_db()
    assert down_delivery.state == DeliveryState.FAILED
    assert "ConnectError" in down_delivery.error


def test_a_client_error_is_not_retried(
    hook_server: SimpleNamespace, make_conv: Callable[..., Conversation], agent: User, admin: User
) -> None:
    hook = actions.create_webhook(actor=admin, name="Gone", url=hook_server.url, fmt="json")
    hook_server.statuses.append(410)
    notify(Kind.SLA_BREACHED, conversations=[make_conv(assignee=agent).pk])
    delivery = WebhookDelivery.objects.get()

    assert deliver_webhook.call(delivery.pk).startswith("failed: HTTP 410")

    assert not DBTaskResult.objects.filter(task_path__endswith="deliver_webhook").exists()
    hook.refresh_from_db()
    assert hook.last_status == 410


def test_a_flood_goes_into_one_digest_mail(
    settings: Any,
    make_conv: Callable[..., Conversation],
    agent: User,
    supervisor: User,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    settings.NOTIFY_FLOOD_LIMIT = 2
    settings.NOTIFY_DIGEST_MINUTES = 30
    start = timezone.now()
    convs = [make_conv(subject=f"Question {i}") for i in range(6)]
    with django_capture_on_commit_callbacks(execute=True):
        for i, conv in enumerate(convs):
            notify(
                Kind.ASSIGNED,
                conversations=[conv.pk],
                users=[agent.pk],
                actor_id=supervisor.pk,
                now=start + timedelta(minutes=i),
            )
    run_notification_tasks()

    assert len(mailoutbox) == 2  # the first two, at once
    assert send_digests.call(now=start + timedelta(minutes=10)) == "0 digests sent"  # too soon

    assert send_digests.call(now=start + timedelta(minutes=45)) == "1 digests sent"
    assert len(mailoutbox) == 3
    digest = mailoutbox[2]
    assert digest.to == ["marie@example.com"]
    assert digest.subject == "[Comptoir] Digest: 4 notifications, 4 conversations"
    for conv in convs[2:]:
        assert f"#{conv.pk} {conv.subject}" in digest.body
        assert f"/inbox/c/{conv.pk}/" in digest.body
    assert f"/inbox/c/{convs[0].pk}/" not in digest.body
    assert Notification.objects.filter(email_state=EmailState.DIGESTED).count() == 4
    assert send_digests.call(now=start + timedelta(hours=2)) == "0 digests sent"  # sent once


def test_a_user_who_prefers_digests_gets_no_mail_at_once(
    make_conv: Callable[..., Conversation],
    agent: User,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    actions.set_preferences(agent, {Kind.SLA_AT_RISK: (EmailChoice.DIGEST, True)})
    conv = make_conv(assignee=agent)
    start = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        notify(Kind.SLA_AT_RISK, conversations=[conv.pk], now=start)
    run_notification_tasks()
    assert mailoutbox == []

    send_digests.call(now=start + timedelta(hours=1))

    assert [m.to for m in mailoutbox] == [["marie@example.com"]]
    assert "SLA at risk (1)" in mailoutbox[0].body


# -- sources -----------------------------------------------------------------------------------


def test_assigning_someone_else_tells_them_but_taking_it_oneself_does_not(
    make_conv: Callable[..., Conversation], agent: User, supervisor: User
) -> None:
    first, second = make_conv(), make_conv()

    inbox_actions.assign_conversation(first, assignee=agent, actor=supervisor)
    inbox_actions.assign_conversation(second, assignee=agent, actor=agent)
    inbox_actions.assign_conversation(first, assignee=agent, actor=supervisor)  # no change

    (note,) = Notification.objects.all()
    assert (note.user_id, note.kind, note.conversation_id, note.actor_id) == (
        agent.pk,
        Kind.ASSIGNED,
        first.pk,
        supervisor.pk,
    )


def test_a_mention_in_a_note_tells_the_mentioned_users_who_may_see_it(
    make_conv: Callable[..., Conversation], agent: User, supervisor: User, outsider: User
) -> None:
    conv = make_conv()

    inbox_actions.add_note(
        conv,
        actor=agent,
        text="@paul peux-tu regarder ? @olga aussi. (client: jean@paul.fr) @marie @nobody",
    )

    assert rows(Kind.MENTIONED) == [("paul", conv.pk)]
    note = Notification.objects.get()
    assert note.actor_id == agent.pk
    assert note.text.startswith("@paul peux-tu")


def test_mentions_are_read_from_usernames() -> None:
    text = "Merci @paul, @marie.dupont. Voir a@b.fr et @jean-luc! (@x_y)"
    assert actions.mentioned_usernames(text) == ["jean-luc", "marie.dupont", "paul", "x_y"]


# -- scale -------------------------------------------------------------------------------------


def test_thousands_of_conversations_cost_a_fixed_number_of_queries(
    shop: Shop,
    channel: Channel,
    agent: User,
    supervisor: User,
    outsider: User,
    admin: User,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    actions.create_webhook(actor=admin, name="Slack", url="http://127.0.0.1:9/", fmt="slack")
    convs = Conversation.objects.bulk_create(
        Conversation(shop=shop, channel=channel, subject=f"S{i}", assignee=agent if i % 2 else None)
        for i in range(3000)
    )
    ids = [c.pk for c in convs]

    started = time.perf_counter()
    # conversations, team members, users, their teams, preferences, the flood window,
    # webhooks; savepoint, the notifications (4,500 rows, one executemany), the webhook's
    # delivery, release
    with django_assert_num_queries(11):
        stored = notify(Kind.SLA_BREACHED, conversations=ids)
    elapsed = time.perf_counter() - started
    started = time.perf_counter()
    notify(Kind.SLA_AT_RISK, conversations=ids)
    again = time.perf_counter() - started

    # assigned to marie: 1,500; unassigned (her team): marie and paul, 1,500 each
    assert stored == 4500
    assert Notification.objects.filter(user=outsider).count() == 0
    assert set(Notification.objects.values_list("email_state", flat=True)) == {
        EmailState.DIGEST  # thousands at once: the digest, not thousands of lines now
    }
    assert WebhookDelivery.objects.count() == 2
    print(
        f"notify() over 3,000 conversations (4,500 rows): {elapsed * 1000:.0f} ms counting "
        f"queries, {again * 1000:.0f} ms not"
    )


# -- the test receiver and the pages ------------------------------------------------------------


def test_the_test_receiver_keeps_payloads_and_checks_their_signature(
    client: Client, admin: User, make_conv: Callable[..., Conversation], agent: User
) -> None:
    receiver = actions.create_receiver(actor=admin, name="Demo")
    url = actions.receiver_url(receiver)
    hook = actions.create_webhook(actor=admin, name="Demo", url=url, fmt="json")
    path = url.removeprefix("http://127.0.0.1:8000")
    body = b'{"kind": "test"}'
    good = actions.sign(hook.secret, "1700000000", body)

    ok = client.post(
        path,
        body,
        content_type="application/json",
        headers={"X-Comptoir-Signature": good, "X-Comptoir-Timestamp": "1700000000"},
    )
    forged = client.post(
        path,
        body,
        content_type="application/json",
        headers={"X-Comptoir-Signature": "sha256=00", "X-Comptoir-Timestamp": "1700000000"},
    )
    unknown = client.post("/hooks/test/nope/", body, content_type="application/json")

    assert (ok.status_code, forged.status_code, unknown.status_code) == (200, 200, 404)
    checked = ReceivedPayload.objects.order_by("pk").values_list("signature_valid", flat=True)
    assert list(checked) == [True, False]
    client.force_login(admin)
    page = client.get("/settings/notifications/")
    assert page.status_code == 200
    assert url in page.text
    assert "&quot;kind&quot;: &quot;test&quot;" in page.text


def test_send_test_queues_a_delivery_that_reaches_the_receiver(
    client: Client,
    admin: User,
    hook_server: SimpleNamespace,
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    hook = actions.create_webhook(actor=admin, name="ERP", url=hook_server.url, fmt="json")
    client.force_login(admin)

    with django_capture_on_commit_callbacks(execute=True):
        with_commit = client.post(f"/settings/notifications/webhooks/{hook.pk}/test")
    run_notification_tasks()

    assert with_commit.status_code == 302
    (_path, _headers, body) = hook_server.received[0]
    assert json.loads(body)["kind"] == "test"
    page = client.get("/settings/notifications/")
    assert "HTTP 200" in page.text


def test_every_user_sets_their_preferences_and_only_admins_see_webhooks(
    client: Client, agent: User, admin: User
) -> None:
    actions.create_webhook(actor=admin, name="Secret hook", url="http://127.0.0.1:9/", fmt="json")
    client.force_login(agent)

    page = client.get("/settings/notifications/")
    saved = client.post(
        "/settings/notifications/",
        {"email-sla_at_risk": "digest", "webhook-assigned": "on", "email-mentioned": "off"},
    )
    forbidden = client.post(
        "/settings/notifications/webhooks",
        {"name": "x", "url": "http://127.0.0.1:9/", "format": "json"},
    )

    assert page.status_code == 200
    assert "Secret hook" not in page.text
    assert saved.status_code == 302
    prefs = actions.preferences_of(agent)
    assert prefs[Kind.SLA_AT_RISK] == ("digest", False)
    assert prefs[Kind.ASSIGNED] == ("now", True)
    assert prefs[Kind.MENTIONED] == ("off", False)
    assert forbidden.status_code == 403  # a settings page for admins only, as the others
    assert Webhook.objects.count() == 1


def test_an_admin_adds_a_webhook_from_the_page(client: Client, admin: User) -> None:
    client.force_login(admin)

    client.post(
        "/settings/notifications/webhooks",
        {
            "name": "Slack #sav",
            "url": "https://hooks.example.com/T1",
            "format": "slack",
            "kinds": ["sla_breached", "channel_unhealthy"],
        },
    )

    hook = Webhook.objects.get()
    assert (hook.name, hook.format, hook.kinds) == (
        "Slack #sav",
        "slack",
        ["sla_breached", "channel_unhealthy"],
    )
    assert hook.secret.startswith("whsec_")


def test_the_list_shows_the_users_notifications_and_the_unread_count(
    client: Client,
    make_conv: Callable[..., Conversation],
    agent: User,
    supervisor: User,
    outsider: User,
) -> None:
    conv = make_conv(subject="Remboursement")
    inbox_actions.assign_conversation(conv, assignee=agent, actor=supervisor)
    notify(Kind.SLA_AT_RISK, conversations=[conv.pk], users=[supervisor.pk])
    client.force_login(agent)

    badge = client.get("/notifications/count")
    listing = client.get("/notifications/")
    client.post("/notifications/read")
    after = client.get("/notifications/count")

    assert '<span class="badge unread-count">1</span>' in badge.text
    assert f'href="/inbox/c/{conv.pk}/"' in listing.text
    assert "Remboursement" in listing.text
    assert "SLA at risk" not in listing.text  # paul's, not hers
    assert "unread-count" not in after.text
    client.force_login(outsider)
    assert "Remboursement" not in client.get("/notifications/").text


def test_the_demo_webhooks_deliver_to_the_built_in_receiver_over_http(
    live_server: Any,
    settings: Any,
    shop: Shop,
    channel: Channel,
    agent: User,
    admin: User,
) -> None:
    from comptoir.notifications import demo

    settings.SITE_URL = live_server.url
    demo.setup(admin)  # queues a test post (no transaction here: queued at once)
    conv = Conversation.objects.create(
        shop=shop, channel=channel, subject="Colis en retard", assignee=agent
    )
    notify(Kind.SLA_BREACHED, conversations=[conv.pk])
    notify(Kind.MENTIONED, conversations=[conv.pk], users=[agent.pk])  # JSON only

    outcomes = run_notification_tasks()

    assert sorted(o for o in outcomes if o.startswith("delivered")) == ["delivered (200)"] * 4
    received = list(ReceivedPayload.objects.order_by("pk"))
    assert [p.signature_valid for p in received] == [True] * 4
    bodies = [json.loads(p.body) for p in received]
    assert {b.get("kind") for b in bodies} == {"test", "sla_breached", "mentioned", None}
    slack = next(b for b in bodies if "kind" not in b)
    assert slack["text"].startswith("*SLA breached: Colis en retard*")


def test_a_mail_speaks_its_recipients_language(
    make_conv: Callable[..., Conversation],
    agent: User,
    supervisor: User,
    mailoutbox: list[Any],
    django_capture_on_commit_callbacks: OnCommit,
) -> None:
    agent.language = "fr"
    agent.save()
    convs = [make_conv(assignee=agent), make_conv(assignee=agent)]

    with django_capture_on_commit_callbacks(execute=True):
        notify(Kind.SLA_BREACHED, conversations=[c.pk for c in convs])
    run_notification_tasks()

    assert mailoutbox[0].subject == "[Comptoir] SLA dépassé : 2 conversations"
    assert "Choisissez ce que Comptoir vous signale" in mailoutbox[0].body


def test_work_left_half_done_by_a_dead_worker_is_queued_again_and_old_rows_go(
    make_conv: Callable[..., Conversation], agent: User, admin: User
) -> None:
    from comptoir.notifications.tasks import notifications_maintenance

    hook = actions.create_webhook(actor=admin, name="H", url="http://127.0.0.1:9/", fmt="json")
    conv = make_conv(assignee=agent)
    start = timezone.now()
    notify(Kind.SLA_BREACHED, conversations=[conv.pk], now=start)
    notify(Kind.SLA_AT_RISK, conversations=[conv.pk], now=start - timedelta(days=100))
    Notification.objects.update(email_state=EmailState.SENDING)  # the worker died here
    WebhookDelivery.objects.update(state=DeliveryState.SENDING, attempts=1)
    DBTaskResult.objects.all().delete()

    outcome = notifications_maintenance.call(now=start + timedelta(hours=1))

    assert outcome == "1 mails and 1 posts requeued, 2 old rows removed"
    assert list(Notification.objects.values_list("kind", "email_state")) == [
        ("sla_breached", EmailState.QUEUED)
    ]
    queued = DBTaskResult.objects.order_by("task_path")
    assert [t.task_path.rsplit(".", 1)[1] for t in queued] == [
        "deliver_webhook",
        "send_notification_emails",
    ]
    assert queued[0].args_kwargs["kwargs"] == {"attempt": 2}
    assert list(hook.deliveries.values_list("state", flat=True)) == [DeliveryState.RETRYING]


def test_the_list_page_costs_the_same_queries_for_few_or_many_notifications(
    client: Client,
    make_conv: Callable[..., Conversation],
    agent: User,
    supervisor: User,
    django_assert_num_queries: Callable[..., Any],
) -> None:
    client.force_login(agent)
    convs = [make_conv(assignee=agent) for _ in range(60)]
    notify(Kind.SLA_AT_RISK, conversations=[c.pk for c in convs[:2]])
    # session, user, the page of notifications with their conversations, which of those the
    # user may still see, the unread count
    with django_assert_num_queries(5):
        few = client.get("/notifications/")
    notify(Kind.SLA_BREACHED, conversations=[c.pk for c in convs], actor_id=supervisor.pk)
    with django_assert_num_queries(5):
        many = client.get("/notifications/")

    assert few.text.count('class="unread"') == 2
    assert many.text.count('class="unread"') == 50  # one page
