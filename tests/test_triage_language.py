"""Triage reads the language of each new inbound message after ingest, and the conversation
takes it unless a connector or an agent gave one."""

from __future__ import annotations

from typing import Any

import pytest

from comptoir.accounts.models import User
from comptoir.inbox import actions, hooks
from comptoir.inbox.models import EventKind, Message
from comptoir.triage import language, samples, tasks
from tests.triage_support import Build, ingest_one, run_queued


@pytest.mark.parametrize("lang", language.LANGUAGES)
def test_each_language_is_read_on_long_texts(lang: str) -> None:
    found = [language.detect(text)[0] for text in samples.LONG[lang]]
    assert found == [lang] * len(found)


@pytest.mark.parametrize("lang", language.LANGUAGES)
def test_short_texts_are_read_or_unknown_never_wrong(lang: str) -> None:
    found = [language.detect(text)[0] for text in samples.SHORT[lang]]
    assert set(found) <= {lang, language.UNKNOWN}
    assert found.count(lang) >= 3, found


@pytest.mark.parametrize(
    ("text", "lang"), [("Merci !", "fr"), ("Danke", "de"), ("Gracias", "es"), ("Grazie", "it")]
)
def test_the_words_buyers_send_alone_are_known(text: str, lang: str) -> None:
    code, confidence = language.detect(text)
    assert code == lang
    assert 0 < confidence <= 1


@pytest.mark.parametrize("text", samples.UNKNOWN)
def test_nothing_to_read_is_unknown(text: str) -> None:
    assert language.detect(text)[0] == language.UNKNOWN


def test_a_french_reply_quoting_an_english_message_is_french() -> None:
    text = (
        "Bonjour, je n'ai toujours rien reçu, pouvez-vous me donner le numéro de suivi ?\n\n"
        "On Mon, 3 Nov 2026 at 10:12, Shop Support <support@example.com> wrote:\n"
        "> Hello, thank you for your order. Your parcel has been shipped today with UPS\n"
        "> and should arrive within three to five working days. Kind regards, the team\n"
    )
    assert language.detect(text)[0] == "fr"


@pytest.mark.django_db
def test_the_conversation_gets_its_language_afteringest_one(
    make_inbound: Build, django_capture_on_commit_callbacks: Any
) -> None:
    assert tasks.queue_reading in hooks.messages_stored.subscribers
    conv = ingest_one(
        make_inbound,
        django_capture_on_commit_callbacks,
        thread_id="T-1",
        text="Hallo, meine Bestellung ist immer noch nicht angekommen. Können Sie nachsehen?",
    )
    assert conv.language == ""  # not on the live path: the task does it
    assert run_queued() == [1]
    conv.refresh_from_db()
    assert (conv.language, conv.language_by_triage) == ("de", True)
    assert Message.objects.get().language == "de"
    event = conv.events.get(kind=EventKind.LANGUAGE_SET)
    assert event.data == {"previous": "", "language": "de"}
    assert event.actor_label == "triage"

    # The buyer goes on in English: triage's own reading follows; "ok" changes nothing.
    ingest_one(
        make_inbound,
        django_capture_on_commit_callbacks,
        thread_id="T-1",
        text="Sorry, I should write in English: where is my parcel please?",
    )
    ingest_one(make_inbound, django_capture_on_commit_callbacks, thread_id="T-1", text="ok")
    assert run_queued() == [1, 1]
    conv.refresh_from_db()
    assert conv.language == "en"
    assert list(Message.objects.order_by("pk").values_list("language", flat=True)) == [
        "de",
        "en",
        "unknown",
    ]


@pytest.mark.django_db
def test_a_language_given_by_the_connector_is_not_overruled(
    make_inbound: Build, django_capture_on_commit_callbacks: Any
) -> None:
    conv = ingest_one(
        make_inbound,
        django_capture_on_commit_callbacks,
        language="it",
        text="Hello, the parcel arrived damaged, the glass is broken. What can you do?",
    )
    assert run_queued() == [1]
    conv.refresh_from_db()
    assert (conv.language, conv.language_by_triage) == ("it", False)
    assert Message.objects.get().language == "en"  # read all the same
    assert not conv.events.filter(kind=EventKind.LANGUAGE_SET).exists()


@pytest.mark.django_db
def test_an_agents_language_is_not_overruled_by_triage(
    make_inbound: Build, agent: User, django_capture_on_commit_callbacks: Any
) -> None:
    conv = ingest_one(make_inbound, django_capture_on_commit_callbacks, text="Bonjour")
    run_queued()
    actions.set_language(conv, language="es", actor=agent)
    assert not actions.set_language(conv, language="fr", actor=None, by_triage=True)
    conv.refresh_from_db()
    assert (conv.language, conv.language_by_triage) == ("es", False)
