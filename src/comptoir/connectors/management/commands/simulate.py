"""`comptoir simulate`: run a simulator for each marketplace channel, with buyers who write.

`comptoir demo --serve` runs it beside the web server and the worker: conversations keep
arriving from the simulated marketplaces, and answers sent from Comptoir reach them.
"""

from __future__ import annotations

import random
import signal
import threading
from argparse import ArgumentParser
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand

from comptoir.connectors.demo import DemoMarketplace, SeededMessage, SeededThread, demo_for
from comptoir.demo.buyers import Buyers
from comptoir.inbox import actions
from comptoir.inbox.models import Channel, Conversation, CustomerIdentity, Direction, Message


class Command(BaseCommand):
    help = "Run the marketplace simulators for the demo, with buyers who keep writing."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--every", type=float, default=20.0, help="seconds between messages")
        parser.add_argument("--messages", type=int, default=0, help="stop after N (0: never)")
        parser.add_argument("--seed", type=int, default=1)

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        running: list[DemoMarketplace] = []
        try:
            markets = self._start_markets(options, running)
            if not markets:
                self.stdout.write("No channel of a simulated marketplace: nothing to do.")
                return
            self._keep_writing(markets, options, stop)
        finally:
            for market in running:
                market.simulator.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _start_markets(
        self, options: dict[str, Any], running: list[DemoMarketplace]
    ) -> list[tuple[Channel, DemoMarketplace, Buyers]]:
        """Start a simulator for each simulated channel, added to `running` as soon as it runs
        (so that it is stopped even when a later one fails); the ones whose buyers write, each
        with its buyers."""
        markets: list[tuple[Channel, DemoMarketplace, Buyers]] = []
        for channel in Channel.objects.filter(is_active=True).order_by("id"):
            # Never a channel someone set up for real: only new ones, or simulated before.
            current = channel.get_settings()
            if current and not current.get("simulated"):
                continue
            market = simulate_channel(channel, options["seed"] + channel.pk)
            if market is None:
                continue
            running.append(market)
            if options["verbosity"] >= 1:
                self.stdout.write(f"{channel.name}: simulated at {market.simulator.url}")
            if not getattr(market, "buyers_write", True):
                continue  # Amazon's SP-API: orders and proactive messages, no buyer mail
            prefix = channel.marketplace[:3].upper()
            markets.append((channel, market, Buyers(prefix, options["seed"] + channel.pk)))
        return markets

    def _keep_writing(
        self,
        markets: list[tuple[Channel, DemoMarketplace, Buyers]],
        options: dict[str, Any],
        stop: threading.Event,
    ) -> None:
        """A buyer of a random channel writes every `--every` seconds, until stopped or until
        `--messages` were written."""
        rng = random.Random(options["seed"])
        sent = 0
        while not stop.is_set():
            channel, market, buyers = rng.choice(markets)
            written = buyers.write()
            market.buyer_writes(written)
            actions.request_channel_poll(channel.pk)  # shown at once, not at the next tick
            sent += 1
            if options["verbosity"] > 1:
                self.stdout.write(f"{channel.name}: {written.customer_name}: {written.subject}")
            if options["messages"] and sent >= options["messages"]:
                break
            stop.wait(options["every"])


def simulate_channel(channel: Channel, seed: int) -> DemoMarketplace | None:
    """Start a simulator for `channel` (None when its kind has none) and point the channel at
    it. The simulator first learns the conversations the demo loaded, so that answers to them
    reach a thread the simulated marketplace knows, and its next poll brings nothing twice."""
    market = demo_for(channel, seed)
    if market is None:
        return None
    market.adopt(seeded_threads(channel))
    market.simulator.start()
    # The channel now reads from its simulator, from the start.
    channel.set_settings({**market.settings(), "simulated": True})
    channel.cursor = {}
    channel.is_healthy, channel.last_error = True, ""
    channel.save()
    return market


def seeded_threads(channel: Channel) -> list[SeededThread]:
    """The channel's conversations with a marketplace thread, with their buyer and the messages
    stored under a marketplace id (notes and unsent replies have none)."""
    convs = (
        Conversation.objects.filter(channel=channel)
        .exclude(external_thread_id="")
        .select_related("customer")
        .order_by("pk")
    )
    identities: dict[int, str] = {}
    rows_ids = CustomerIdentity.objects.filter(
        customer_id__in=convs.values("customer_id")
    ).values_list("customer_id", "channel_id", "value")
    for customer_id, channel_id, value in rows_ids:
        # The identity this channel knows the buyer by, else any.
        if channel_id == channel.pk or customer_id not in identities:
            identities[customer_id] = value
    messages: dict[int, list[SeededMessage]] = {}
    rows = (
        Message.objects.filter(channel=channel, conversation__in=convs)
        .exclude(external_id="")
        .exclude(direction=Direction.NOTE)
        .order_by("sent_at", "pk")
        .values_list("conversation_id", "external_id", "direction", "text", "sent_at", "created_at")
    )
    for conv_id, external_id, direction, text, sent_at, created_at in rows:
        messages.setdefault(conv_id, []).append(
            SeededMessage(external_id, direction == Direction.OUT, text, sent_at or created_at)
        )
    threads = []
    for conv in convs:
        identity = identities.get(conv.customer_id or 0)
        if identity is None or not messages.get(conv.pk):
            continue
        threads.append(
            SeededThread(
                thread_id=conv.external_thread_id,
                order_id=conv.order_number,
                customer_id=identity,
                customer_name=conv.customer.name if conv.customer else "",
                subject=conv.subject,
                messages=messages[conv.pk],
            )
        )
    return threads
