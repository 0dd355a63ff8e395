"""The live chat channel: the widget's endpoints, the inbox's conversation, the answers back."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.utils import timezone

from comptoir.accounts.models import Role, User
from comptoir.connectors.chat import service, stream
from comptoir.connectors.chat.models import ChatLine, ChatVisitor
from comptoir.inbox import actions, chat_views, live
from comptoir.inbox.models import Channel, Conversation, Message, Presence, PresenceState
from comptoir.inbox.tasks import send_message
from tests.chat_support import SHOP_KEY, Visitor

pytestmark = pytest.mark.django_db
STATIC = Path(service.__file__).resolve().parent / "static" / "chat"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def conversation_of(visitor: ChatVisitor) -> Conversation:
    return Conversation.objects.get(external_thread_id=visitor.key)


def test_the_widget_is_one_small_file_that_never_renders_html(client: Client) -> None:
    response = client.get("/chat/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    source = (STATIC / "widget.js").read_text()
    assert len(source.encode()) < 16_000
    # Text only: no HTML sink anywhere in the widget.
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", source)
    assert client.get("/chat/widget.css").status_code == 200
    assert client.get("/chat/other.js").status_code == 404


def test_a_visitor_message_becomes_an_inbox_conversation_and_a_reload_keeps_it(
    chat_channel: Channel, open_hours: None
) -> None:
    visitor = Visitor()
    opened = visitor.hello()
    assert opened["greeting"] == "Hello from the shop"
    assert opened["lines"] == []
    response = visitor.say("Where is my parcel?", "m-1", name="Léa", order_number="CMD-42")
    assert response.status_code == 201, response.content
    assert response["Access-Control-Allow-Origin"] == "https://shop.example"
    stored = ChatVisitor.objects.get()
    conv = conversation_of(stored)
    assert conv.channel == chat_channel
    assert conv.order_number == "CMD-42"
    assert conv.customer is not None
    assert conv.customer.name == "Léa"
    assert conv.needs_reply
    assert conv.respond_by is not None
    # The same token after a reload: the same visitor and the transcript.
    again = Visitor()
    again.token = visitor.token
    assert [line["text"] for line in again.hello()["lines"]] == ["Where is my parcel?"]
    assert ChatVisitor.objects.count() == 1


def test_a_retried_or_doubled_post_is_stored_once(
    chat_channel: Channel, open_hours: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault test: every message is posted twice, a third of the first attempts fail after
    the line is kept but before the inbox has it; the retries complete them: 0 lost, 0 twice."""
    from comptoir.connectors import base

    visitor = Visitor()
    visitor.hello()
    store = base.channel_store()
    real = store.ingest
    calls = {"n": 0}

    def flaky(messages: list[Any]) -> None:
        calls["n"] += 1
        if calls["n"] % 3 == 1:
            raise ConnectionError("the database went away")
        real(messages)

    monkeypatch.setattr(store, "ingest", flaky)
    client = visitor.client
    client.raise_request_exception = False
    sent = [f"message {n}" for n in range(12)]
    for n, text in enumerate(sent):
        for _ in range(3):
            response = visitor.say(text, f"id-{n}")
            if response.status_code == 201:
                break
        assert visitor.say(text, f"id-{n}").status_code == 201  # the duplicate
    texts = list(
        Message.objects.filter(direction="in").order_by("pk").values_list("text", flat=True)
    )
    assert texts == sent
    assert ChatLine.objects.filter(direction="in").count() == len(sent)
    assert Conversation.objects.count() == 1


def test_the_site_must_be_one_of_the_shop_s_and_the_token_its_own(
    chat_channel: Channel, open_hours: None
) -> None:
    assert Visitor(origin="https://evil.example").post("hello").status_code == 403
    assert Visitor(origin="").post("hello").status_code == 403
    # The server's own pages (the demo's shop page) may use it.
    assert Visitor(origin="http://testserver").post("hello").status_code == 200
    assert Visitor(key="no-such-key").post("hello").status_code == 404
    forged = Visitor()
    forged.token = "eyJ2IjoieCJ9:forged"
    assert forged.say("hi", "x-1").status_code == 403
    assert not Message.objects.exists()


