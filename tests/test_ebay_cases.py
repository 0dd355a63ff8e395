"""eBay returns, item-not-received inquiries and cases (Post-Order API) against the simulator:
real HTTP on 127.0.0.1, real database."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.utils import timezone

from comptoir.accounts.models import User
from comptoir.connectors.ebay.connector import EbayConnector
from comptoir.connectors.ebay.simulator import EbaySimulator
from comptoir.inbox import actions, ingest
from comptoir.inbox.models import (
    Channel,
    Conversation,
    CustomerIdentity,
    DeliveryState,
    InboundRecord,
    Message,
    Shop,
)
from comptoir.inbox.tasks import poll_channel, send_message, sweep_stuck_sends
from tests.ebay_support import channel_settings, running_simulator
from tests.fault_support import Killed
from tests.send_support import settle_time_passes

ORDER = "12-34567-89012"


@pytest.fixture
def sim(sleeps: list[float], monkeypatch: pytest.MonkeyPatch) -> Iterator[EbaySimulator]:
    yield from running_simulator(monkeypatch)


@pytest.fixture
def ebay_channel(shop: Shop, team: Any, sim: EbaySimulator) -> Channel:
    channel = Channel(shop=shop, kind="ebay", marketplace="ebay", name="eBay FR", team=team)
    channel.set_settings(
        {
            **channel_settings(sim),
        }
    )
    channel.save()
    return channel


def reload(channel: Channel) -> Channel:
    return Channel.objects.get(pk=channel.pk)


def thread(thread_id: str) -> Conversation:
    return Conversation.objects.get(external_thread_id=thread_id)


def texts(conv: Conversation) -> list[str]:
    return list(conv.messages.order_by("sent_at", "pk").values_list("text", flat=True))


def claim_meta(conv: Conversation) -> dict[str, Any]:
    """The `ebay_case` meta of the conversation's newest stored message, as received."""
    message = conv.messages.exclude(external_id="").order_by("-sent_at", "-pk").first()
    assert message is not None
    record = InboundRecord.objects.get(external_id=message.external_id)
    meta: dict[str, Any] = json.loads(bytes(record.raw))["meta"]["ebay_case"]
    return meta


def post_order_reads(sim: EbaySimulator, since: Counter[str]) -> dict[str, int]:
    """Detail reads of returns, inquiries and cases since the `since` snapshot of calls."""
    now = Counter(sim.calls)
    now.subtract(since)
    return {
        call: n
        for call, n in now.items()
        if n and call.startswith("GET /post-order/") and "/search" not in call
    }


# -- reading ------------------------------------------------------------------------------------


def test_a_return_becomes_a_claim_conversation_of_the_buyers_customer(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    mid = sim.buyer_writes("Bonjour, la lampe est cassée.", buyer="jeanne_m75", order_id=ORDER)
    rid = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "Je la renvoie.", amount="49.90")

    poll_channel.call(ebay_channel.pk)

    conv = thread(f"return:{rid}")
    assert texts(conv) == ["Je la renvoie."]
    assert conv.order_number == ORDER
    assert set(conv.tags.values_list("name", flat=True)) == {"return", "claim"}
    assert conv.needs_reply is True
    # The same eBay user as in the Message API: one customer.
    message_conv = Message.objects.get(external_id=mid).conversation
    assert message_conv.pk != conv.pk
    assert conv.customer_id == message_conv.customer_id
    identity = CustomerIdentity.objects.get(customer=conv.customer)
    assert (identity.kind, identity.value) == ("ebay_user", "jeanne_m75")
    meta = claim_meta(conv)
    assert meta["type"] == "return"
    assert meta["id"] == rid
    assert meta["reason"] == "DEFECTIVE_ITEM"
    assert meta["status"] == "RETURN_REQUESTED"
    assert meta["amount"] == {"value": "49.9", "currency": "EUR"}
    assert meta["opened_at"].endswith("Z")
    assert meta["respond_by"] > meta["opened_at"]
    assert sim.violations == []
    assert reload(ebay_channel).is_healthy


