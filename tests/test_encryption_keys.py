"""Secrets at rest have keys of their own (COMPTOIR_ENCRYPTION_KEYS): the first encrypts, all
decrypt, and `comptoir rotate-keys` re-encrypts every stored secret with the first, so that
the old key can be dropped."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from comptoir.audit.keys import encrypted_fields
from comptoir.audit.models import AuditEvent
from comptoir.inbox.models import Channel
from comptoir.lib import crypto

OLD = "o" * 40
NEW = "n" * 40


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    token = crypto.encrypt("s3cret", [OLD])
    assert crypto.decrypt(token, [NEW, OLD]) == "s3cret"
    assert not crypto.first_key_wrote(token, [NEW, OLD])
    rotated = crypto.rotate(token, [NEW, OLD])
    assert crypto.decrypt(rotated, [NEW]) == "s3cret"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token, [NEW])


def test_values_written_with_the_secret_key_still_decrypt_as_a_single_key() -> None:
    # Before dedicated keys, one string (the secret key) was the key: it is the same key
    # when it is the list's only or last member.
    token = crypto.encrypt("legacy", OLD)
    assert crypto.decrypt(token, (NEW, OLD)) == "legacy"


def test_every_encrypted_column_is_found_by_its_name() -> None:
    found = {(m._meta.label_lower, name) for m, name in encrypted_fields()}
    assert ("inbox.channel", "settings_encrypted") in found
    assert ("triage.triagesettings", "llm_api_key_encrypted") in found
    assert len(found) >= 3


def test_rotate_keys_reencrypts_so_the_old_key_can_go(channel: Channel, settings: Any) -> None:
    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEY = (OLD,)
    channel.set_settings({"api_key": "sk-live-1"})
    channel.save()
    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEY = (NEW, OLD)
    out = StringIO()
    call_command("rotate_keys", "--dry-run", stdout=out)
    assert "would re-encrypt 1 secret(s)" in out.getvalue()
    stored = Channel.objects.get(pk=channel.pk).settings_encrypted
    assert not crypto.first_key_wrote(stored, [NEW])
    call_command("rotate_keys", stdout=(out := StringIO()))
    assert "re-encrypted 1 secret(s)" in out.getvalue()
    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEY = (NEW,)
    assert Channel.objects.get(pk=channel.pk).get_settings() == {"api_key": "sk-live-1"}
    (entry,) = AuditEvent.objects.filter(action="keys.rotated")
    assert entry.changes == {"rotated": 1, "keys": 2}
    assert "sk-live-1" not in str(entry.changes)


def test_a_secret_no_key_reads_is_reported_never_overwritten(
    channel: Channel, settings: Any
) -> None:
    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEY = (OLD,)
    channel.set_settings({"api_key": "x"})
    channel.save()
    settings.ENCRYPTION_KEYS = settings.ENCRYPTION_KEY = (NEW,)
    stored = Channel.objects.get(pk=channel.pk).settings_encrypted
    with pytest.raises(CommandError, match="1 secret"):
        call_command("rotate_keys", stdout=StringIO())
    assert Channel.objects.get(pk=channel.pk).settings_encrypted == stored


def _keys_with(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = (
        "from django.conf import settings; "
        "print(len(settings.ENCRYPTION_KEYS), settings.ENCRYPTION_KEYS_DEDICATED)"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COMPTOIR_ENCRYPTION")}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "comptoir.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_keys_setting_takes_a_list_a_file_and_refuses_short_keys(tmp_path: Any) -> None:
    assert _keys_with({}).stdout.split() == ["1", "False"]
    assert _keys_with({"COMPTOIR_ENCRYPTION_KEYS": f"{NEW},{OLD}"}).stdout.split() == [
        "2",
        "True",
    ]
    keyfile = tmp_path / "keys"
    keyfile.write_text(f"{NEW}\n{OLD}\n")
    got = _keys_with({"COMPTOIR_ENCRYPTION_KEYS_FILE": str(keyfile)})
    assert got.stdout.split() == ["2", "True"]
    short = _keys_with({"COMPTOIR_ENCRYPTION_KEYS": "short"})
    assert short.returncode != 0
    assert "at least 32 characters" in short.stderr
