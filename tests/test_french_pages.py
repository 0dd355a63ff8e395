"""French is complete: the catalogue has no entry left untranslated, every string a template
or module marks is in it, and every page of the interface rendered in French shows none of the
catalogue's English (a choice label not marked, a string translated at import time)."""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from comptoir.inbox.models import Channel
from tests.pages_support import core_pages, pages, world  # noqa: F401

SRC = Path(__file__).resolve().parent.parent / "src" / "comptoir"
PO = SRC / "locale" / "fr" / "LC_MESSAGES" / "django.po"


def _unquote(lines: list[str]) -> str:
    text = "".join(line.strip()[1:-1] for line in lines)
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), text)


def _entries(lines: list[str]) -> list[list[str]]:
    """The catalogue cut into entries: a comment, msgctxt or msgid after a msgstr starts the
    next one (a blank line between them is the custom, not a rule: two branches' additions
    merged end to end have none)."""
    entries: list[list[str]] = [[]]
    for line in lines:
        starts = line.startswith(("#", "msgctxt ", "msgid "))
        if starts and any(x.startswith("msgstr") for x in entries[-1]):
            entries.append([])
        if line.strip():
            entries[-1].append(line)
    return entries


def _entry(lines: list[str]) -> dict[str, Any]:
    """One catalogue entry: its keywords (msgctxt, msgid, msgid_plural) and its msgstrs."""
    entry: dict[str, Any] = {"fuzzy": False, "msgstr": []}
    fields: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("#,") and "fuzzy" in line:
            entry["fuzzy"] = True
        if line.startswith("#"):
            continue
        if line.startswith('"') and fields:
            fields[-1][1].append(line)
        else:
            word, _, rest = line.partition(" ")
            fields.append((re.sub(r"\[\d\]$", "", word), [rest]))
    for key, quoted in fields:
        if key == "msgstr":
            entry["msgstr"].append(_unquote(quoted))
        else:
            entry[key] = _unquote(quoted)
    return entry


def catalogue() -> list[dict[str, Any]]:
    """The catalogue's entries: msgctxt, msgid, msgid_plural, the msgstrs, fuzzy or not."""
    entries = [_entry(lines) for lines in _entries(PO.read_text().splitlines())]
    return [e for e in entries if e.get("msgid")]


def test_every_catalogue_entry_is_translated() -> None:
    untranslated = [
        e["msgid"] for e in catalogue() if e["fuzzy"] or not all(s for s in e["msgstr"])
    ]
    assert untranslated == []


# `{% translate "..." %}` and `{% translate '...' %}` in templates; `_("...")`, `gettext("...")`
# and their lazy forms in Python: the literal ones, which is what the catalogue holds.
TEMPLATE_MARK = re.compile(r"""{%\s*(?:translate|trans)\s+(?:"((?:[^"\\]|\\.)*)"|'([^']*)')""")
PYTHON_MARK = re.compile(
    r"""\b(?:_|gettext|gettext_lazy)\(\s*("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')\s*[,)]"""
)


def marked_strings() -> set[tuple[str, str]]:
    found = set()
    for path in SRC.rglob("*.html"):
        for m in TEMPLATE_MARK.finditer(path.read_text()):
            found.add((str(path.relative_to(SRC)), m[1] if m[1] is not None else m[2]))
    for path in SRC.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for m in PYTHON_MARK.finditer(path.read_text()):
            found.add((str(path.relative_to(SRC)), ast.literal_eval(m[1])))
    return found


def test_every_marked_string_can_be_extracted_and_is_in_the_catalogue() -> None:
    """A `{% translate %}` whose quotes are escaped (`\\"`) is not extracted by makemessages:
    its French can never be added, so it fails here with the others missing."""
    known = {e["msgid"] for e in catalogue() if "msgctxt" not in e}
    escaped = [(f, s) for f, s in marked_strings() if f.endswith(".html") and '\\"' in s]
    assert escaped == []
    missing = sorted((f, s) for f, s in marked_strings() if s not in known)
    assert missing == []


