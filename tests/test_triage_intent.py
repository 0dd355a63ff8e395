"""The intent classifier: trained from the shipped data, stored without pickle, read the same
after a round trip, measured on the held-out set it never saw; the `comptoir triage` command."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings

from comptoir.lib import intents
from comptoir.triage import dataset, reading, training
from comptoir.triage.intent import Model, features, normalise

TINY = [
    dataset.Example("où est mon colis ? suivi svp", "order_tracking", "fr"),
    dataset.Example("where is my parcel, tracking number please", "order_tracking", "en"),
    dataset.Example("wo ist mein paket, sendungsnummer bitte", "order_tracking", "de"),
    dataset.Example("je veux être remboursé, remboursement svp", "refund", "fr"),
    dataset.Example("I want my money back, refund please", "refund", "en"),
    dataset.Example("ich möchte eine erstattung, geld zurück", "refund", "de"),
    dataset.Example("merci beaucoup, tout est parfait", "thanks_or_closing", "fr"),
    dataset.Example("thanks a lot, all good", "thanks_or_closing", "en"),
    dataset.Example("vielen dank, alles gut", "thanks_or_closing", "de"),
] * 3


@pytest.fixture(scope="module")
def base() -> Model:
    return training.base_model()


def test_text_is_normalised_for_typos_accents_and_numbers() -> None:
    assert normalise("Remboursé 49,90€ https://x.fr/a") == normalise("rembourse 12,00€")
    assert "wrembourse" in features("Remboursé")
    assert "c<remb" in features("Remboursé")  # letter groups carry the word's stem
    assert features("") == []


def test_a_model_survives_its_bytes_without_pickle() -> None:
    model = training.fit(TINY, threshold=0.2)
    again = Model.from_bytes(model.to_bytes())
    for text in ("wo ist mein paket", "refund please", "merci"):
        assert again.predict(text).best == model.predict(text).best
        assert np.allclose(again.probabilities(text), model.probabilities(text), atol=1e-3)
    assert again.predict("where is my parcel").intent == "order_tracking"
    with np.load(io.BytesIO(model.to_bytes()), allow_pickle=False) as arrays:
        assert {"terms", "coef", "idf", "intercept", "classes"} <= set(arrays.files)


def test_below_the_threshold_the_answer_is_unsure() -> None:
    model = training.fit(TINY, threshold=0.99)
    found = model.predict("bonjour")
    assert found.intent == intents.UNSURE
    assert found.best in {"order_tracking", "refund", "thanks_or_closing"}
    assert len(found.ranked) == 3


def test_the_shipped_data_is_valid_and_covers_every_intent_in_five_languages() -> None:
    train, heldout = dataset.load("train"), dataset.load("heldout")
    for split in (train, heldout):
        pairs = {(e.lang, e.intent) for e in split}
        for lang in ("fr", "en", "de", "es", "it"):
            assert {i for la, i in pairs if la == lang} == set(intents.INTENTS), lang
    # Held out means held out: no text of the test set is in the training set.
    seen = {" ".join(e.text.lower().split()) for e in train}
    assert not [e.text for e in heldout if " ".join(e.text.lower().split()) in seen]


def test_a_bad_line_in_the_data_names_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "x.jsonl").write_text('{"text": "a", "intent": "nope", "lang": "fr"}\n')
    monkeypatch.setattr(dataset, "DATA_DIR", tmp_path)
    with pytest.raises(ValueError, match=r"x\.jsonl:1: unknown intent"):
        dataset.load("train")


def test_the_data_hash_follows_the_files_without_reading_them_each_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "train").mkdir()
    example = tmp_path / "train" / "x.jsonl"
    example.write_text('{"text": "a", "intent": "other", "lang": "fr"}\n')
    monkeypatch.setattr(dataset, "DATA_DIR", tmp_path)
    first = dataset.data_hash()
    assert dataset.data_hash() == first
    example.write_text('{"text": "ab", "intent": "other", "lang": "fr"}\n')
    second = dataset.data_hash()
    assert second != first
    (tmp_path / "train" / "y.jsonl").write_text("")  # a new file, even empty, is a change
    assert dataset.data_hash() not in {first, second}


def test_the_base_model_reads_the_held_out_set(base: Model) -> None:
    figures = training.evaluate(base, dataset.load("heldout"))
    # The targets of the benchmark are higher; this guards against a broken model or data.
    assert figures["macro_f1"] >= 0.7, figures
    assert figures["unsure_rate"] < 0.2
    assert set(figures["per_language"]) >= {"fr", "en", "de", "es", "it"}
    matrix = figures["confusion"]["matrix"]
    assert sum(map(sum, matrix)) == figures["examples"]


def test_the_base_model_is_kept_on_disk_for_the_next_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(training, "_base", {})
    monkeypatch.setattr(dataset, "files", lambda split: [])  # nothing to read: fast
    monkeypatch.setattr(training, "fit", lambda examples: training._fit(TINY, 0.2))
    first = training.base_model(tmp_path)
    assert len(list(tmp_path.glob("intent-base-*.npz"))) == 1
    monkeypatch.setattr(training, "_base", {})
    monkeypatch.setattr(training, "fit", lambda examples: pytest.fail("trained again"))
    again = training.base_model(tmp_path)
    assert again.predict("refund please").best == first.predict("refund please").best


def test_a_host_with_an_empty_data_directory_reads_the_model_another_host_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Several hosts (docs/deploy.md, 8.): each worker has its own data directory; without a
    # shared copy each new one trained the same models, its queue waiting meanwhile.
    shared = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path / "shared-cache"),
        }
    }
    monkeypatch.setattr(training, "_base", {})
    monkeypatch.setattr(dataset, "files", lambda split: [])  # nothing to read: fast
    monkeypatch.setattr(training, "fit", lambda examples: training._fit(TINY, 0.2))
    with override_settings(CACHES=shared):
        first = training.base_model(tmp_path / "host-a")
        monkeypatch.setattr(training, "_base", {})
        monkeypatch.setattr(training, "fit", lambda examples: pytest.fail("trained again"))
        again = training.base_model(tmp_path / "host-b")
    assert len(list((tmp_path / "host-b").glob("intent-base-*.npz"))) == 1
    assert again.predict("refund please").best == first.predict("refund please").best


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Bonjour, je n'ai toujours pas reçu ma commande, le suivi indique livré", "not_received"),
        ("Hello, could you send me an invoice with VAT for my company please?", "invoice"),
        ("Ich möchte meine Bestellung stornieren, bitte", "cancellation"),
        ("Hola, ¿tienen esta chaqueta en talla M?", "product_question"),
        ("Grazie mille, tutto perfetto!", "thanks_or_closing"),
    ],
)
def test_plain_messages_are_read_right(base: Model, text: str, intent: str) -> None:
    assert reading.read(text, base).intent == intent


def test_the_marketplace_reason_comes_first(base: Model) -> None:
    found = reading.read("Merci de me rembourser", base, marketplace_intent="not_received")
    assert (found.intent, found.intent_source, found.confidence) == (
        "not_received",
        "marketplace",
        1.0,
    )


@pytest.mark.django_db
def test_the_command_prints_a_reading(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("triage", "Bonjour, où en est ma commande 402-1234567-7654321 ?")
    out = json.loads(capsys.readouterr().out)
    assert out["language"] == "fr"
    assert out["intent"] in intents.LABELS or out["intent"] == intents.UNSURE
    assert {"confidence", "urgency", "sentiment", "entities"} <= set(out)
    assert {"kind": "order", "value": "402-1234567-7654321", "source": "amazon"} in out["entities"]


@pytest.mark.django_db
def test_the_command_reads_json_lines(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("Where is my parcel?\n\nDanke schön!\n"))
    call_command("triage", "--jsonl")
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)["language"] for line in lines] == ["en", "de"]
    for line in lines:
        row = json.loads(line)
        assert set(row) >= {"language", "intent", "confidence", "urgency", "sentiment", "entities"}


@pytest.mark.parametrize(
    ("text", "urgency", "sentiment"),
    [
        (
            "C'est inadmissible, sans réponse sous 48 h je porte plainte et j'ouvre un litige.",
            "high",
            "negative",
        ),
        ("Merci beaucoup, colis bien reçu, tout est parfait !", "low", "positive"),
        ("Hi, do you ship to Ireland and how long does it take?", "low", "neutral"),
        ("Das Gerät raucht beim Einschalten, das ist gefährlich!", "high", "negative"),
    ],
)
def test_the_learnt_mood_reads_urgency_and_sentiment(
    base: Model, text: str, urgency: str, sentiment: str
) -> None:
    found = reading.read(text, base, mood=training.mood_models())
    assert (found.urgency, found.sentiment) == (urgency, sentiment)


def test_the_mood_models_learn_from_our_writers_only() -> None:
    examples = training.mood_examples("sentiment")
    assert examples
    assert not [e for e in examples if e.source == "en-bitext"]
    assert {e.intent for e in examples} == {"negative", "neutral", "positive"}