def test_an_inquiry_and_a_case_become_conversations_with_their_state(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    iid = sim.buyer_opens_inquiry(ORDER, "Mon colis n'est jamais arrivé.", buyer="paul_l")
    poll_channel.call(ebay_channel.pk)
    inquiry = thread(f"inquiry:{iid}")
    assert inquiry.needs_reply is True
    assert claim_meta(inquiry)["status"] == "WAITING_SELLER_RESPONSE"

    sim.advance(60)
    cid = sim.case_escalated(
        ORDER, "Toujours rien, j'ouvre un litige.", buyer="paul_l", from_id=iid
    )
    poll_channel.call(ebay_channel.pk)

    case = thread(f"case:{cid}")
    assert texts(case) == ["Toujours rien, j'ouvre un litige."]
    assert set(case.tags.values_list("name", flat=True)) == {"case", "claim"}
    assert case.order_number == ORDER
    assert case.customer_id == inquiry.customer_id
    meta = claim_meta(case)
    assert (meta["type"], meta["id"], meta["reason"], meta["status"]) == (
        "case",
        cid,
        "ITEM_NOT_RECEIVED",
        "OPEN",
    )
    assert case.needs_reply is True
    # The escalated inquiry is closed on eBay: nothing is due from the seller there any more.
    inquiry.refresh_from_db()
    assert texts(inquiry) == ["Mon colis n'est jamais arrivé.", "[ESCALATE]"]
    assert inquiry.needs_reply is False
    assert sim.violations == []


def test_claim_searches_are_followed_page_by_page(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    ids = [
        sim.buyer_opens_return(
            f"12-00000-{n:05d}", "NOT_AS_DESCRIBED", f"retour {n}", buyer=f"b{n}"
        )
        for n in range(120)
    ]

    poll_channel.call(ebay_channel.pk)

    assert Conversation.objects.filter(external_thread_id__startswith="return:").count() == 120
    assert {
        c.split(":")[1] for c in Conversation.objects.values_list("external_thread_id", flat=True)
    } == set(ids)
    # 120 returns at 50 a page: three searches.
    assert sim.calls["GET /post-order/v2/return/search"] == 3
    assert sim.violations == []


def test_an_incremental_sync_reads_only_the_claims_that_changed(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    rids = [
        sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", f"retour {n}", buyer=f"b{n}")
        for n in range(5)
    ]
    iid = sim.buyer_opens_inquiry(ORDER, "Où est mon colis ?")
    poll_channel.call(ebay_channel.pk)
    assert Message.objects.count() == 6
    before = Counter(sim.calls)
    sim.advance(3600)

    sim.buyer_follows_up(rids[2], "Et l'étiquette de retour ?")
    poll_channel.call(ebay_channel.pk)

    assert Message.objects.count() == 7
    assert texts(thread(f"return:{rids[2]}")) == ["retour 2", "Et l'étiquette de retour ?"]
    assert post_order_reads(sim, before) == {f"GET /post-order/v2/return/{rids[2]}": 1}
    cursor = reload(ebay_channel).cursor
    assert cursor["RETURNS"]["since"]
    assert cursor["INQUIRIES"]["claims"][iid]
    assert "FROM_MEMBERS" in cursor  # the Message API's own keys are kept


def test_a_full_resync_stores_nothing_twice(sim: EbaySimulator, ebay_channel: Channel) -> None:
    for n in range(4):
        rid = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", f"retour {n}", buyer=f"b{n}")
        sim.buyer_follows_up(rid, f"relance {n}")
        sim.buyer_opens_inquiry(ORDER, f"colis {n}", buyer=f"b{n}")
    poll_channel.call(ebay_channel.pk)
    count = Message.objects.count()
    assert count == 12
    Channel.objects.filter(pk=ebay_channel.pk).update(cursor={})

    poll_channel.call(ebay_channel.pk)

    assert Message.objects.count() == count
    assert Conversation.objects.count() == 8


def test_without_access_to_claims_the_buyers_messages_still_come_in(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    sim.post_order_forbidden = True
    mid = sim.buyer_writes("Bonjour")
    sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "Cassée.")

    poll_channel.call(ebay_channel.pk)

    assert Message.objects.filter(external_id=mid).exists()
    assert not Conversation.objects.filter(external_thread_id__startswith="return:").exists()
    channel = reload(ebay_channel)
    assert channel.is_healthy
    assert "RETURNS" not in channel.cursor
    # Once the seller has consented again, the return comes in.
    sim.post_order_forbidden = False
    poll_channel.call(ebay_channel.pk)
    assert Conversation.objects.filter(external_thread_id__startswith="return:").count() == 1


def test_claims_that_age_out_of_the_window_are_forgotten_by_the_cursor(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    # Opened three days ago on eBay's clock.
    sim.offset = -timedelta(days=3)
    sim.clock = sim.now()
    old = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "Ancien retour.")
    sim.offset = timedelta(0)
    new = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "Nouveau retour.")
    poll_channel.call(ebay_channel.pk)
    assert set(reload(ebay_channel).cursor["RETURNS"]["claims"]) == {old, new}

    settings = ebay_channel.get_settings()
    settings["claims_lookback_days"] = 1
    ebay_channel.set_settings(settings)
    ebay_channel.save()
    poll_channel.call(ebay_channel.pk)

    assert set(reload(ebay_channel).cursor["RETURNS"]["claims"]) == {new}
    # What was stored stays.
    assert texts(thread(f"return:{old}")) == ["Ancien retour."]
    assert sim.violations == []


# -- replying -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["return", "inquiry"])
def test_a_reply_on_a_return_or_inquiry_reaches_ebay_once_even_when_the_answer_is_lost(
    sim: EbaySimulator, ebay_channel: Channel, agent: User, kind: str
) -> None:
    if kind == "return":
        claim_id = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "Cassée.")
    else:
        claim_id = sim.buyer_opens_inquiry(ORDER, "Pas reçu.")
    poll_channel.call(ebay_channel.pk)
    conv = thread(f"{kind}:{claim_id}")
    reply = actions.reply(conv, actor=agent, text="Nous vous remboursons aujourd'hui.")
    sim.faults.add("lose_response", path="/send_message")

    assert send_message.call(reply.pk).startswith("failed")
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.QUEUED
    # The retry finds it in the history instead of sending it again.
    assert send_message.call(reply.pk, attempt=2) == "sent"

    assert sim.seller_claim_messages() == ["Nous vous remboursons aujourd'hui."]
    assert sim.calls[f"POST /post-order/v2/{kind}/{claim_id}/send_message"] == 1
    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.SENT
    assert reply.external_id.startswith(f"{kind}:{claim_id}:")
    # Polled back, the seller's message is the reply, not a second message.
    poll_channel.call(ebay_channel.pk)
    assert conv.messages.count() == 2
    conv.refresh_from_db()
    assert conv.needs_reply is False
    assert sim.violations == []


def test_a_reply_on_a_case_is_refused_for_that_message_only(
    sim: EbaySimulator, ebay_channel: Channel, agent: User
) -> None:
    cid = sim.case_escalated(ORDER, "J'ouvre un litige.")
    poll_channel.call(ebay_channel.pk)
    reply = actions.reply(thread(f"case:{cid}"), actor=agent, text="Bonjour")

    send_message.call(reply.pk)

    reply.refresh_from_db()
    assert reply.delivery_state == DeliveryState.FAILED
    assert "answer this case on eBay" in reply.delivery_error
    assert sim.seller_claim_messages() == []
    assert reload(ebay_channel).is_healthy


def test_the_simulator_holds_the_connector_to_the_post_order_contract(
    sim: EbaySimulator, ebay_channel: Channel
) -> None:
    rid = sim.buyer_opens_return(ORDER, "DEFECTIVE_ITEM", "Cassée.")
    token = EbayConnector(ebay_channel)._auth_headers()["Authorization"].removeprefix("Bearer ")
    iaf = {"Authorization": f"IAF {token}", "X-EBAY-C-MARKETPLACE-ID": "EBAY_FR"}

    bearer = httpx.get(
        f"{sim.url}/post-order/v2/return/search",
        headers={"Authorization": f"Bearer {token}", "X-EBAY-C-MARKETPLACE-ID": "EBAY_FR"},
    )
    no_marketplace = httpx.get(
        f"{sim.url}/post-order/v2/return/{rid}", headers={"Authorization": f"IAF {token}"}
    )
    unknown_param = httpx.get(
        f"{sim.url}/post-order/v2/inquiry/search", params={"start_time": "x"}, headers=iaf
    )
    wrong_body = httpx.post(
        f"{sim.url}/post-order/v2/return/{rid}/send_message", json={"text": "hi"}, headers=iaf
    )
    fine = httpx.get(f"{sim.url}/post-order/v2/return/{rid}", headers=iaf)

    assert [bearer.status_code, no_marketplace.status_code, unknown_param.status_code] == [400] * 3
    assert wrong_body.status_code == 400
    assert fine.status_code == 200
    assert len(sim.violations) == 4
    assert "IAF" in sim.violations[0]
    assert "MARKETPLACE" in sim.violations[1]
    assert "start_time" in sim.violations[2]
    assert sim.seller_claim_messages() == []


# -- the proof: faults everywhere, a poll killed, everything exactly once ------------------------


def test_under_random_faults_and_a_killed_poll_every_claim_message_is_stored_once(
    sim: EbaySimulator, ebay_channel: Channel, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    sim.faults.rates.update(
        {
            "error500": 0.03,
            "rate_limit": 0.03,
            "timeout": 0.004,
            "lose_response": 0.03,
            "duplicate_page": 0.1,
            "reorder_page": 0.1,
        }
    )
    buyers = [f"buyer{n}" for n in range(40)]
    claims: list[str] = []
    replies: list[str] = []

    def event() -> None:
        roll = rng.random()
        buyer = rng.choice(buyers)
        order = f"12-{rng.randrange(10**5):05d}-{rng.randrange(10**5):05d}"
        text = f"m {rng.random():.12f}"
        if roll < 0.2 or not claims:
            claims.append(sim.buyer_opens_return(order, "DEFECTIVE_ITEM", text, buyer=buyer))
        elif roll < 0.35:
            claims.append(sim.buyer_opens_inquiry(order, text, buyer=buyer))
        elif roll < 0.4:
            claims.append(sim.case_escalated(order, text, buyer=buyer, from_id=rng.choice(claims)))
        elif roll < 0.9:
            sim.buyer_follows_up(rng.choice(claims), text)
        else:
            sim.buyer_writes(text, buyer=buyer)

    def run_until_quiet() -> None:
        for _ in range(40):
            before = Message.objects.count()
            poll_channel.call(ebay_channel.pk)
            settle_time_passes()  # between rounds, time for an unanswered post to land
            for pk in Message.objects.filter(delivery_state=DeliveryState.QUEUED).values_list(
                "pk", flat=True
            ):
                send_message.call(pk)
            Message.objects.filter(delivery_state=DeliveryState.SENDING).update(
                delivery_claimed_at=timezone.now() - timedelta(hours=1)
            )
            sweep_stuck_sends.call()
            pending = Message.objects.filter(
                delivery_state__in=[DeliveryState.QUEUED, DeliveryState.SENDING]
            ).exists()
            if not pending and Message.objects.count() == before and reload(ebay_channel).cursor:
                return
        raise AssertionError("the channel never settled")

    real_batch = ingest._ingest_batch
    for round_number in range(3):
        for _ in range(120):
            event()
        if round_number == 1:
            # A poll dies after its second stored batch: what it stored stays, the cursor
            # does not move, and the next poll picks up from the old cursor.
            calls = 0

            def dying_batch(*args: Any, **kwargs: Any) -> Any:
                nonlocal calls
                calls += 1
                if calls == 3:
                    raise Killed
                return real_batch(*args, **kwargs)

            stored_before = Message.objects.count()
            cursor_before = reload(ebay_channel).cursor
            monkeypatch.setattr(ingest, "_ingest_batch", dying_batch)
            with pytest.raises(Killed):
                poll_channel.call(ebay_channel.pk)
            monkeypatch.setattr(ingest, "_ingest_batch", real_batch)
            assert Message.objects.count() > stored_before
            assert reload(ebay_channel).cursor == cursor_before
        run_until_quiet()

        waiting = Conversation.objects.filter(
            channel=ebay_channel, needs_reply=True, external_thread_id__regex=r"^(return|inquiry):"
        )
        for conv in rng.sample(list(waiting), min(waiting.count(), 15)):
            text = f"Réponse {len(replies)} à {conv.external_thread_id}"
            replies.append(text)
            actions.reply(conv, actor=agent, text=text)
        run_until_quiet()

    stored = Counter(
        (conv, text)
        for conv, text in Message.objects.filter(
            channel=ebay_channel, conversation__external_thread_id__contains=":"
        ).values_list("conversation__external_thread_id", "text")
    )
    on_ebay = Counter((t, text or f"[{action}]") for t, _, action, text in sim.claim_entries())
    assert len(on_ebay) > 300
    assert stored == on_ebay
    # The Message API's side too.
    message_api = set(
        Message.objects.exclude(conversation__external_thread_id__contains=":").values_list(
            "external_id", flat=True
        )
    )
    assert message_api == set(sim.all_message_ids())
    assert Counter(sim.seller_claim_messages()) == Counter(replies)
    assert not Message.objects.exclude(delivery_state__in=["", DeliveryState.SENT]).exists()
    assert sim.violations == []
    assert reload(ebay_channel).is_healthy
    for kind in ("error500", "rate_limit", "lose_response", "duplicate_page", "reorder_page"):
        assert sim.faults.injected[kind] > 0, kind
