"""Evaluation on tiny synthetic sets: report keys and ranges, the picture, the CLI, metrics."""
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gan import evaluate as evaluate_cli
from gan.data import make_synthetic_digits
from gan.measure.evaluation import MEMORISATION_PER_DIGIT, evaluate_generator, format_report, unmet_goals
from gan.measure.metrics import (
    class_accuracy,
    conditional_failure_warnings,
    conditional_samples,
    coverage,
    diversity_ratios,
    frechet_distance,
    nearest_neighbours,
)
from gan.model.classifier import DigitClassifier
from gan.model.weights import weights_fingerprint

KEYS = {"samples", "samples_per_digit", "seeds", "truncation_psi", "class_accuracy",
        "class_accuracy_per_digit", "class_accuracy_min_digit", "frechet_distance",
        "frechet_distance_train_vs_test", "frechet_ratio_to_floor", "coverage",
        "coverage_train_vs_test", "diversity_ratio_per_digit", "classifier_test_accuracy",
        "memorisation", "seconds"}


@pytest.fixture
def classifier():
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return DigitClassifier().eval().requires_grad_(False)


def test_evaluate_generator_on_a_tiny_set(core_generator, classifier, tmp_path):
    train, test = make_synthetic_digits(100, seed=0), make_synthetic_digits(60, seed=1)
    lines = []
    picture = tmp_path / "nn.png"
    m = evaluate_generator(core_generator, classifier=classifier, train=train, test=test,
                           samples_per_digit=4, picture=picture, log=lines.append)
    assert set(m) == KEYS
    assert m["samples"] == 40 and m["samples_per_digit"] == 4 and m["seeds"] == "0-3"
    per_digit = m["class_accuracy_per_digit"]
    assert list(per_digit) == [str(d) for d in range(10)]
    assert all(0.0 <= a <= 1.0 for a in per_digit.values())
    assert m["class_accuracy"] == pytest.approx(sum(per_digit.values()) / 10)
    assert m["class_accuracy_min_digit"] == min(per_digit.values())
    assert m["frechet_distance"] > 0 and m["frechet_distance_train_vs_test"] >= 0
    assert m["frechet_ratio_to_floor"] > 0
    assert 0.0 <= m["coverage"] <= 1.0 and 0.0 <= m["coverage_train_vs_test"] <= 1.0
    # NaN only where the real test images of a digit are all alike (tiny synthetic sets)
    ratios = m["diversity_ratio_per_digit"]
    alike = {str(d) for d in range(10) if len(test[0][test[1] == d].unique(dim=0)) == 1}
    assert alike and {d for d, r in ratios.items() if math.isnan(r)} == alike
    assert all(r > 0 for d, r in ratios.items() if d not in alike)
    assert 0.0 <= m["classifier_test_accuracy"] <= 1.0
    mem = m["memorisation"]
    assert mem["samples_checked"] == 10 * 4
    for key in ("sample_to_train_rms_median", "sample_to_train_rms_min",
                "test_to_train_rms_median", "test_to_train_rms_min"):
        assert 0.0 <= mem[key] <= 1.0
    assert mem["sample_to_train_rms_min"] <= mem["sample_to_train_rms_median"]
    assert all(0 <= i < 100 for i in mem["nearest_train_indices"])
    json.dumps(m)  # the report is plain JSON
    assert "class accuracy" in lines[0] and "Frechet distance" in lines[0]

    # picture: a row per digit of (sample, nearest training image) pairs
    with Image.open(picture) as image:
        grid = np.asarray(image)
    assert grid.shape == (10 * 30 + 2, 2 * MEMORISATION_PER_DIGIT * 30 + 2)
    samples, _ = conditional_samples(core_generator, 4)
    first_neighbour = train[0][mem["nearest_train_indices"][0]].numpy()
    assert np.array_equal(grid[2:30, 2:30], samples[0].numpy())
    assert np.array_equal(grid[2:30, 32:60], first_neighbour)


def _metrics(**changes) -> dict:
    """A full evaluation's figures that meet every shipping goal, with `changes` applied."""
    m = {"samples": 10_000, "class_accuracy": 0.999, "class_accuracy_min_digit": 0.99,
         "class_accuracy_per_digit": {str(d): 0.999 for d in range(10)}, "classifier_test_accuracy": 0.99,
         "frechet_distance": 6.8, "frechet_distance_train_vs_test": 1.97, "frechet_ratio_to_floor": 3.45,
         "coverage": 0.8501, "coverage_train_vs_test": 0.93,
         "diversity_ratio_per_digit": {str(d): 1.0 for d in range(10)},
         "memorisation": {"sample_to_train_rms_median": 0.18, "test_to_train_rms_median": 0.157}}
    for key, value in changes.items():
        if isinstance(value, dict):
            m[key] = {**m[key], **value}
        else:
            m[key] = value
    return m


