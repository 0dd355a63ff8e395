"""The conversation page's timeline (`inbox.timeline`, built in Python) pinned byte for byte:
a small fixed conversation rendered in English and in French, compared with the files in
tests/snapshots/. Any change of the markup fails here; when the change is meant, write the
files again and read their diff before committing it:

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest -q -n 0 tests/test_timeline_markup.py

Nothing needs normalising: every row has a fixed primary key (so the URLs and element ids are
the same on SQLite and PostgreSQL), the timestamps, timezone and language are pinned, and the
CSRF token is a fixed string."""

from __future__ import annotations

import difflib
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.utils import timezone, translation

from comptoir.accounts.models import User
from comptoir.inbox import page_reads
from comptoir.inbox.models import (
    Attachment,
    Channel,
    Conversation,
    Customer,
    Event,
    EventKind,
    Message,
)
from comptoir.inbox.timeline import render_timeline
from comptoir.inbox.views import _timeline

SNAPSHOTS = Path(__file__).parent / "snapshots"
CSRF = "snapshot-csrf-token"
CONVERSATION, SAME_ORDER = 7001, 7002


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, 15, hour, minute, tzinfo=UTC)


def _message(conv: Conversation, pk: int, when: datetime, **fields: object) -> Message:
    return Message.objects.create(
        pk=pk, conversation=conv, channel=conv.channel, created_at=when, **fields
    )


def _messages(conv: Conversation, agent: User) -> None:
    """One of each kind the timeline shows differently."""
    asked = _message(
        conv,
        7101,
        at(9, 5),
        direction="in",
        text="Bonjour,\nje n'ai pas reçu ma commande <n° 42>.\n\n> Le 10 janvier...",
        new_text="Bonjour,\nje n'ai pas reçu ma commande <n° 42>.",
        intent="not_received",
        html='<p>Bonjour, <img data-remote-src="https://example.com/a.png"></p>',
        source_sha256="a" * 64,
    )
    Attachment.objects.create(
        pk=7201, message=asked, filename="facture & photo.pdf", size=123_456, sha256="b" * 64
    )
    Attachment.objects.create(
        pk=7202, message=asked, filename="video.mp4", size=40_000_000, dropped_reason="too large"
    )
    _message(conv, 7102, at(9, 20), direction="note", author=agent, text="Vérifier le suivi.")
    _message(
        conv,
        7103,
        at(9, 30),
        direction="out",
        author=agent,
        text="Votre colis est en route.",
        delivery_state="sent",
    )
    _message(
        conv,
        7104,
        at(10),
        direction="out",
        author_name="Service client",
        text="Le voici.",
        delivery_state="failed",
        delivery_error="Marketplace refused: message too long",
    )
    _message(
        conv,
        7105,
        at(10, 5),
        direction="out",
        text="Nous avons bien reçu votre message.",
        is_auto=True,
        delivery_state="queued",
    )


def _events(conv: Conversation, agent: User) -> None:
    for when, kind, data, actor in [
        (at(9, 5), EventKind.CREATED, {}, None),
        (at(9, 6), EventKind.SAME_ORDER, {"conversation": SAME_ORDER, "order": "42"}, None),
        (at(9, 10), EventKind.ASSIGNED, {"assignee_name": "Marie"}, agent),
        (at(9, 11), EventKind.TAGGED, {"tag": "livraison <urgent>"}, agent),
        (at(9, 40), EventKind.STATUS_CHANGED, {"status": "pending", "previous": "open"}, agent),
        (at(10, 1), EventKind.DELIVERY_FAILED, {}, None),
    ]:
        Event.objects.create(conversation=conv, kind=kind, data=data, actor=actor, created_at=when)


@pytest.fixture
def conversation(channel: Channel, agent: User) -> Conversation:
    buyer = Customer.objects.create(name="Jeanne Martin", email="jeanne@example.com")
    for pk in (SAME_ORDER, CONVERSATION):
        conv = Conversation.objects.create(
            pk=pk, shop=channel.shop, channel=channel, customer=buyer, created_at=at(9, 5)
        )
    _messages(conv, agent)
    _events(conv, agent)
    return conv


def render(conv: Conversation, agent: User, language: str) -> str:
    """The timeline as the conversation page builds it, for a writer, in `language`."""
    with translation.override(language), timezone.override("Europe/Paris"):
        page_conv = page_reads.conversation(agent, conv.pk)
        assert page_conv is not None
        _, timeline, _, attachments = _timeline(page_conv, None)
        return str(render_timeline(timeline, attachments, page_conv, can_write=True, csrf=CSRF))


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_timeline_markup_is_the_one_pinned(
    conversation: Conversation, agent: User, language: str
) -> None:
    html = render(conversation, agent, language)
    stored = SNAPSHOTS / f"timeline_{language}.html"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        stored.parent.mkdir(exist_ok=True)
        stored.write_text(html, encoding="utf-8")
    expected = stored.read_text(encoding="utf-8")
    if html != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), html.splitlines(), str(stored), "rendered", lineterm=""
        )
        pytest.fail(
            "the timeline's markup changed (UPDATE_SNAPSHOTS=1 writes it again if meant):\n"
            + "\n".join(diff)
        )
