"""Buyers' files from a marketplace: downloaded once, not at every poll that lists their
thread again, and stored with a real content type (against the Mirakl simulator)."""

from __future__ import annotations

from typing import Any

import pytest

from comptoir.connectors.mirakl.simulator import MiraklSimulator
from comptoir.inbox.models import Attachment, Channel, Message, Shop
from comptoir.inbox.tasks import poll_channel
from comptoir.lib.filetypes import content_type_for, sniff
from tests.ebay_support import channel_settings, running_simulator

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n" + b"0" * 64
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32


def downloads(sim: MiraklSimulator) -> int:
    return sum(n for call, n in sim.calls.items() if call.endswith("/download"))


def requests(sim: MiraklSimulator) -> int:
    return sum(sim.calls.values())


def test_a_poll_downloads_only_the_files_it_does_not_have(
    sim: MiraklSimulator, darty: Channel
) -> None:
    # 20 threads, each a buyer message with three files; then a new message with one file on
    # each: the second poll lists every thread whole again.
    threads = [
        sim.buyer_writes(
            f"Voici les photos {i}",
            customer_id=f"c-{i}",
            attachments=[("a.jpg", JPEG), ("b.jpg", JPEG), ("c.pdf", PDF)],
        )[0]
        for i in range(20)
    ]
    poll_channel.call(darty.pk)
    assert downloads(sim) == 60
    before = requests(sim)

    for thread_id in threads:
        sim.buyer_writes("Et la facture", thread_id=thread_id, attachments=[("f.pdf", PDF)])
    poll_channel.call(darty.pk)

    assert downloads(sim) - 60 == 20  # was 80: the 60 stored files again, 75 % of it
    assert requests(sim) - before == 21  # one page of threads and the 20 new files (was 81)
    assert Attachment.objects.count() == 80
    assert Message.objects.count() == 40


def test_the_files_of_a_long_thread_read_whole_are_not_downloaded_again(
    sim: MiraklSimulator, darty: Channel
) -> None:
    thread_id, _ = sim.buyer_writes("premier", attachments=[("a.png", PNG)])
    for i in range(110):
        sim.buyer_writes(f"relance {i}", thread_id=thread_id)
    poll_channel.call(darty.pk)
    assert downloads(sim) == 1

    sim.buyer_writes("encore", thread_id=thread_id, attachments=[("b.png", PNG)])
    poll_channel.call(darty.pk)

    assert downloads(sim) == 2
    assert Message.objects.count() == 112


def test_file_types_come_from_the_name_else_from_the_content(
    sim: MiraklSimulator, darty: Channel
) -> None:
    sim.buyer_writes(
        "Les pièces",
        attachments=[
            ("photo.JPG", JPEG),
            ("scan", PDF),  # no extension: the content says
            ("notes.txt", "Colis abîmé à l'arrivée".encode()),
            ("capture", PNG),
            ("data.bin-x", b"\x00\x01\x02\xfe"),
        ],
    )

    poll_channel.call(darty.pk)

    types = dict(Attachment.objects.values_list("filename", "content_type"))
    assert types == {
        "photo.JPG": "image/jpeg",
        "scan": "application/pdf",
        "notes.txt": "text/plain",
        "capture": "image/png",
        "data.bin-x": "application/octet-stream",
    }


@pytest.mark.parametrize(
    ("name", "data", "declared", "expected"),
    [
        ("x.pdf", JPEG, "image/jpeg", "image/jpeg"),  # what the marketplace says wins
        ("x.pdf", JPEG, "application/octet-stream", "application/pdf"),  # vague: the name
        ("x.pdf", JPEG, "Binary/Octet-Stream; charset=binary", "application/pdf"),
        ("x", JPEG, "", "image/jpeg"),  # nothing else: the content
        ("x", b"plain words\n", "", "text/plain"),
        ("x", "été".encode()[:2], "", "text/plain"),  # cut inside a character
        ("", b"\x00\xff\x00", "", "application/octet-stream"),
    ],
)
def test_content_type_for_prefers_the_declared_type_then_the_name_then_the_content(
    name: str, data: bytes, declared: str, expected: str
) -> None:
    assert content_type_for(name, data, declared) == expected


def test_sniffing_knows_the_formats_buyers_send() -> None:
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff(b"\x00\x00\x00\x18ftypheic") == "image/heic"
    assert sniff(b"GIF89a") == "image/gif"
    assert sniff(b"") == "application/octet-stream"


def test_ebay_does_not_download_again_the_files_its_overlap_brings_back(
    shop: Shop, team: Any, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    for sim in running_simulator(monkeypatch):
        channel = Channel(shop=shop, kind="ebay", marketplace="ebay", name="eBay", team=team)
        channel.set_settings({**channel_settings(sim), "claims": False})
        channel.save()
        first = sim.buyer_writes("Le colis", attachments=[("colis", "image/jpeg", JPEG)])
        poll_channel.call(channel.pk)
        media = sum(n for call, n in sim.calls.items() if call.startswith("GET /media/"))
        assert media == 1

        # Minutes later, in the same conversation: the overlap before the cursor reads the
        # first message again.
        sim.buyer_writes("Et la photo du carton", conversation_id=sim.conversation_for(first))
        poll_channel.call(channel.pk)

        assert sum(n for call, n in sim.calls.items() if call.startswith("GET /media/")) == 1
        assert Message.objects.count() == 2
        assert Attachment.objects.get().content_type == "image/jpeg"
