"""`comptoir import-history`: another help desk's history into a shop of its own."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from comptoir.history.mapping import BadRow, direction_of, parse_timestamp
from comptoir.inbox.models import Channel, Conversation, Direction, Message, Shop

pytestmark = pytest.mark.django_db

DAY = (datetime.now(UTC) - timedelta(days=10)).strftime("%Y-%m-%d")

CSV = f"""conv,src,dir,who,mail,at,body,subj
T1,email,customer,Ana Buyer,ana@example.com,{DAY}T09:00:00Z,Where is my parcel? Order 123,Parcel
T1,email,agent,Bob Agent,bob@shop.test,{DAY} 10:30:00,It left yesterday.,
T1,email,customer,Ana Buyer,ana@example.com,{DAY}T13:00:00+02:00,"Thanks, got it",
T2,amazon,inbound,Carl,carl@example.com,{DAY}T12:00:00Z,The item arrived broken,Broken
"""
MAPS = [
    "conv=conversation",
    "src=channel",
    "dir=direction",
    "who=author_name",
    "mail=author_email",
    "at=timestamp",
    "body=text",
    "subj=subject",
]


def run(path: Path, *args: str) -> str:
    out = StringIO()
    call_command("import_history", str(path), *args, "--no-progress", stdout=out)
    return out.getvalue()


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def csv_args() -> list[str]:
    return ["--format", "csv", "--shop", "Old desk", *(f"--map={m}" for m in MAPS)]


def test_csv_lands_in_a_separate_shop_threaded_with_directions(
    tmp_path: Path, channel: Channel
) -> None:
    out = run(write(tmp_path, "h.csv", CSV), *csv_args(), "--no-triage")

    assert "stored 4" in out
    shop = Shop.objects.get(slug="old-desk")
    assert shop != channel.shop
    channels = {c.name: c for c in Channel.objects.filter(shop=shop)}
    assert set(channels) == {"History: email", "History: amazon"}
    assert channels["History: amazon"].marketplace == "amazon"
    assert channels["History: email"].marketplace == "shop"
    assert {c.kind for c in channels.values()} == {"api"}
    t1 = Conversation.objects.get(channel=channels["History: email"], external_thread_id="T1")
    assert t1.message_count == 3
    assert list(t1.messages.order_by("sent_at").values_list("direction", flat=True)) == [
        Direction.IN,
        Direction.OUT,
        Direction.IN,
    ]
    # The agent's answer counts as the first response; the naive time is read as UTC.
    assert t1.first_response_at == datetime.fromisoformat(f"{DAY}T10:30:00+00:00")
    assert t1.customer is not None
    assert t1.customer.email == "ana@example.com"
    assert Conversation.objects.filter(shop=shop).count() == 2
    assert not Conversation.objects.filter(shop=channel.shop).exists()


def test_running_the_same_file_again_imports_nothing_twice(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", CSV)
    run(path, *csv_args(), "--no-triage")
    out = run(path, *csv_args(), "--no-triage")

    assert "stored 0, duplicates 4" in out
    assert Message.objects.filter(channel__shop__slug="old-desk").count() == 4
    assert Shop.objects.filter(slug="old-desk").count() == 1


def test_bad_rows_are_reported_by_line_and_the_others_imported(tmp_path: Path) -> None:
    bad = (
        CSV
        + "T3,email,customer,Dee,dee@example.com,not a date,Hello,\n"
        + f"T3,email,robot,Dee,dee@example.com,{DAY}T09:00:00Z,Hello,\n"
        + f"T3,email,customer,Dee,dee@example.com,{DAY}T09:00:00Z,,\n"
        + f"T4,email,customer,Eve,eve@example.com,{DAY}T09:00:00Z,Hi there,\n"
    )
    out = run(write(tmp_path, "h.csv", bad), *csv_args(), "--no-triage")

    assert "stored 5" in out
    assert "bad rows 3" in out
    assert "line 6: timestamp 'not a date' is not a date" in out
    assert "line 7: direction 'robot'" in out
    assert "line 8: no text" in out


def test_triage_reads_the_imported_buyer_messages(tmp_path: Path) -> None:
    out = run(write(tmp_path, "h.csv", CSV), *csv_args())

    assert "read by triage 3" in out
    inbound = Message.objects.filter(channel__shop__slug="old-desk", direction=Direction.IN)
    assert inbound.count() == 3
    assert all(m.triaged_at is not None and m.intent for m in inbound)
    broken = Conversation.objects.get(external_thread_id="T2")
    assert broken.intent  # the conversation was told its latest message's reading


def test_no_triage_leaves_the_messages_unread(tmp_path: Path) -> None:
    run(write(tmp_path, "h.csv", CSV), *csv_args(), "--no-triage")

    assert not Message.objects.filter(triaged_at__isnull=False).exists()


def test_zendesk_preset_reads_nested_json_and_leaves_private_comments_out(
    tmp_path: Path,
) -> None:
    rows = [
        {"id": 11, "ticket_id": 501, "via": {"channel": "web"}, "created_at": f"{DAY}T08:00:00Z",
         "author": {"role": "end-user", "name": "Fay", "email": "fay@example.com"},
         "plain_body": "My order never came", "public": True},
        {"id": 12, "ticket_id": 501, "via": {"channel": "web"}, "created_at": f"{DAY}T08:10:00Z",
         "author": {"role": "agent", "name": "Gil"}, "plain_body": "Check with carrier",
         "public": False},
        {"id": 13, "ticket_id": 501, "via": {"channel": "web"}, "created_at": f"{DAY}T08:20:00Z",
         "author": {"role": "agent", "name": "Gil"}, "plain_body": "We resent it today.",
         "public": True},
    ]  # fmt: skip
    path = write(tmp_path, "z.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    out = run(path, "--format", "jsonl", "--shop", "Zen", "--preset", "zendesk", "--no-triage")

    assert "stored 2" in out
    assert "notes skipped 1" in out
    messages = Message.objects.filter(channel__shop__slug="zen").order_by("sent_at")
    assert [(m.external_id, m.direction) for m in messages] == [
        ("11", Direction.IN),
        ("13", Direction.OUT),
    ]
    assert messages[0].channel.name == "History: web"


def test_freshdesk_and_gorgias_presets_read_their_direction_flags(tmp_path: Path) -> None:
    fresh = write(
        tmp_path,
        "f.csv",
        "id,ticket_id,incoming,private,from_email,created_at,body_text\n"
        f"1,9,true,false,hal@example.com,{DAY} 10:00:00,Can I return it?\n"
        f"2,9,false,false,,{DAY} 11:00:00,Yes within 30 days.\n"
        f"3,9,false,true,,{DAY} 11:05:00,internal: approve\n",
    )
    gorgias = write(
        tmp_path,
        "g.csv",
        "message_id,ticket_id,channel,from_agent,sender_email,created_datetime,body_text\n"
        f"m1,7,chat,False,ivy@example.com,{DAY}T10:00:00,Is this in stock?\n"
        f"m2,7,chat,True,desk@shop.test,{DAY}T10:01:00,Yes it is.\n",
    )
    run(fresh, "--format", "csv", "--shop", "Fresh", "--preset", "freshdesk", "--no-triage")
    run(gorgias, "--format", "csv", "--shop", "Gor", "--preset", "gorgias", "--no-triage")

    def directions(slug: str) -> list[str]:
        qs = Message.objects.filter(channel__shop__slug=slug).order_by("sent_at")
        return list(qs.values_list("direction", flat=True))

    assert directions("fresh") == [Direction.IN, Direction.OUT]
    assert directions("gor") == [Direction.IN, Direction.OUT]
    chat = Channel.objects.get(shop__slug="gor")
    assert chat.name == "History: chat"
    assert chat.marketplace == "shop"


MBOX = """From ana@example.com Mon Jan  1 00:00:00 2024
From: Ana <ana@example.com>
To: help@shop.test
Subject: Parcel
Message-ID: <a1@example.com>
Date: {d} 09:00:00 +0000

