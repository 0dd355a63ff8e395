"""The `comptoir` command: import, inbound list/retry, createuser, healthz."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from comptoir.accounts.models import Role, User
from comptoir.inbox.models import Channel, InboundRecord, InboundState, Message
from tests.conftest import ago


def _line(channel: Channel, ext: str, **extra: Any) -> str:
    payload = {
        "channel_id": channel.pk,
        "external_id": ext,
        "sender": {"identity_value": f"{ext}@example.com"},
        "text": "Bonjour",
        "sent_at": ago(hours=1).isoformat(),
        **extra,
    }
    return json.dumps(payload)


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_import_stores_good_lines_and_keeps_bad_ones_as_failed(
    channel: Channel, tmp_path: Path
) -> None:
    source = tmp_path / "history.jsonl"
    source.write_bytes(
        "\n".join(
            [_line(channel, "a"), _line(channel, "b"), "{oops", "", _line(channel, "a")]
        ).encode()
        + b"\n\xff\xfe broken bytes\n"
    )

    out = _run("import", str(source), "--no-progress")

    assert "stored 2, duplicates 1, failed 2" in out
    assert Message.objects.count() == 2
    failed = InboundRecord.objects.filter(state=InboundState.FAILED).order_by("id")
    assert [bytes(r.raw) for r in failed] == [b"{oops", b"\xff\xfe broken bytes"]


def test_import_refuses_a_missing_file_or_channel(channel: Channel) -> None:
    with pytest.raises(CommandError, match="no such file"):
        _run("import", "/nonexistent.jsonl")
    with pytest.raises(CommandError, match="no channel with id 424242"):
        _run("import", "/nonexistent.jsonl", "--channel", "424242")


def test_inbound_list_shows_failures_and_retry_stores_them(
    channel: Channel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(msg: object) -> object:
        raise OSError(28, "No space left on device")

    source = tmp_path / "in.jsonl"
    source.write_text(_line(channel, "long", text="x" * 2000) + "\n")
    with monkeypatch.context() as patch:
        patch.setattr("comptoir.inbox.ingest.store._check_limits", disk_full)
        _run("import", str(source), "--no-progress")

    listing = _run("inbound", "list", "--failed")
    assert "failed" in listing
    assert "No space left on device" in listing

    retried = _run("inbound", "retry")
    assert "1 stored or duplicate, 0 still failed" in retried
    assert _run("inbound", "list", "--failed").strip() == "no records"
    assert Message.objects.get().external_id == "long"


def test_inbound_retry_of_an_unknown_record_is_an_error(db: None) -> None:
    with pytest.raises(CommandError, match="no inbound record with id 99"):
        _run("inbound", "retry", "99")


def test_createuser_sets_role_password_and_team(db: None, monkeypatch: Any) -> None:
    monkeypatch.setenv("COMPTOIR_NEW_PASSWORD", "a-long-enough-passphrase")
    _run("createuser", "claire", "--role", "supervisor", "--team", "Marketplaces")

    user = User.objects.get(username="claire")
    assert user.role == Role.SUPERVISOR
    assert user.check_password("a-long-enough-passphrase")
    assert list(user.teams.values_list("name", flat=True)) == ["Marketplaces"]
    with pytest.raises(CommandError, match="already exists"):
        _run("createuser", "claire")


def test_createuser_rejects_a_weak_password(db: None, monkeypatch: Any) -> None:
    monkeypatch.setenv("COMPTOIR_NEW_PASSWORD", "123")
    with pytest.raises(CommandError, match="password rejected"):
        _run("createuser", "weak")
    assert not User.objects.filter(username="weak").exists()


def test_healthz_answers_with_the_database(client: Client, db: None) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_records_a_crash_left_unstored_are_listed_and_stored_again(channel: Channel) -> None:
    # A process killed between keeping the raw payload and storing it leaves it `received`.
    abandoned = InboundRecord.objects.create(
        channel=channel,
        external_id="lost",
        raw=_line(channel, "lost").encode(),
        received_at=ago(minutes=30),
    )
    in_flight = InboundRecord.objects.create(
        channel=channel, external_id="now", raw=_line(channel, "now").encode()
    )

    listing = _run("inbound", "list", "--stale")
    assert f"{abandoned.pk:>8}" in listing
    assert "ext=now" not in listing  # still being stored by someone: not stale

    out = _run("inbound", "retry", "--stale")

    assert "1 stored or duplicate, 0 still failed" in out
    abandoned.refresh_from_db()
    in_flight.refresh_from_db()
    assert (abandoned.state, in_flight.state) == (InboundState.STORED, InboundState.RECEIVED)
    assert Message.objects.get().external_id == "lost"
    with pytest.raises(CommandError, match="not both"):
        _run("inbound", "retry", "--stale", str(in_flight.pk))


def test_the_worker_job_stores_stale_records_once(channel: Channel) -> None:
    from comptoir.inbox.tasks import recover_stale_inbound

    raw = _line(channel, "twice").encode()
    for _ in range(2):  # the same payload kept twice (a redelivery), both abandoned
        InboundRecord.objects.create(
            channel=channel, external_id="twice", raw=raw, received_at=ago(hours=1)
        )

    assert recover_stale_inbound.call() == 2

    states = sorted(InboundRecord.objects.values_list("state", flat=True))
    assert states == [InboundState.DUPLICATE, InboundState.STORED]
    assert Message.objects.filter(external_id="twice").count() == 1
    assert recover_stale_inbound.call() == 0


def test_help_lists_comptoir_s_own_commands_first_with_what_they_do(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from comptoir.cli import main

    main(["--help"])
    out = capsys.readouterr().out

    ours, _, django_part = out.partition("Django's commands")
    for command in ("demo", "serve", "worker", "simulate", "createuser", "import", "inbound"):
        (line,) = [x for x in ours.splitlines() if x.strip().split(" ", 1)[0] == command]
        assert len(line.split()) > 2, line  # a description after the name
        assert len(line) <= 100, line
    assert "migrate" in django_part
    assert "migrate" not in ours
    assert "simulate" not in django_part
    main([])
    assert capsys.readouterr().out == out
