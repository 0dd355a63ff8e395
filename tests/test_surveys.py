"""Surveys after resolution: who gets one and how, the public page, answers, rules, figures."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from comptoir.accounts.models import Role, Team, User
from comptoir.automation import engine
from comptoir.automation import rules as rule_actions
from comptoir.automation.models import Trigger
from comptoir.connectors.base import InboundMessage
from comptoir.inbox import actions as inbox_actions
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import (
    Channel,
    Conversation,
    Customer,
    Direction,
    Event,
    EventKind,
    Message,
    Shop,
    Status,
    Tag,
)
from comptoir.notifications.models import Notification
from comptoir.surveys import actions, metrics, policy, tasks, texts
from comptoir.surveys.models import Survey, SurveyKind, SurveySettings

MakeInbound = Callable[..., InboundMessage]


@pytest.fixture(autouse=True)
def _forget_cached_rules() -> None:
    engine._has_rules[0] = 0.0


@pytest.fixture
def mail_channel(shop: Shop, team: Team) -> Channel:
    return Channel.objects.create(
        shop=shop, kind="email", marketplace="shop", name="Shop mailbox", team=team
    )


@pytest.fixture
def ebay_channel(shop: Shop, team: Team) -> Channel:
    return Channel.objects.create(
        shop=shop, kind="ebay", marketplace="ebay", name="eBay", team=team
    )


@pytest.fixture
def enabled(db: None) -> SurveySettings:
    found = SurveySettings.get()
    found.enabled = True
    found.save()
    return found


_buyers = iter(range(1, 10_000))


@pytest.fixture
def resolved(make_inbound: MakeInbound) -> Callable[..., Conversation]:
    """A conversation resolved `hours` ago on `channel`, from a new buyer unless `email`."""

    def build(channel: Channel, *, hours: float = 30, email: str = "", **over: Any) -> Conversation:
        address = email or f"buyer{next(_buyers)}@example.com"
        sender = {"identity_kind": "email", "identity_value": address, "email": address}
        result = ingest(make_inbound(channel_id=channel.pk, sender={**sender, "name": "Jeanne"}))
        assert result.conversation_id is not None, result.error
        conv = Conversation.objects.get(pk=result.conversation_id)
        inbox_actions.set_status(conv, status=Status.RESOLVED, actor=None)
        at = timezone.now() - timedelta(hours=hours)
        Conversation.objects.filter(pk=conv.pk).update(resolved_at=at, **over)
        return Conversation.objects.get(pk=conv.pk)

    return build


def sent_survey(conv: Conversation) -> Survey:
    return Survey.objects.get(conversation=conv)


# -- sending rules ---------------------------------------------------------------------------


def test_a_survey_goes_by_email_after_the_delay_as_a_reply_with_a_signed_link(
    enabled: SurveySettings, mail_channel: Channel, resolved: Callable[..., Conversation]
) -> None:
    early = resolved(mail_channel, hours=2)
    due = resolved(mail_channel, hours=30)
    assert tasks.send_due() == 1
    survey = sent_survey(due)
    assert not Survey.objects.filter(conversation=early).exists()
    message = Message.objects.get(pk=survey.message_id)
    assert message.direction == Direction.OUT
    links = re.findall(r"/s/([^/\s]+)/\?score=(\d)", message.text)
    assert [score for _token, score in links] == ["1", "2", "3", "4", "5"]
    assert actions.survey_for_token(links[0][0]) == survey  # signed, and names this survey
    assert Conversation.objects.get(pk=due.pk).status == Status.RESOLVED
    event = Event.objects.get(conversation=due, kind=EventKind.SURVEY_SENT)
    assert event.data == {"kind": "csat", "channel": "email"}
    assert tasks.send_due() == 0  # one survey per conversation


def test_nothing_is_sent_while_surveys_are_off(
    mail_channel: Channel, resolved: Callable[..., Conversation]
) -> None:
    resolved(mail_channel)
    assert tasks.send_due() == 0
    assert not Survey.objects.exists()


def test_excluded_channels_and_tags_get_no_survey(
    enabled: SurveySettings, mail_channel: Channel, resolved: Callable[..., Conversation]
) -> None:
    tagged = resolved(mail_channel)
    tagged.tags.add(Tag.objects.create(name="litige"))
    kept = resolved(mail_channel)
    enabled.excluded_tags = ["litige"]
    enabled.save()
    assert tasks.send_due() == 1
    assert Survey.objects.get().conversation_id == kept.pk
    other = resolved(mail_channel)
    enabled.excluded_channel_ids = [mail_channel.pk]
    enabled.save()
    assert tasks.send_due() == 0
    assert not Survey.objects.filter(conversation=other).exists()


def test_a_buyer_is_asked_at_most_once_in_min_days_between(
    enabled: SurveySettings, mail_channel: Channel, resolved: Callable[..., Conversation]
) -> None:
    first = resolved(mail_channel, email="same@example.com")
    second = resolved(mail_channel, email="same@example.com", hours=40)
    assert first.customer_id == second.customer_id
    assert tasks.send_due() == 1
    assert tasks.send_due() == 0
    Survey.objects.update(sent_at=timezone.now() - timedelta(days=31))
    assert tasks.send_due() == 1
    assert Survey.objects.count() == 2


def test_marketplaces_whose_rules_forbid_it_never_get_one(
    enabled: SurveySettings,
    channel: Channel,
    ebay_channel: Channel,
    resolved: Callable[..., Conversation],
) -> None:
    amazon = resolved(channel)  # the `channel` fixture is Amazon's
    ebay = resolved(ebay_channel)
    assert tasks.send_due() == 0  # eBay is allowed only when switched on
    enabled.message_marketplaces = ["ebay"]
    enabled.save()
    assert tasks.send_due() == 1
    assert sent_survey(ebay).channel == "ebay"
    assert not Survey.objects.filter(conversation=amazon).exists()
    form = actions.SettingsForm(True, "csat", 24, 30, [], [], ["amazon"])
    owner = User.objects.create_user("o", role=Role.OWNER)
    with pytest.raises(ValidationError, match="amazon"):
        actions.save_settings(actor=owner, form=form)


def test_the_survey_is_in_the_buyers_language(
    enabled: SurveySettings, mail_channel: Channel, resolved: Callable[..., Conversation]
) -> None:
    conv = resolved(mail_channel, language="de")
    tasks.send_due()
    survey = sent_survey(conv)
    assert survey.language == "de"
    assert "Ihr Anliegen ist erledigt" in Message.objects.get(pk=survey.message_id).text


@pytest.mark.parametrize("language", texts.LANGUAGES)
@pytest.mark.parametrize("kind", SurveyKind.values)
def test_the_message_passes_the_presend_checks(
    language: str,
    kind: str,
    mail_channel: Channel,
    ebay_channel: Channel,
    make_inbound: MakeInbound,
) -> None:
    for ch in (mail_channel, ebay_channel):
        result = ingest(make_inbound(channel_id=ch.pk))
        conv = Conversation.objects.get(pk=result.conversation_id)
        text = texts.message_text(language, kind, "Jeanne", "https://desk.example/s/abc/", "Shop")
        found = inbox_actions.presend_checks(inbox_actions.Draft(conv, text, is_auto=True))
        codes = {r.code for r in found}
        assert not [r for r in found if r.level == "block"], found
        assert "marketing" not in codes  # no review or stars wording, in any language


# -- the public page --------------------------------------------------------------------------


@pytest.fixture
def survey(
    enabled: SurveySettings, mail_channel: Channel, resolved: Callable[..., Conversation]
) -> Survey:
    resolved(mail_channel)
    tasks.send_due()
    return Survey.objects.get()


def url(survey: Survey) -> str:
    return f"/s/{actions.signed_token(survey)}/"


def test_the_page_asks_with_plain_radio_buttons_and_a_form_post(survey: Survey) -> None:
    response = Client().get(url(survey))
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('type="radio" name="score"') == 5
    assert '<form method="post"' in html
    assert "<script" not in html
    assert "Comment jugez-vous notre réponse ?" in html  # the buyer's language (the shop's here)
    response = Client().post(url(survey), {"score": "4", "comment": "Quick and clear"})
    assert response.status_code == 200
    sent = response.content.decode()
    assert 'id="survey-thanks"' in sent  # not "already recorded" right after sending
    assert "Quick and clear</textarea>" in sent  # the comment stays editable for 7 days
    later = Client().get(url(survey)).content.decode()
    assert 'id="survey-closed"' in later
    survey.refresh_from_db()
    assert (survey.score, survey.comment) == (4, "Quick and clear")
    event = Event.objects.get(kind=EventKind.SURVEY_ANSWERED)
    assert event.data == {"score": 4, "kind": "csat"}


def test_the_score_clicked_in_the_message_is_chosen_not_recorded_until_sent(
    survey: Survey,
) -> None:
    # Mail scanners open every link of a message: a GET must record nothing.
    for score in range(1, 6):
        response = Client().get(url(survey) + f"?score={score}")
        assert response.status_code == 200
    html = response.content.decode()
    assert 'value="5" required checked' in html
    assert 'value="4" required checked' not in html
    survey.refresh_from_db()
    assert survey.answered_at is None
    assert not Event.objects.filter(kind=EventKind.SURVEY_ANSWERED).exists()
    Client().post(url(survey), {"score": "5", "comment": ""})
    survey.refresh_from_db()
    assert survey.score == 5


def test_one_answer_per_conversation_a_second_post_changes_the_comment_only(
    survey: Survey,
) -> None:
    Client().post(url(survey), {"score": "2"})
    Client().post(url(survey), {"score": "5", "comment": "Actually it arrived"})
    Client().get(url(survey) + "?score=5")
    survey.refresh_from_db()
    assert (survey.score, survey.comment) == (2, "Actually it arrived")
    assert Event.objects.filter(kind=EventKind.SURVEY_ANSWERED).count() == 1
    Survey.objects.filter(pk=survey.pk).update(answered_at=timezone.now() - timedelta(days=8))
    Client().post(url(survey), {"comment": "too late"})
    survey.refresh_from_db()
    assert survey.comment == "Actually it arrived"


def test_a_post_without_a_score_is_refused(survey: Survey) -> None:
    response = Client().post(url(survey), {"comment": "hm"})
    assert response.status_code == 400
    survey.refresh_from_db()
    assert survey.answered_at is None


def test_a_bad_token_is_404_and_an_expired_one_410(survey: Survey) -> None:
    assert Client().get(f"/s/{survey.token}/").status_code == 404  # unsigned
    assert Client().get(url(survey)[:-3] + "xx/").status_code == 404

    class Old(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time() - 61 * 86400))

    old = Old(salt=actions.SALT).sign(survey.token)
    expired = Client().get(f"/s/{old}/")
    assert expired.status_code == 410
    assert "Ce lien a expiré" in expired.content.decode()  # in the survey's language
    assert Client().post(f"/s/{old}/", {"score": "5"}).status_code == 410
    survey.refresh_from_db()
    assert survey.answered_at is None


# -- low scores and rules ---------------------------------------------------------------------


def test_a_low_score_notifies_the_teams_supervisor(
    survey: Survey, supervisor: User, agent: User
) -> None:
    actions.record_answer(survey, score=1, comment="Never arrived")
    told = Notification.objects.filter(kind="survey_low", conversation=survey.conversation)
    assert [n.user_id for n in told] == [supervisor.pk]


def test_a_good_score_notifies_nobody(survey: Survey, supervisor: User) -> None:
    actions.record_answer(survey, score=4)
    assert not Notification.objects.filter(kind="survey_low").exists()


def test_a_rule_on_survey_answered_reopens_on_a_low_score(survey: Survey) -> None:
    rule_actions.create_rule(
        actor=None,
        name="reopen unhappy",
        trigger=Trigger.SURVEY_ANSWERED,
        conditions={"all": [{"type": "survey_score", "max": 2}]},
        actions=[{"type": "set_status", "status": "open"}],
    )
    other = Survey.objects.create(
        conversation=_another_resolved(survey),
        kind="csat",
        token="t2",
        channel="email",
    )
    actions.record_answer(other, score=5)
    actions.record_answer(survey, score=2)
    engine.pump()
    assert Conversation.objects.get(pk=survey.conversation_id).status == Status.OPEN
    assert Conversation.objects.get(pk=other.conversation_id).status == Status.RESOLVED


def _another_resolved(survey: Survey) -> Conversation:
    conv = survey.conversation
    return Conversation.objects.create(
        shop=conv.shop, channel=conv.channel, status=Status.RESOLVED, subject="other"
    )


# -- figures ----------------------------------------------------------------------------------


def test_csat_nps_and_response_rate_on_hand_built_answers(mail_channel: Channel) -> None:
    now = timezone.now()

    def make(kind: str, score: int | None, days_ago: int = 1) -> None:
        conv = Conversation.objects.create(shop=mail_channel.shop, channel=mail_channel)
        Survey.objects.create(
            conversation=conv,
            kind=kind,
            token=f"t{conv.pk}",
            channel="email",
            sent_at=now - timedelta(days=days_ago),
            score=score,
            answered_at=now if score is not None else None,
        )

    for s in (5, 4, 3, 1):
        make("csat", s)
    make("csat", None)
    for s in (10, 9, 8, 6, 0):
        make("nps", s)
    make("csat", 1, days_ago=40)  # outside the period below
    week = {"start": now - timedelta(days=7), "end": now}
    assert metrics.csat(**week) == 50.0
    assert metrics.nps(**week) == 0.0  # 2 promoters - 2 detractors of 5
    assert metrics.response_rate(**week) == pytest.approx(100 * 9 / 10)
    assert metrics.csat() == 40.0
    assert metrics.nps(Survey.objects.none()) is None
    assert metrics.csat(channel="email", **week) == 50.0


# -- settings page ----------------------------------------------------------------------------


def test_the_settings_page_is_for_owners_and_admins(
    db: None, agent: User, supervisor: User, mail_channel: Channel
) -> None:
    owner = User.objects.create_user("olivia", "o@example.com", "pw", role=Role.OWNER)
    client = Client()
    for user in (agent, supervisor):
        client.force_login(user)
        assert client.get("/settings/surveys/").status_code == 403
        assert client.post("/settings/surveys/", {"enabled": "1"}).status_code == 403
    assert not SurveySettings.get().enabled
    client.force_login(owner)
    assert client.get("/settings/surveys/").status_code == 200
    response = client.post(
        "/settings/surveys/",
        {
            "enabled": "1",
            "kind": "nps",
            "delay_hours": "48",
            "min_days_between": "60",
            "excluded_tags": "vip, litige",
            "excluded_channels": [str(mail_channel.pk)],
            "message_marketplaces": ["ebay"],
        },
    )
    assert response.status_code == 302
    found = SurveySettings.get()
    assert (found.enabled, found.kind, found.delay_hours, found.min_days_between) == (
        True,
        "nps",
        48,
        60,
    )
    assert found.excluded_tags == ["litige", "vip"]
    assert found.excluded_channel_ids == [mail_channel.pk]
    assert found.message_marketplaces == ["ebay"]
    client.post("/settings/surveys/", {"kind": "csat", "message_marketplaces": ["amazon"]})
    assert SurveySettings.get().message_marketplaces == ["ebay"]  # refused, unchanged


def test_customer_is_kept_on_the_survey(survey: Survey) -> None:
    assert survey.customer_id == survey.conversation.customer_id
    assert Customer.objects.filter(pk=survey.customer_id).exists()


def test_the_timeline_shows_the_survey_sent_and_answered(survey: Survey, supervisor: User) -> None:
    actions.record_answer(survey, score=2)
    client = Client()
    client.force_login(supervisor)
    page = client.get(f"/inbox/c/{survey.conversation_id}/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert "Survey sent" in html
    assert "Survey answered: 2/5" in html


def test_spartoos_relay_mailbox_never_carries_a_survey(shop: Shop) -> None:
    """Spartoo's buyer messages come and go by Spartoo's mail relay: a marketplace message, even
    on an email channel, and Spartoo's terms are not public."""
    relay = Channel.objects.create(shop=shop, kind="email", marketplace="spartoo", name="Spartoo")
    allowed = SurveySettings(message_marketplaces=["spartoo", "ebay"])
    assert policy.route(relay, allowed) == ""
    assert "spartoo" in policy.NEVER
    assert "spartoo" not in policy.MESSAGE_ALLOWED
