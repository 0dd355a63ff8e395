"""The composer's file field in a real browser: a button and a "no file chosen" in the page's
language (not the browser's, which here is English), the chosen files' names shown, and the
keyboard's Tab reaching the hidden input with its focus drawn on the button."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from comptoir.accounts.models import User
from comptoir.inbox.ingest import ingest
from comptoir.inbox.models import Conversation


@pytest.mark.parametrize(
    ("language", "label", "none"),
    [
        ("en", "Attach files", "No file chosen"),
        ("fr", "Joindre des fichiers", "Aucun fichier choisi"),
    ],
)
def test_the_file_field_speaks_the_page_language_and_names_the_files(
    page: Any,
    live_server: Any,
    agent: User,
    make_inbound: Any,
    tmp_path: Path,
    language: str,
    label: str,
    none: str,
) -> None:
    agent.language = language
    agent.save()
    conv = Conversation.objects.get(pk=ingest(make_inbound(subject="Colis")).conversation_id)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", agent.username)
    page.fill("input[name=password]", "pw")
    page.click(".login button[type=submit]")
    page.wait_for_url(f"{live_server.url}/inbox/")
    page.goto(f"{live_server.url}/inbox/c/{conv.pk}/")

    button = page.locator("label[for=composer-files]")
    names = page.locator("#composer-files-names")
    assert button.inner_text().endswith(label)
    assert names.inner_text() == none
    # The browser's own control (its "Choose Files" in the browser's language) is out of sight.
    field = page.locator("#composer-files")
    box = field.bounding_box()
    assert box is not None
    assert box["width"] <= 1
    assert page.get_by_label(label).get_attribute("type") == "file"

    # Tab from the field before it reaches the file input; the button shows the focus.
    page.focus("input[name=snooze_until]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "composer-files"
    assert button.evaluate("b => getComputedStyle(b).boxShadow") != "none"

    first, second = tmp_path / "facture.pdf", tmp_path / "photo colis.png"
    first.write_bytes(b"%PDF-1.4\n")
    second.write_bytes(b"\x89PNG\r\n")
    field.set_input_files([str(first), str(second)])
    assert names.inner_text() == "facture.pdf, photo colis.png"
    field.set_input_files([])
    assert names.inner_text() == none
    assert page.csp_errors == []
