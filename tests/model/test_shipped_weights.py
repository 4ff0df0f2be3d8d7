"""The weights in weights/ are what the app serves: they must load, match their metrics and
provenance files, and still draw the digits they are asked for."""
import json
from pathlib import Path

import pytest

from gan.measure.evaluation import unmet_goals
from gan.measure.metrics import class_accuracy, conditional_samples
from gan.model.classifier import classifier_outputs, load_classifier
from gan.model.weights import load_generator, weights_fingerprint

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


@pytest.fixture(scope="module")
def generator():
    return load_generator(WEIGHTS)


def test_metrics_and_provenance_describe_these_weights(generator):
    metrics = json.loads((WEIGHTS / "metrics.json").read_text())
    assert metrics["weights_sha256"] == weights_fingerprint(WEIGHTS)  # not stale
    assert metrics["samples"] == 10_000 and metrics["truncation_psi"] == 1.0
    training = json.loads((WEIGHTS / "training.json").read_text())
    assert training["command"].startswith("python train.py") and isinstance(training["seed"], int)
    assert training["step"] == training["train_config"]["steps"]
    assert training["train_config"]["model"] == generator.config.to_dict()


def test_shipped_weights_meet_the_shipping_goals():
    # the full evaluation (10,000 samples against real MNIST) that metrics.json holds, for
    # exactly these weights (the test above ties it to them by hash)
    metrics = json.loads((WEIGHTS / "metrics.json").read_text())
    assert unmet_goals(metrics) == []


def test_shipped_generator_draws_the_asked_for_digits(generator):
    # a tenth of the evaluation (seeds 0-99), with the shipped classifier: no data set needed
    samples, labels = conditional_samples(generator, 100)
    _, predicted = classifier_outputs(load_classifier(), samples)
    accuracy, per_digit = class_accuracy(predicted, labels)
    assert accuracy >= 0.98 and min(per_digit) >= 0.93, (accuracy, per_digit)

