"""The triage settings page (owners and admins): the model in use with its held-out figures,
versions to roll back to, "Train now" as a task, the thanks toggle; and the weekly retraining,
which trains only on new corrections and keeps a worse model inactive."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from comptoir.accounts.models import User
from comptoir.inbox.models import Channel, Conversation, Direction, Message
from comptoir.jobs.periodic import REGISTRY
from comptoir.triage import actions, registry, tasks, training
from comptoir.triage.models import Correction, IntentModel, TriageSettings
from tests.test_triage_intent import TINY

pytestmark = pytest.mark.django_db
PAGE = "/settings/triage/"


def _base_figures(macro_f1: float) -> Any:
    metrics = training.evaluate(training.fit(TINY, threshold=0.2), TINY)
    metrics["macro_f1"] = macro_f1
    return lambda: (metrics, {"shipped": 27})


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """Train and measure on a tiny set (seconds, not minutes). The base model's figures are
    set too: measured here, the base model would be trained on the tiny set and kept."""
    monkeypatch.setattr(training.dataset, "load", lambda split: TINY)
    monkeypatch.setattr(registry, "base_figures", _base_figures(0.5))


@pytest.fixture
def admin(db: None) -> User:
    return User.objects.create_user("boss", "b@x.fr", "x", role="admin")


def _correction(channel: Channel, text: str = "refund please", **fields: Any) -> Correction:
    conv = Conversation.objects.create(channel=channel, shop=channel.shop)
    message = Message.objects.create(
        conversation=conv,
        channel=channel,
        direction=Direction.IN,
        external_id=text,
        text=text,
        received_at=timezone.now(),
    )
    return Correction.objects.create(
        message=message, field="intent", value="refund", text=text, language="en", **fields
    )


def test_admins_see_the_model_in_use_with_its_figures(
    client: Client, admin: User, tiny: None
) -> None:
    stored = actions.train_model()
    client.force_login(admin)
    html = client.get(PAGE).content.decode()

    assert f"Version {stored.version}" in html
    assert f"{stored.metrics['macro_f1']:.3f}" in html
    assert 'id="per-language"' in html
    assert "German" in html
    assert "Refund" in html
    assert "Thanks or closing" in html
    refund = stored.metrics["confusion"]["labels"].index("refund")
    right = stored.metrics["confusion"]["matrix"][refund][refund]
    assert right > 0
    assert f'class="right">{right}</td>' in html.split('id="confusion"')[1]
    assert "Use the base model" in html
    assert "Seller Central" in html
    assert "<strong>eBay</strong>" in html


def test_the_base_model_figures_show_in_french(
    client: Client, admin: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "base_figures", _base_figures(0.777))
    admin.language = "fr"
    admin.save()
    client.force_login(admin)
    html = client.get(PAGE, HTTP_ACCEPT_LANGUAGE="fr").content.decode()

    assert "0,777" in html or "0.777" in html
    assert "Remboursement" in html
    assert "version 0" in html


@pytest.mark.parametrize(("language", "grouped"), [("fr", "6\xa0500"), ("en", "6,500")])
def test_counts_are_grouped_as_the_language_groups_thousands(
    client: Client,
    admin: User,
    monkeypatch: pytest.MonkeyPatch,
    language: str,
    grouped: str,
) -> None:
    metrics = training.evaluate(training.fit(TINY, threshold=0.2), TINY)
    monkeypatch.setattr(registry, "base_figures", lambda: (metrics, {"shipped": 6500}))
    admin.language = language
    admin.save()
    client.force_login(admin)
    html = client.get(PAGE).content.decode()

    assert f"{grouped} " in html
    assert "6500" not in html


@pytest.mark.parametrize("persona", ["agent", "analyst", "supervisor"])
def test_other_roles_get_403(client: Client, persona: str, request: pytest.FixtureRequest) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get(PAGE).status_code == 403
    assert client.post(f"{PAGE}activate", {"version": "0"}).status_code == 403
    assert client.post(f"{PAGE}train").status_code == 403
    assert client.post(f"{PAGE}settings", {"no_reply_for_thanks": "1"}).status_code == 403
    assert TriageSettings.get().no_reply_for_thanks is False
    assert not DBTaskResult.objects.exists()


def test_a_version_is_activated_and_rolled_back(client: Client, admin: User, tiny: None) -> None:
    first = actions.train_model()
    second = actions.train_model()
    client.force_login(admin)

    client.post(f"{PAGE}activate", {"version": str(first.version)})
    assert registry.active_version() == first.version
    client.post(f"{PAGE}activate", {"version": "0"})
    assert registry.active_version() == 0
    assert not IntentModel.objects.filter(is_active=True).exists()
    response = client.post(f"{PAGE}activate", {"version": "99"}, follow=True)
    assert "There is no such model version." in response.content.decode()
    assert registry.active_version() == 0
    assert second.version == first.version + 1


def test_train_now_queues_a_task_that_trains(client: Client, admin: User, tiny: None) -> None:
    client.force_login(admin)
    assert client.post(f"{PAGE}train").status_code == 302
    (queued,) = DBTaskResult.objects.filter(task_path="comptoir.triage.tasks.train_model")
    version = queued.task.call(*queued.args_kwargs["args"])
    stored = IntentModel.objects.get(version=version)
    assert (stored.is_active, stored.trained_by) == (True, admin)


def test_the_thanks_toggle_saves(client: Client, admin: User, tiny: None) -> None:
    client.force_login(admin)
    client.post(f"{PAGE}settings", {"no_reply_for_thanks": "1"})
    assert TriageSettings.get().no_reply_for_thanks is True
    assert "checked" in client.get(PAGE).content.decode().split('id="thanks"')[1]
    client.post(f"{PAGE}settings", {})
    assert TriageSettings.get().no_reply_for_thanks is False


def test_the_weekly_training_is_registered() -> None:
    job = REGISTRY["triage.train"]
    assert (job.task, job.every) == (tasks.train_weekly, timedelta(days=7))


def test_the_weekly_training_skips_without_new_corrections(channel: Channel, tiny: None) -> None:
    assert tasks.train_weekly.call() == "no new corrections"
    assert not IntentModel.objects.exists()
    _correction(channel, created_at=timezone.now() - timedelta(days=2))
    actions.train_model()  # after that correction
    assert tasks.train_weekly.call() == "no new corrections"
    assert IntentModel.objects.count() == 1


def test_the_weekly_training_trains_on_new_corrections(channel: Channel, tiny: None) -> None:
    _correction(channel)

    assert tasks.train_weekly.call().startswith("v1 activated")
    stored = IntentModel.objects.get()
    assert (stored.version, stored.is_active, stored.trained_on["correction"]) == (1, True, 1)


def test_a_worse_weekly_model_is_kept_inactive(
    channel: Channel, tiny: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The base model is better than anything the tiny set can give, by more than 0.01.
    monkeypatch.setattr(registry, "base_figures", _base_figures(1.5))
    _correction(channel)

    assert "kept inactive" in tasks.train_weekly.call()
    assert registry.active_version() == 0
    assert IntentModel.objects.get().is_active is False
