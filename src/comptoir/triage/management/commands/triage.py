"""`comptoir triage`: what triage reads in a text, and its models."""

from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from comptoir.triage import actions, dataset, reading, registry, training
from comptoir.triage.models import IntentModel


class Command(BaseCommand):
    help = (
        "Read a buyer's text as triage does: language, intent, urgency, sentiment, entities. "
        '`comptoir triage "texte"` prints the reading; `--jsonl` reads one text per line on '
        "stdin and prints one JSON object per line; `comptoir triage train` trains a model on "
        "the shipped data and the seller's corrections and activates it; `comptoir triage "
        "models` lists them; `comptoir triage activate N` rolls back to version N (0: base); "
        "`comptoir triage evaluate` prints the active model's figures on the held-out set."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("text", nargs="*", help="the text, or train/models/activate N")
        parser.add_argument("--jsonl", action="store_true", help="one text per line on stdin")
        parser.add_argument("--channel", default="", help="the channel kind (amazon, ebay...)")
        parser.add_argument("--no-activate", action="store_true", help="train without activating")

    def handle(self, *args: Any, **options: Any) -> None:
        words: list[str] = options["text"]
        command = words[0] if words else ""
        if command == "train" and len(words) == 1:
            return self._train(activate=not options["no_activate"])
        if command == "models" and len(words) == 1:
            return self._models()
        if command == "activate" and len(words) == 2 and words[1].isdigit():
            actions.activate_model(int(words[1]))
            self.stdout.write(f"intent model v{int(words[1])} is active")
            return None
        if command == "evaluate" and len(words) == 1:
            return self._evaluate()
        model, mood = self._model(), training.mood_models()
        if options["jsonl"]:
            for line in sys.stdin:
                if line.strip():
                    found = reading.read(
                        line.rstrip("\n"), model, mood=mood, hint=options["channel"]
                    )
                    self.stdout.write(json.dumps(found.as_json(), ensure_ascii=False))
            return None
        if not words:
            raise CommandError('give a text (comptoir triage "Où est mon colis ?") or --jsonl')
        found = reading.read(" ".join(words), model, mood=mood, hint=options["channel"])
        self.stdout.write(json.dumps(found.as_json(), ensure_ascii=False, indent=2))
        return None

    def _model(self) -> Any:
        try:
            return registry.model()[1]
        except DatabaseError:  # not migrated yet: the shipped model still reads
            return training.base_model()

    def _train(self, *, activate: bool) -> None:
        stored = actions.train_model(activate=activate)
        m = stored.metrics
        self.stdout.write(
            f"intent model v{stored.version}{' (active)' if activate else ''}: "
            f"held-out macro F1 {m['macro_f1']}, accuracy {m['accuracy']}, "
            f"unsure {m['unsure_rate']:.1%}, trained on {stored.trained_on}"
        )

    def _models(self) -> None:
        active = registry.active_version()
        self.stdout.write(f"v0 base (shipped data){'  *active*' if active == 0 else ''}")
        for row in IntentModel.objects.defer("artifact"):
            self.stdout.write(
                f"v{row.version} {row.created_at:%Y-%m-%d %H:%M} macro F1 "
                f"{row.metrics.get('macro_f1')}{'  *active*' if row.is_active else ''}"
            )

    def _evaluate(self) -> None:
        version, model = registry.model()
        figures = training.evaluate(model, dataset.load("heldout"))
        self.stdout.write(f"intent model v{version} on the held-out set:")
        keys = ("examples", "macro_f1", "accuracy", "unsure_rate")
        self.stdout.write(json.dumps({k: figures[k] for k in keys}))
        for lang, row in figures["per_language"].items():
            self.stdout.write(f"  {lang}: {json.dumps(row)}")
