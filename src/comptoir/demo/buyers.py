"""Buyers who keep writing, for the demo's marketplace simulators."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field

from comptoir.demo import phrases
from comptoir.demo.attachments import damaged_parcel_png


@dataclass
class Written:
    subject: str
    text: str
    order_id: str
    customer_id: str
    customer_name: str
    follow_up: bool  # on a conversation this buyer started earlier
    # (filename, content type, data): the photo a buyer sends of a damaged parcel
    attachments: list[tuple[str, str, bytes]] = field(default_factory=list)


class Buyers:
    """French-speaking buyers of one marketplace: new questions, and follow-ups on earlier ones."""

    def __init__(self, prefix: str, seed: int = 0) -> None:
        self.prefix = prefix
        self.rng = random.Random(seed)
        self.earlier: list[Written] = []

    def write(self) -> Written:
        rng = self.rng
        if self.earlier and rng.random() < 0.3:
            first = rng.choice(self.earlier)
            group = rng.choice(sorted(phrases.FOLLOW_UPS))
            text = rng.choice(phrases.FOLLOW_UPS[group].get("fr") or ("Des nouvelles ?",))
            return Written(
                f"Re: {first.subject}",
                text,
                first.order_id,
                first.customer_id,
                first.customer_name,
                True,
            )
        intent = rng.choice([i for i in phrases.OPENINGS if "fr" in phrases.OPENINGS[i]])
        number = rng.randrange(10_000, 99_999)
        first_name = rng.choice(phrases.FIRST_NAMES["fr"])
        name = f"{first_name} {rng.choice(phrases.LAST_NAMES['fr'])}"
        catalogue = [item for items in phrases.CATALOGUE.values() for item in items]
        product = rng.choice(catalogue)[1]
        values: defaultdict[str, str] = defaultdict(
            str,
            order=f"{self.prefix}-{number}",
            ordered="12/11",
            product=product,
            carrier="Colissimo",
            tracking="6A1234567890",
            first=first_name,
            customer=name,
            shop="Maison Lumière",
            total="59,90 €",
            eta="demain",
            shipped="hier",
            delivered="hier",
        )
        subjects = phrases.SUBJECTS.get(intent, {}).get("fr") or ("Question",)
        written = Written(
            subject=rng.choice(subjects).format_map(values),
            text=rng.choice(phrases.OPENINGS[intent]["fr"]).format_map(values),
            order_id=values["order"],
            customer_id=f"{self.prefix.lower()}-{number}",
            customer_name=name,
            follow_up=False,
            attachments=(
                [("photo_colis.png", "image/png", damaged_parcel_png(number % 8))]
                if intent == "damaged"
                else []
            ),
        )
        self.earlier = [*self.earlier[-50:], written]
        return written