def test_shipping_goals_name_each_one_missed():
    assert unmet_goals(_metrics()) == [] and format_report(_metrics()).endswith("shipping goals        all met")
    assert unmet_goals(_metrics(frechet_ratio_to_floor=3.51)) == ["Frechet distance 3.51x the floor (at most 3.5x)"]
    assert unmet_goals(_metrics(coverage=0.8499)) == ["coverage 0.8499 (at least 0.85)"]
    assert unmet_goals(_metrics(class_accuracy=0.994)) == ["class accuracy 99.40% (at least 99.5%)"]
    assert unmet_goals(_metrics(class_accuracy_min_digit=0.98)) == ["worst digit 98.00% (every digit at least 98.5%)"]
    assert unmet_goals(_metrics(diversity_ratio_per_digit={"7": 0.93, "3": 1.06})) == [
        "diversity ratio 3: 1.060, 7: 0.930 (every digit 0.95-1.05)"]
    copies = _metrics(memorisation={"sample_to_train_rms_median": 0.12})
    assert unmet_goals(copies) == ["median distance to the nearest training image 0.120, below real test "
                                   "images' 0.157 (memorisation)"]
    assert unmet_goals(_metrics(frechet_ratio_to_floor=math.nan, coverage=math.nan)) == [
        "Frechet distance nanx the floor (at most 3.5x)", "coverage nan (at least 0.85)"]  # NaN never passes
    both = format_report(_metrics(coverage=0.8, class_accuracy=0.99))
    assert both.endswith("not met: coverage 0.8000 (at least 0.85); class accuracy 99.00% (at least 99.5%)")


def test_evaluate_cli_writes_metrics_next_to_the_weights(core_weights_dir, core_mnist_dir, capsys):
    data = core_mnist_dir(train_size=100, test_size=60)
    assert evaluate_cli.main(["--weights", str(core_weights_dir), "--data-dir", str(data),
                              "--samples-per-digit", "3"]) == 0
    metrics = json.loads((core_weights_dir / "metrics.json").read_text())
    assert metrics["samples"] == 30
    assert metrics["weights_sha256"] == weights_fingerprint(core_weights_dir)
    assert (core_weights_dir / "nearest_neighbours.png").is_file()
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--weights", "missing"], "does not exist"),
    (["--data-dir", "no-mnist-here"], "MNIST train files not found"),
    (["--device", "bogus"], "not a torch device"),
])
def test_evaluate_cli_errors_exit_2(core_weights_dir, tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    assert evaluate_cli.main(["--weights", str(core_weights_dir), "--data-dir", "no-mnist-here",
                              *args]) == 2
    assert message in capsys.readouterr().err


def test_evaluate_cli_rejects_too_few_samples(capsys):
    with pytest.raises(SystemExit) as info:
        evaluate_cli.main(["--samples-per-digit", "1"])
    assert info.value.code == 2


# ----------------------------------------------------------------------------- metrics


def test_frechet_distance():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 5, generator=g, dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = frechet_distance(a, a + 3.0)
    assert shifted == pytest.approx(5 * 9.0, rel=1e-6)  # ||mu shift||^2, same covariance
    b = torch.randn(400, 5, generator=g, dtype=torch.float64)
    assert 0 < frechet_distance(a, b) < frechet_distance(a, 2 * b)


def test_coverage_and_diversity():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(200, 4, generator=g)
    assert coverage(real, real) == 1.0
    assert coverage(real, real + 100) == 0.0
    labels = torch.arange(200) % 2
    ratios = diversity_ratios(real, labels, real, labels, num_classes=2)
    assert ratios == pytest.approx([1.0, 1.0])
    collapsed = diversity_ratios(real, labels, real[:1].expand(200, -1) + 0.01 * real, labels, 2)
    assert all(r < 0.05 for r in collapsed)
    # a class whose real images are all alike (or single) has no spread to compare with
    flat = real.clone()
    flat[labels == 1] = 1.0
    ratios = diversity_ratios(flat, labels, real, labels, num_classes=3)
    assert ratios[0] == pytest.approx(1.0) and math.isnan(ratios[1]) and math.isnan(ratios[2])


def test_class_accuracy_and_warnings():
    labels = torch.tensor([0, 0, 1, 1, 2])
    accuracy, per_class = class_accuracy(torch.tensor([0, 1, 1, 1, 0]), labels, num_classes=4)
    assert accuracy == pytest.approx(0.6)
    assert per_class[:3] == [0.5, 1.0, 0.0] and math.isnan(per_class[3])
    assert conditional_failure_warnings(0.95, [0.95] * 10, [1.0] * 10) == []
    assert "near chance" in conditional_failure_warnings(0.1, [0.1] * 10)[0]
    assert "[3]" in conditional_failure_warnings(0.9, [1.0] * 3 + [0.2] + [1.0] * 6)[0]
    assert "mode collapse" in conditional_failure_warnings(0.9, [0.9] * 10, [1.0] * 9 + [0.1])[0]


def test_nearest_neighbours():
    refs = torch.zeros(3, 28, 28, dtype=torch.uint8)
    refs[1] = 255
    refs[2, :14] = 255
    idx, dist = nearest_neighbours(refs.flip(0), refs)
    assert idx.tolist() == [2, 1, 0] and torch.allclose(dist, torch.zeros(3))
    idx, dist = nearest_neighbours(torch.full((1, 28, 28), 250, dtype=torch.uint8), refs)
    assert idx.tolist() == [1] and dist.item() == pytest.approx(5 / 255, rel=1e-4)