class _Text(HTMLParser):
    """The text a reader meets: text nodes and the attributes read aloud or shown on hover,
    not scripts, styles or the buyers' own messages."""

    SKIP = {"script", "style", "textarea"}
    READ = ("title", "aria-label", "placeholder", "alt", "value")

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self._skip += 1
        classes = dict(attrs).get("class") or ""
        if tag in {"div", "p", "span"} and {"text", "snippet"} & set(classes.split()):
            self._skip += 1  # a buyer's words
            self._skipped_tag = tag
        shown_value = tag == "input" and dict(attrs).get("type") in {"submit", "button"}
        for name, value in attrs:
            if name in self.READ and value and (name != "value" or shown_value):
                self.texts.append(value.strip())

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP or tag == getattr(self, "_skipped_tag", None):
            self._skip = max(0, self._skip - 1)
            if tag == getattr(self, "_skipped_tag", None):
                self._skipped_tag = None

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def shown_texts(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.texts


def english_of_the_catalogue() -> set[str]:
    """The msgids whose French differs: seen as such on a French page, they were not
    translated. Single short words are left out (a product name, "OK")."""
    out = set()
    for e in catalogue():
        mid, strs = e["msgid"], e["msgstr"]
        if "%(" in mid or "{" in mid or mid in strs or len(mid) < 4:
            continue
        out.add(" ".join(mid.split()))
    return out


# Words French never uses: two of them in one text are a sentence left in English, one the
# catalogue does not know (never marked for translation).
ENGLISH_WORDS = frozenset(
    [
        "the",
        "and",
        "your",
        "with",
        "this",
        "that",
        "is",
        "are",
        "was",
        "were",
        "of",
        "to",
        "for",
        "from",
        "has",
        "have",
        "will",
        "by",
    ]
)


def looks_english(text: str) -> bool:
    words = re.findall(r"[a-z]+", text.lower())
    return sum(w in ENGLISH_WORDS for w in words) >= 2


@pytest.fixture
def french_owner(client: Client, world: dict[str, Any]) -> Client:  # noqa: F811
    owner = world["owner"]
    owner.language = "fr"
    owner.save()
    client.force_login(owner)
    return client


def test_every_page_in_french_shows_no_english_of_the_catalogue(
    french_owner: Client,
    world: dict[str, Any],  # noqa: F811
) -> None:
    found = pages(french_owner, world)
    assert core_pages(world) <= set(found), sorted(core_pages(world) - set(found))
    english = english_of_the_catalogue()
    left = {}
    for path in found:
        html = french_owner.get(path).content.decode()
        assert '<html lang="fr"' in html, path
        hits = sorted({t for t in shown_texts(html) if t in english or looks_english(t)})
        if hits:
            left[path] = hits
    assert left == {}, "\n".join(f"{p}: {hits}" for p, hits in left.items())


def test_the_marketplace_nav_follows_a_change_of_language(
    client: Client,
    world: dict[str, Any],  # noqa: F811
) -> None:
    """The nav's counts are cached per user for a few seconds: switching to French at once
    must not keep the English names the cache was filled with."""
    Channel.objects.create(
        shop=world["channel"].shop, kind="email", marketplace="shop", name="Boutique", team=None
    )
    owner = world["owner"]
    client.force_login(owner)
    assert 'data-marketplace="shop">Own shop ' in client.get("/inbox/").content.decode()
    owner.language = "fr"
    owner.save()
    french = client.get("/inbox/").content.decode()
    assert 'data-marketplace="shop">Boutique en propre ' in french


def test_the_marketplace_rules_of_the_late_rates_read_in_french(
    french_owner: Client,
) -> None:
    html = french_owner.get("/settings/sla/").content.decode()
    assert "Amazon : réponse sous 24 heures" in html
    assert "responses under" not in html
