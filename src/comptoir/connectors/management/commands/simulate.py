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

from comptoir.connectors.demo import DemoMarketplace, demo_for
from comptoir.demo.buyers import Buyers
from comptoir.inbox import actions
from comptoir.inbox.models import Channel


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
        markets: list[tuple[Channel, DemoMarketplace, Buyers]] = []
        try:
            for channel in Channel.objects.filter(is_active=True).order_by("id"):
                # Never a channel someone set up for real: only new ones, or simulated before.
                current = channel.get_settings()
                if current and not current.get("simulated"):
                    continue
                market = demo_for(channel, options["seed"] + channel.pk)
                if market is None:
                    continue
                market.simulator.start()
                # The channel now reads from its simulator, from the start.
                channel.set_settings({**market.settings(), "simulated": True})
                channel.cursor = {}
                channel.is_healthy, channel.last_error = True, ""
                channel.save()
                prefix = channel.marketplace[:3].upper()
                markets.append((channel, market, Buyers(prefix, options["seed"] + channel.pk)))
                if options["verbosity"] >= 1:
                    self.stdout.write(f"{channel.name}: simulated at {market.simulator.url}")
            if not markets:
                self.stdout.write("No channel of a simulated marketplace: nothing to do.")
                return
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
        finally:
            for _, market, _ in markets:
                market.simulator.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