def test_size_and_attachment_limits(chat_channel: Channel, open_hours: None) -> None:
    visitor = Visitor()
    visitor.hello()
    assert visitor.say("x" * 4001, "big-1").status_code == 413
    html = base64.b64encode(b"<html><script>").decode()
    fake = {"name": "a.png", "type": "image/png", "data": html}
    assert visitor.say("", "att-1", attachment=fake).status_code == 415
    huge = {"name": "a.png", "type": "image/png", "data": base64.b64encode(PNG * 30_000).decode()}
    assert visitor.say("", "att-2", attachment=huge).status_code == 413
    assert visitor.say("", "empty-1").status_code == 400
    assert visitor.say("hi", "bad id!").status_code == 400
    good = {"name": "../photo.png", "type": "image/png", "data": base64.b64encode(PNG).decode()}
    assert visitor.say("The broken lamp", "att-3", attachment=good).status_code == 201
    message = Message.objects.get()
    assert [(a.filename, a.size) for a in message.attachments.all()] == [(".._photo.png", 72)]


def test_an_agent_s_answer_reaches_the_stream_with_the_agent_s_first_name(
    chat_channel: Channel, open_hours: None, agent: User
) -> None:
    visitor = Visitor()
    visitor.hello()
    visitor.say("Hello?", "h-1")
    stored = ChatVisitor.objects.get()
    watch = stream.Watch(chat_channel.pk, stored.pk, stored.key, 0)
    first = "".join(watch.check())
    assert "Hello?" in first
    assert "event: line" in first
    answer = actions.reply(conversation_of(stored), actor=agent, text="Bonjour, je regarde.")
    send_message.call(answer.pk)
    send_message.call(answer.pk)  # a second run of the task sends nothing twice
    frames = "".join(watch.check())
    payload = json.loads(frames.split("data: ")[1].split("\n")[0])
    assert payload["from"] == "agent"
    assert payload["author"] == "Marie"
    assert payload["text"] == "Bonjour, je regarde."
    assert ChatLine.objects.filter(direction="out").count() == 1
    answer.refresh_from_db()
    assert answer.delivery_state == "sent"
    assert not mail.outbox  # the visitor is on the page: no email


def test_typing_both_ways_and_the_visitor_leaving(
    chat_channel: Channel, open_hours: None, agent: User, client: Client
) -> None:
    visitor = Visitor()
    visitor.hello()
    visitor.say("Hi", "t-1")
    stored = ChatVisitor.objects.get()
    conv = conversation_of(stored)
    client.force_login(agent)
    status_url = f"/inbox/c/{conv.pk}/chat-status"
    assert "on the chat" in client.get(status_url).content.decode()
    assert visitor.post("activity", what="typing").status_code == 204
    assert "Visitor is typing" in client.get(status_url).content.decode()
    # The agent writes: the visitor's stream says who.
    Presence.objects.create(
        user=agent, conversation=conv, state=PresenceState.REPLYING, seen_at=timezone.now()
    )
    watch = stream.Watch(chat_channel.pk, stored.pk, stored.key, 10**9)
    assert 'event: typing\ndata: {"agent": "Marie"}' in "".join(watch.check())
    assert visitor.post("activity", what="left").status_code == 204
    assert "Visitor left at" in client.get(status_url).content.decode()
    assert visitor.post("activity", what="dance").status_code == 400


def test_the_agents_live_stream_tells_the_visitors_state_as_it_changes(
    chat_channel: Channel, open_hours: None, agent: User
) -> None:
    """The conversation page's own live stream carries the visitor's state (no poll per page):
    a frame when it changes, none while it holds."""
    visitor = Visitor()
    visitor.hello()
    visitor.say("Hi", "t-1")
    conv = conversation_of(ChatVisitor.objects.get())
    readers = live.readers_for(conv.pk, agent)
    assert set(readers) == {"visitor"}
    watch = live._Watch(agent, 10**9, 60, 1.0, conv.pk, readers)

    def frames() -> str:
        return "".join(watch.frames(*watch.check()))

    assert 'event: visitor\ndata: {"state": "here"' in frames()
    assert "event: visitor" not in frames()  # nothing changed: nothing said
    visitor.post("activity", what="typing")
    assert '"state": "typing"' in frames()
    # Typing lapses without a write: the next check says so.
    ChatVisitor.objects.update(typing_at=timezone.now() - timedelta(seconds=30))
    assert '"state": "here"' in frames()
    visitor.post("activity", what="left")
    left = frames()
    assert '"state": "left"' in left
    assert re.search(r'"left_at": "\d\d:\d\d"', left)
    assert chat_views.chat_of(conv.pk + 1000) is None  # no chat there: nothing to tell