Where is my parcel?
>From what I see it is late.

From help@shop.test Mon Jan  1 00:00:00 2024
From: Help <help@shop.test>
To: ana@example.com
Subject: Re: Parcel
Message-ID: <r1@shop.test>
In-Reply-To: <a1@example.com>
References: <a1@example.com>
Date: {d} 10:00:00 +0000

It ships today.

From carl@example.com Mon Jan  1 00:00:00 2024
From: carl@example.com
To: help@shop.test
Subject: Invoice
Message-ID: <c1@example.com>
Date: {d} 11:00:00 +0000

Send me the invoice please.
"""


def test_mbox_threads_by_references_and_our_address_answers(tmp_path: Path) -> None:
    date = datetime.fromisoformat(DAY).strftime("%a, %d %b %Y")
    path = write(tmp_path, "m.mbox", MBOX.format(d=date))
    out = run(path, "--format", "mbox", "--shop", "Mail", "--our-address", "help@shop.test",
              "--channel-name", "email", "--no-triage")  # fmt: skip

    assert "stored 3" in out
    parcel = Conversation.objects.get(shop__slug="mail", subject="Parcel")
    texts = list(parcel.messages.order_by("sent_at").values_list("direction", "text"))
    assert texts[0][0] == Direction.IN
    assert texts[0][1].strip() == "Where is my parcel?\nFrom what I see it is late."
    assert texts[1][0] == Direction.OUT
    assert parcel.first_response_at is not None
    assert parcel.customer is not None
    assert parcel.customer.email == "ana@example.com"
    assert Conversation.objects.filter(shop__slug="mail").count() == 2
    assert "stored 0, duplicates 3" in run(
        path, "--format", "mbox", "--shop", "Mail", "--our-address", "help@shop.test",
        "--channel-name", "email", "--no-triage",
    )  # fmt: skip


def test_a_missing_required_mapping_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "h.csv", CSV)
    with pytest.raises(CommandError, match="no column mapped to conversation"):
        run(path, "--format", "csv", "--shop", "X", "--map", "body=text", "--map", "at=timestamp")
    with pytest.raises(CommandError, match="expected column=field"):
        run(path, "--format", "csv", "--shop", "X", "--map", "body=nonsense")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("2024-03-01 10:00:00", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("01/03/2024 10:00", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("Fri, 01 Mar 2024 11:00:00 +0100", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("1709287200", datetime(2024, 3, 1, 10, tzinfo=UTC)),
    ],
)
def test_timestamps_in_common_formats(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


def test_direction_words() -> None:
    assert direction_of("End-User", {}) == "in"
    assert direction_of("Outbound", {}) == "out"
    assert direction_of("TRUE", {"true": "out"}) == "out"
    with pytest.raises(BadRow):
        direction_of("robot", {})


def test_conversations_the_other_tool_closed_are_resolved_once(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "f.csv",
        "id,ticket_id,incoming,status,from_email,created_at,body_text\n"
        f"1,9,true,2,jo@example.com,{DAY} 10:00:00,Can I return it?\n"
        f"2,9,false,5,,{DAY} 11:00:00,Yes within 30 days.\n"
        f"3,8,true,2,kim@example.com,{DAY} 12:00:00,Still waiting for my parcel\n",
    )
    args = ["--format", "csv", "--shop", "Fresh", "--preset", "freshdesk", "--no-triage"]
    assert "resolved 1" in run(path, *args)
    assert "resolved 0" in run(path, *args)

    statuses = dict(
        Conversation.objects.filter(shop__slug="fresh").values_list("external_thread_id", "status")
    )
    assert statuses == {"9": "resolved", "8": "open"}


def test_the_command_answers_to_its_hyphenated_name(capsys: pytest.CaptureFixture[str]) -> None:
    from comptoir.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["import-history", "--help"])

    assert exited.value.code == 0
    assert "--preset {freshdesk,gorgias,zendesk}" in capsys.readouterr().out


def test_history_triggers_no_rule_and_no_deadline_alert(tmp_path: Path) -> None:
    from comptoir.automation import engine
    from comptoir.automation import rules as rule_actions
    from comptoir.automation.models import RuleRun, Trigger
    from comptoir.inbox.models import SLAState
    from comptoir.sla.sweep import sweep

    rule_actions.create_rule(
        actor=None,
        name="acknowledge",
        trigger=Trigger.MESSAGE_RECEIVED,
        conditions={},
        actions=[{"type": "tag", "tag": "seen"}],
    )
    run(write(tmp_path, "h.csv", CSV), *csv_args(), "--no-triage")
    engine.pump()
    assert not RuleRun.objects.exists()  # the past is loaded, not lived
    # T2 was never answered: its deadline is long gone, marked missed without an alert.
    waiting = Conversation.objects.get(external_thread_id="T2")
    assert waiting.sla_state == SLAState.BREACHED
    assert sweep().breached == []
