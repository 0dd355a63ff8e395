"""Every change to surveys: settings, sending one, recording the buyer's answer.

The survey goes out through the inbox's `reply` action (so the pre-send checks run on it, as
on any reply), and the timeline gets `survey_sent` and `survey_answered` events through
`write_events`, which also wakes the rules (a rule on "survey answered" may reopen).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings as django_settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from comptoir.accounts.models import Role, Team, User
from comptoir.accounts.permissions import can_manage_channels
from comptoir.inbox.actions import reply, write_events
from comptoir.inbox.models import Channel, Conversation, Event, EventKind
from comptoir.notifications.actions import notify
from comptoir.notifications.kinds import Kind as NotificationKind
from comptoir.surveys import policy, texts
from comptoir.surveys.models import Survey, SurveyKind, SurveySettings

VIA = "surveys"
SALT = "comptoir.surveys"
# A link older than this is refused (410): the answer would no longer say much.
TOKEN_MAX_AGE = timedelta(days=60)
# After the first answer, the comment may still be changed this long (the score may not).
COMMENT_WINDOW = timedelta(days=7)
COMMENT_MAX = 4000


class SurveyExpired(Exception):
    """The link's signature is right but older than TOKEN_MAX_AGE; `language` is its survey's,
    to say so in the buyer's words."""

    def __init__(self, language: str) -> None:
        super().__init__(language)
        self.language = language


# -- the signed link ---------------------------------------------------------------------------


def signed_token(survey: Survey) -> str:
    return signing.TimestampSigner(salt=SALT).sign(survey.token)


def survey_for_token(signed: str) -> Survey:
    """The survey a link names; `Survey.DoesNotExist` for a bad signature or an unknown token,
    `SurveyExpired` for a link over 60 days old."""
    signer = signing.TimestampSigner(salt=SALT)
    try:
        token = signer.unsign(signed, max_age=TOKEN_MAX_AGE)
    except signing.SignatureExpired:
        token = signer.unsign(signed)  # signed by us, only too old
        found = Survey.objects.filter(token=token).values_list("language", flat=True).first()
        raise SurveyExpired(found or texts.DEFAULT) from None
    except signing.BadSignature:
        raise Survey.DoesNotExist(signed) from None
    return Survey.objects.select_related("conversation").get(token=token)


def survey_url(survey: Survey) -> str:
    return django_settings.SITE_URL + reverse("survey", args=[signed_token(survey)])


# -- settings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SettingsForm:
    enabled: bool
    kind: str
    delay_hours: int
    min_days_between: int
    excluded_channel_ids: list[int]
    excluded_tags: list[str]
    message_marketplaces: list[str]


def save_settings(*, actor: User, form: SettingsForm) -> SurveySettings:
    """The seller's survey settings (owners and admins)."""
    if not can_manage_channels(actor):
        raise PermissionDenied("survey settings are for owners and admins")
    if form.kind not in SurveyKind.values:
        raise ValidationError(f"unknown survey kind {form.kind!r}")
    if not 0 <= form.delay_hours <= 24 * 30 or not 0 <= form.min_days_between <= 3650:
        raise ValidationError("delay from 0 to 720 hours, interval from 0 to 3650 days")
    unknown = set(form.message_marketplaces) - set(policy.MESSAGE_ALLOWED)
    if unknown:
        raise ValidationError(f"surveys may not go by message on {', '.join(sorted(unknown))}")
    found = SurveySettings.get()
    found.enabled = form.enabled
    found.kind = form.kind
    found.delay_hours = form.delay_hours
    found.min_days_between = form.min_days_between
    found.excluded_channel_ids = sorted(set(form.excluded_channel_ids))
    found.excluded_tags = sorted({t.strip() for t in form.excluded_tags if t.strip()})
    found.message_marketplaces = sorted(set(form.message_marketplaces))
    found.save()
    return found


# -- sending -----------------------------------------------------------------------------------