def test_outside_hours_the_visitor_leaves_an_address_and_the_answer_goes_by_email(
    chat_channel: Channel, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comptoir.sla import policies

    monday = timezone.now().replace(hour=8, minute=0) + timedelta(days=1)
    monkeypatch.setattr(policies, "is_business_hours", lambda channel_id, at: False)
    monkeypatch.setattr(policies, "next_opening", lambda channel_id, at: monday)
    visitor = Visitor()
    opened = visitor.hello(language="fr")
    assert opened["online"] is False
    assert opened["opens_at"] == monday.isoformat()
    assert visitor.say("Bonsoir", "o-1").status_code == 409  # no address yet
    assert visitor.say("Bonsoir", "o-1", email="lea@example.com").status_code == 201
    stored = ChatVisitor.objects.get()
    assert stored.by_email
    conv = conversation_of(stored)
    assert conv.customer is not None
    assert conv.customer.email == "lea@example.com"
    answer = actions.reply(conv, actor=agent, text="Bonjour, voici la réponse.")
    send_message.call(answer.pk)
    assert [m.to for m in mail.outbox] == [["lea@example.com"]]
    assert mail.outbox[0].body == "Bonjour, voici la réponse."
    assert ChatLine.objects.filter(direction="out").count() == 1  # in the widget too


def test_the_transcript_is_mailed_to_the_visitor_s_own_address(
    chat_channel: Channel, open_hours: None
) -> None:
    visitor = Visitor()
    visitor.hello(language="fr")
    visitor.say("Ma commande", "tr-1", email="lea@example.com")
    assert visitor.post("transcript", email="other@example.com").status_code == 403
    assert visitor.post("transcript", email="lea@example.com").status_code == 204
    assert mail.outbox[0].subject == "Votre transcription de discussion"
    assert "Vous: Ma commande" in mail.outbox[0].body
    assert visitor.post("transcript", email="lea@example.com").status_code == 429


@override_settings(RATE_LIMIT_CHAT_KEY=3, RATE_LIMIT_CHAT_IP=100)
def test_a_shop_key_past_its_rate_is_refused(chat_channel: Channel, open_hours: None) -> None:
    from django.core.cache import cache

    cache.clear()
    codes = [Visitor().post("hello").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    cache.clear()


def test_the_channel_settings_refuse_a_site_that_is_not_an_origin() -> None:
    from pydantic import ValidationError

    from comptoir.connectors.chat.connector import ChatSettings

    with pytest.raises(ValidationError, match="not an origin"):
        ChatSettings(shop_key=SHOP_KEY, allowed_origins=["shop.example/path"])
    ok = ChatSettings(shop_key=SHOP_KEY, allowed_origins=["HTTPS://Shop.Example/"])
    assert ok.allowed_origins == ["https://shop.example"]


def test_the_channel_page_gives_the_snippet_to_paste(chat_channel: Channel, client: Client) -> None:
    admin = User.objects.create_user("ada", "ada@example.com", "pw", role=Role.ADMIN)
    client.force_login(admin)
    page = client.get(f"/settings/channels/{chat_channel.pk}/edit").content.decode()
    assert (
        "&lt;script src=&quot;http://testserver/chat/widget.js&quot; "
        f"data-shop-key=&quot;{SHOP_KEY}&quot; defer&gt;&lt;/script&gt;"
    ) in page
    # A new chat channel comes with a key of its own.
    fresh = client.get("/settings/channels/new?kind=chat").content.decode()
    assert re.search(r'name="shop_key" value="[A-Za-z0-9_-]{16}"', fresh)
