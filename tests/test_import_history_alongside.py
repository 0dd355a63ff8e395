"""`import-history` reads each finished conversation in a second process while it stores the
next batch: the readings and the conversations end as triage after the import leaves them."""

from __future__ import annotations

import csv
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from comptoir.history import alongside
from comptoir.history.importer import HistoryImport
from comptoir.history.mapping import ColumnMap
from comptoir.inbox.models import Conversation, Direction, Message
from comptoir.triage.tasks import READING_FIELDS

pytestmark = pytest.mark.django_db

START = datetime.now(UTC) - timedelta(days=20)
# (ticket, status, rows): a row is (buyer?, text). Three unanswered buyer messages make the
# third urgent only once all three are in; T2 spans several batches of three.
TICKETS: list[tuple[str, str, list[tuple[bool, str]]]] = [
    ("T1", "solved", [(True, "Where is my parcel? Order 402-1234567-1234567"), (False, "Sent.")]),
    (
        "T2",
        "open",
        [
            (True, "Bonjour, je n'ai toujours pas reçu ma commande"),
            (True, "Toujours rien ?"),
            (True, "C'est inadmissible, je veux être remboursé !!!"),
            (True, "Je vais porter plainte"),
            (False, "Nous sommes désolés, le remboursement est en cours."),
        ],
    ),
    ("T3", "", [(True, "Das Paket kam beschädigt an."), (False, "Sorry"), (True, "Danke!")]),
    ("T4", "closed", [(True, "Merci beaucoup, bien reçu")]),
    ("T5", "", [(True, "¿Pueden enviarme la factura?"), (True, "La factura, por favor")]),
    ("T6", "", [(True, "Vorrei annullare l'ordine"), (False, "Fatto."), (True, "Grazie")]),
]
HEADER = ["Ticket ID", "Via", "Author role", "Author email", "Created at", "Comment", "Status"]
CONVERSATION_FIELDS = ("language", "intent", "urgency", "sentiment", "status", "needs_reply")


def export(path: Path, tickets: list[tuple[str, str, list[tuple[bool, str]]]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        out.writerows(rows(tickets))
    return path


def rows(tickets: list[tuple[str, str, list[tuple[bool, str]]]]) -> list[list[str]]:
    out = []
    for number, (ticket, status, messages) in enumerate(tickets):
        for turn, (buyer, text) in enumerate(messages):
            at = START + timedelta(hours=number * 10 + turn)
            role, mail = ("end-user", f"{ticket}@example.com") if buyer else ("agent", "")
            when = at.strftime("%Y-%m-%d %H:%M:%S")
            out.append([ticket, "email", role, mail, when, text, status])
    return out


def import_into(shop: str, path: Path, *, alongside: bool) -> tuple[HistoryImport, int]:
    """The command's steps; returns the job and how many messages were read during the
    import itself."""
    job = HistoryImport(shop, ColumnMap.build("zendesk", []))
    job.import_rows(path, "csv", batch_size=3, triage=alongside)
    during = job.report.read
    job.apply_statuses()
    job.settle_deadlines()
    job.triage()
    return job, during


def readings(job: HistoryImport) -> dict[str, tuple[Any, ...]]:
    messages = Message.objects.filter(channel__shop=job.shop, direction=Direction.IN)
    return {m.external_id: tuple(getattr(m, f) for f in READING_FIELDS) for m in messages}


def conversations(job: HistoryImport) -> dict[str, tuple[Any, ...]]:
    convs = Conversation.objects.filter(shop=job.shop)
    return {c.external_thread_id: tuple(getattr(c, f) for f in CONVERSATION_FIELDS) for c in convs}


@pytest.mark.parametrize("method", [None, "forkserver"])
def test_reading_alongside_gives_the_readings_of_triage_after_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str | None
) -> None:
    if method:  # (None: as the command chooses)
        monkeypatch.setattr(alongside, "start_method", lambda: method)
    path = export(tmp_path / "grouped.csv", TICKETS)

    after, during_after = import_into("After", path, alongside=False)
    beside, during_beside = import_into("Beside", path, alongside=True)

    assert during_after == 0
    # Every conversation but the last was read while the next rows were stored.
    last = sum(buyer for buyer, _text in TICKETS[-1][2])
    assert during_beside == after.report.read - last
    assert beside.report.read == after.report.read == 12
    assert readings(beside) == readings(after)
    assert conversations(beside) == conversations(after)
    # Readings that differ from one message to another (equal ones would prove little).
    found = readings(after).values()
    assert len({r[4] for r in found}) > 1  # urgencies
    assert {c[4] for c in conversations(after).values()} > {"resolved"}
    assert len({r[0] for r in found}) >= 4
    assert any(r[6] for r in found)  # the order number


def test_an_ungrouped_file_is_read_after_the_import(tmp_path: Path) -> None:
    grouped = rows(TICKETS)
    mixed = [grouped[0], grouped[2], grouped[1], *grouped[3:]]  # T1, T2, T1 again
    path = tmp_path / "mixed.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(HEADER)
        out.writerows(mixed)

    job, during = import_into("Mixed", path, alongside=True)

    assert during == 0
    assert job.report.read == 12
    assert job.unread_count() == 0


def test_the_reader_is_forked_only_when_no_other_thread_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert alongside.start_method() == "forkserver"
    finally:
        release.set()
        other.join()
    # (Under pytest-xdist its own threads run: alone is as the command runs.)
    monkeypatch.setattr(sys, "_current_frames", lambda: {threading.get_ident(): None})
    assert alongside.start_method() == "fork"
