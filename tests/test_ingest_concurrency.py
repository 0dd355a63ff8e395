"""Two processes ingesting the same messages at once store each one exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from comptoir.inbox.models import Channel, Conversation, InboundRecord, InboundState, Message
from tests.conftest import ago

N_MESSAGES = 120
N_THREADS = 20


def _write_jsonl(path: Path, channel: Channel) -> None:
    with path.open("w") as fh:
        for i in range(N_MESSAGES):
            payload = {
                "channel_id": channel.pk,
                "external_id": f"race-{i}",
                "thread_id": f"thread-{i % N_THREADS}",
                "sender": {"identity_value": f"buyer{i % 13}@example.com"},
                "text": f"message {i}",
                "sent_at": ago(minutes=N_MESSAGES - i).isoformat(),
            }
            fh.write(json.dumps(payload) + "\n")


@pytest.mark.parametrize("batch_size", [1, 25])
def test_two_importing_processes_store_every_message_once(
    subprocess_env: dict[str, str], channel: Channel, tmp_path: Path, batch_size: int
) -> None:
    source = tmp_path / "messages.jsonl"
    _write_jsonl(source, channel)
    command = [
        sys.executable,
        "-m",
        "comptoir.cli",
        "import",
        str(source),
        "--no-progress",
        "--batch-size",
        str(batch_size),
    ]
    procs = [
        subprocess.Popen(
            command, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]

    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err.decode()[-2000:]
    assert Message.objects.count() == N_MESSAGES
    # One conversation per thread, even when both processes saw a thread's first message.
    assert Conversation.objects.count() == N_THREADS
    assert set(Conversation.objects.values_list("message_count", flat=True)) == {
        N_MESSAGES // N_THREADS
    }
    states = InboundRecord.objects.values_list("state", flat=True)
    assert states.count() == 2 * N_MESSAGES
    assert list(states.filter(state=InboundState.FAILED)) == []
    assert states.filter(state=InboundState.STORED).count() == N_MESSAGES