@transaction.atomic
def send_survey(conv: Conversation, settings: SurveySettings) -> Survey | None:
    """Send the survey of `conv` (resolved) through its channel, where allowed; None when the
    channel may not carry one. The caller chose `conv` (`tasks.due_conversations`)."""
    channel: Channel = conv.channel
    route = policy.route(channel, settings)
    if not route:
        return None
    customer = conv.customer
    language = texts.language_for(
        conv.language, customer.language if customer else "", channel.shop.language
    )
    survey = Survey.objects.create(
        conversation=conv,
        customer=customer,
        kind=settings.kind,
        token=secrets.token_urlsafe(18)[:24],
        channel=route if route == "email" else channel.marketplace,
        language=language,
    )
    name = (customer.name if customer else "").strip()
    text = texts.message_text(language, settings.kind, name, survey_url(survey), channel.shop.name)
    # Not an auto-reply to a buyer's message: it must not touch the deadline, and the status
    # stays resolved (the reply action leaves it when `then_status` is not given).
    message = reply(conv, actor=None, text=text, via=VIA, is_auto=True)
    survey.message = message
    survey.save(update_fields=["message"])
    _write_event(conv, EventKind.SURVEY_SENT, kind=survey.kind, channel=survey.channel)
    return survey


def _write_event(conv: Conversation, event_kind: str, **data: object) -> None:
    write_events([Event(conversation=conv, kind=event_kind, actor_label=VIA, data=data)])


# -- answers -----------------------------------------------------------------------------------


def parse_score(survey: Survey, raw: str | None) -> int | None:
    """A score on the survey's scale, or None (absent or out of range)."""
    try:
        score = int(raw or "")
    except ValueError:
        return None
    return score if score in survey.scale else None


@transaction.atomic
def record_answer(survey: Survey, *, score: int | None, comment: str = "") -> Survey:
    """The buyer's answer: the first one with a score is kept; later ones may change the
    comment only, within COMMENT_WINDOW. A low score tells the team's supervisors."""
    locked = Survey.objects.select_for_update().select_related("conversation").get(pk=survey.pk)
    now = timezone.now()
    comment = comment.strip()[:COMMENT_MAX]
    if locked.answered_at is not None:
        if comment and now - locked.answered_at <= COMMENT_WINDOW:
            locked.comment = comment
            locked.save(update_fields=["comment"])
        return locked
    if score is None or score not in locked.scale:
        raise ValidationError("a score on the survey's scale is needed")
    locked.score = score
    locked.comment = comment
    locked.answered_at = now
    locked.save(update_fields=["score", "comment", "answered_at"])
    _write_event(locked.conversation, EventKind.SURVEY_ANSWERED, score=score, kind=locked.kind)
    if locked.is_low:
        _tell_supervisors(locked)
    return locked


def supervisors_of(conv: Conversation) -> list[int]:
    """The supervisors of the conversation's team (or its channel's); without any, every
    supervisor; without any, the owners and admins."""
    team_id = conv.team_id or conv.channel.team_id
    active = User.objects.filter(is_active=True)
    if team_id is not None:
        team = Team.objects.filter(pk=team_id).first()
        if team is not None:
            ids = list(
                team.members.filter(is_active=True, role=Role.SUPERVISOR).values_list(
                    "pk", flat=True
                )
            )
            if ids:
                return ids
    ids = list(active.filter(role=Role.SUPERVISOR).values_list("pk", flat=True))
    if ids:
        return ids
    return list(active.filter(role__in=[Role.OWNER, Role.ADMIN]).values_list("pk", flat=True))


def _tell_supervisors(survey: Survey) -> None:
    conv = survey.conversation
    scale = "1-5" if survey.kind == SurveyKind.CSAT else "0-10"

    def text() -> str:  # the survey's name in each recipient's language
        written = f"{survey.get_kind_display()}: {survey.score} ({scale})"
        return written + (f"\n{survey.comment[:500]}" if survey.comment else "")

    notify(
        NotificationKind.SURVEY_LOW, conversations=[conv.pk], users=supervisors_of(conv), text=text
    )
