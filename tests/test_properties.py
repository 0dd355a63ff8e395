"""Property tests (hypothesis): MIME parsing, threading, templates and order-number extraction
hold for generated inputs, not only for the examples written by hand elsewhere.

Kept fast: a modest number of examples each and a deadline; in CI (COMPTOIR_REQUIRE_SERVICES=1
or CI=true) the examples are derandomized, so that a run is repeatable; no example database is
written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from comptoir.automation import templating
from comptoir.connectors.base import InboundMessage
from comptoir.connectors.email import mime
from comptoir.inbox import files
from comptoir.inbox.ingest import ingest, ingest_many
from comptoir.inbox.models import Channel, Conversation, Customer, Message, Shop
from comptoir.lib.order_numbers import AMAZON_ORDER, EBAY_ORDER, SHOP_ORDER
from comptoir.triage import entities
from tests.test_threading import _mailing_list, _partition, _wipe

IN_CI = os.environ.get("COMPTOIR_REQUIRE_SERVICES") == "1" or os.environ.get("CI") == "true"
FAST = settings(
    max_examples=60,
    deadline=2000,
    derandomize=IN_CI,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
WITH_DB = settings(FAST, max_examples=12, deadline=None)

# -- MIME: whatever arrives, a message with text, and the original kept -------------------------

CHARSETS = [
    "utf-8",
    "iso-8859-1",
    "windows-1252",
    "iso-2022-jp",
    "utf-7",
    "x-unknown",
    "",
    "utf-8'",
]
ENCODINGS = ["7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus", ""]
header_text = st.text(max_size=80)
junk = st.binary(max_size=300)


@st.composite
def encoded_word(draw: st.DrawFn) -> str:
    charset = draw(st.sampled_from(CHARSETS))
    kind = draw(st.sampled_from("BQbqX"))
    payload = draw(st.text(alphabet="=?_ABCxyz0123456789+/é", max_size=30))
    return f"=?{charset}?{kind}?{payload}?="


header_value = st.one_of(
    header_text, encoded_word(), st.lists(encoded_word(), max_size=3).map(" ".join)
)


def _header_bytes(name: str, value: str) -> bytes:
    return f"{name}: {value}".encode("utf-8", "surrogatepass") + b"\r\n"


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    kind = draw(
        st.sampled_from(
            ["text/plain", "text/html", "application/pdf", "message/rfc822", "image/png"]
        )
    )
    charset = draw(st.sampled_from(CHARSETS))
    encoding = draw(st.sampled_from(ENCODINGS))
    head = f'Content-Type: {kind}; charset="{charset}"\r\n'.encode()
    if encoding:
        head += f"Content-Transfer-Encoding: {encoding}\r\n".encode()
    if draw(st.booleans()):
        head += _header_bytes("Content-Disposition", f'attachment; filename="{draw(header_value)}"')
    body = draw(
        st.one_of(junk, st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))
    )
    return head + b"\r\n" + body


def multipart(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        boundary = draw(st.sampled_from(["b1", "==b==", "x" * 70, "", "b 2"]))
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "signed", "report"]))
        parts = draw(st.lists(children, max_size=4))
        out = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()
        for part in parts:
            out += f"--{boundary}\r\n".encode() + part + b"\r\n"
        if draw(st.booleans()):  # the closing boundary is often missing in the wild
            out += f"--{boundary}--\r\n".encode()
        return out

    return build()


bodies = st.recursive(leaf(), multipart, max_leaves=6)


@st.composite
def raw_mails(draw: st.DrawFn) -> bytes:
    head = b""
    for name in ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References"):
        if draw(st.booleans()):
            head += _header_bytes(name, draw(header_value))
    for _ in range(draw(st.integers(0, 2))):
        head += _header_bytes(
            draw(st.sampled_from(["X-Odd", "Received", "Auto-Submitted"])), draw(header_value)
        )
    if draw(st.integers(0, 9)) == 0:
        return head + draw(junk)  # no blank line, no structure
    return head + b"MIME-Version: 1.0\r\n" + draw(bodies)


def parse_as_the_connector_does(raw: bytes, channel_id: int) -> InboundMessage:
    """The mailbox's step (connectors/email/connector.py): the original on disk first, then
    parsed, or quarantined if the parser gives up."""
    source = files.store_bytes(raw)
    try:
        msg = mime.parse(raw, channel_id=channel_id)
    except Exception as exc:  # the connector's own backstop
        msg = mime.quarantined(raw, channel_id=channel_id, error=exc)
    msg.source_sha256 = source
    return msg


@FAST
@given(raw=raw_mails())
def test_any_mail_parses_to_text(raw: bytes) -> None:
    """The parser itself never gives up: every generated mail parses, and what a buyer wrote
    is text (str), never bytes or None."""
    msg = mime.parse(raw, channel_id=1)
    assert isinstance(msg.subject, str)
    assert isinstance(msg.text, str)
    assert isinstance(msg.html, str)
    assert isinstance(msg.sender.identity_value, str)
    assert all(isinstance(a.filename, str) for a in msg.attachments)


@WITH_DB
@given(raw=raw_mails())
def test_ingesting_any_mail_keeps_its_original(channel: Channel, raw: bytes) -> None:
    result = ingest(parse_as_the_connector_does(raw, channel.pk))
    message = Message.objects.get(pk=result.message_id)
    assert isinstance(message.text, str)
    assert files.read_bytes(message.source_sha256) == raw


# -- threading: any arrival order, the same conversations ---------------------------------------

CORPUS, TRUTH = _mailing_list(seed=4)


@WITH_DB
@given(
    order=st.permutations(range(len(CORPUS))),
    batch=st.sampled_from([None, 1, 2, 3, 5, len(CORPUS)]),
)
def test_any_arrival_order_threads_the_same(
    make_inbound: Callable[..., InboundMessage], order: list[int], batch: int | None
) -> None:
    msgs = [make_inbound(**CORPUS[i]) for i in order]
    try:
        if batch is None:
            for msg in msgs:
                ingest(msg)
        else:
            ingest_many(msgs, batch_size=batch)
        assert _partition() == {frozenset(t) for t in TRUTH}
    finally:
        _wipe()


# -- templates: a buyer's values are data, never code -------------------------------------------

buyer_values = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "{{ 7*7 }}",
            "{% for x in range(10**9) %}x{% endfor %}",
            "{{ ''.__class__.__mro__ }}",
            "<script>alert(1)</script>",
            "{{ customer_name }}",
            "{{ order_number }}",
            "{{ shop_name }}",
            "{#",
            "${7*7} #{7*7} %(x)s {0}",
        ]
    ),
)
TEMPLATE = "Bonjour {{ customer_name }}, commande {{ order_number }} pour {{ shop_name }}."


def _conversation(name: str, order: str, shop: str) -> Conversation:
    """An unsaved conversation: `build_context` reads attributes only."""
    conv = Conversation(
        shop=Shop(name=shop, language="fr", timezone="Europe/Paris"),
        channel=Channel(marketplace="amazon"),
        customer=Customer(name=name),
        order_number=order,
    )
    conv.order = None
    return conv


@FAST
@given(name=buyer_values, order=buyer_values, shop=buyer_values)
def test_rendering_buyer_values_never_raises_nor_runs_them(
    name: str, order: str, shop: str
) -> None:
    context = templating.build_context(_conversation(name, order, shop))
    text, missing = templating._render_string(TEMPLATE, context)
    assert isinstance(text, str)

    # Each value shows as it was given (plain text: autoescape is off by design, the HTML is
    # escaped when shown), never interpreted: no "49", no loop, no class.
    def shown(key: str) -> str:
        value = context.get(key)
        return value if value is not None else f"[{key}]"

    expected = (
        f"Bonjour {shown('customer_name')}, commande {shown('order_number')} "
        f"pour {shown('shop_name')}."
    )
    assert text == expected.strip()
    assert set(missing) == {
        k for k in ("customer_name", "order_number", "shop_name") if k not in context
    }


@FAST
@given(name=buyer_values)
def test_rendered_text_is_escaped_where_it_is_shown(name: str) -> None:
    from django.template import Context, Template

    context = templating.build_context(_conversation(name, "", "Boutique"))
    text, _ = templating._render_string("Bonjour {{ customer_name }}", context)
    shown = Template("{{ text }}").render(Context({"text": text}))
    assert "<script" not in shown


# -- order numbers: found inside any text, in bounded time --------------------------------------

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def _n(k: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=k, max_size=k)


FORMATS: dict[str, tuple[st.SearchStrategy[str], str]] = {
    "amazon": (st.builds(lambda a, b, c: f"{a}-{b}-{c}", _n(3), _n(7), _n(7)), "amazon"),
    "ebay": (st.builds(lambda a, b, c: f"{a}-{b}-{c}", _n(2), _n(5), _n(5)), "ebay"),
    "cdiscount": (
        st.builds(
            lambda y, m, d, hm, s: f"{y}{m:02d}{d:02d}{hm}{s}",
            _n(2),
            st.integers(1, 12),
            st.integers(1, 28),
            _n(4),
            st.text(alphabet="ABCDEFGHJKMNPQRSTUVWXYZ", min_size=3, max_size=6),
        ),
        "cdiscount",
    ),
    "mirakl": (
        st.builds(
            lambda p, n, s: f"{p}{n}-{s}",
            st.sampled_from(["", "DRT-", "LM-"]),
            _n(9),
            st.sampled_from("ABC"),
        ),
        "mirakl",
    ),
    "fnac": (
        st.builds(
            lambda a, rest: a + rest,
            st.sampled_from("ABCDEFGHJKLMNPQRSTUVWXYZ"),
            st.text(alphabet="0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", min_size=12, max_size=12).filter(
                lambda s: any(c.isdigit() for c in s)
            ),
        ),
        "fnac",
    ),
}
SEP = " \n "  # a word break no pattern reaches across
surrounding = st.text(max_size=400)


@FAST
@given(data=st.data(), kind=st.sampled_from(sorted(FORMATS)), before=surrounding, after=surrounding)
def test_every_marketplaces_order_number_is_found_inside_any_text(
    data: st.DataObject, kind: str, before: str, after: str
) -> None:
    number = data.draw(FORMATS[kind][0])
    text = f"{before}{SEP}{number}{SEP}{after}"
    found = entities.extract(text, hint=FORMATS[kind][1])
    assert number.upper() in {e.value for e in found if e.kind == "order"}


@FAST
@given(before=surrounding, after=surrounding, number=FORMATS["amazon"][0])
def test_the_mail_finds_an_amazon_order_inside_any_text(
    before: str, after: str, number: str
) -> None:
    assume(not AMAZON_ORDER.search(before) and not SHOP_ORDER.search(before))
    assert mime.find_order_number("", f"{before}{SEP}{number}{SEP}{after}") == number


ADVERSARIAL_ALPHABET = "0123456789-#°: \tnNoOrdecomandCOMMANDEAZ"


@FAST
@given(text=st.text(alphabet=ADVERSARIAL_ALPHABET, min_size=1000, max_size=20_000))
def test_no_pattern_takes_catastrophic_time(text: str) -> None:
    start = time.process_time()
    entities.extract(text, hint="fnac")
    mime.find_order_number(text, text)
    for regex in (AMAZON_ORDER, EBAY_ORDER, SHOP_ORDER):
        regex.findall(text)
    assert time.process_time() - start < 1.0


@pytest.mark.parametrize(
    "text",
    [
        "commande " + "1-" * 10_000,
        "commande n° " + "A" * 20_000,
        "#" * 20_000,
        "order " + "0" * 20_000 + "!",
        "1" * 20_000 + "-",
        ("402-1234567-" * 2_000),
        "commande #" + " " * 10_000 + "x",
    ],
)
def test_known_worst_cases_stay_fast(text: str) -> None:
    start = time.process_time()
    entities.extract(text, hint="mirakl")
    mime.find_order_number(text, text)
    assert time.process_time() - start < 1.0
