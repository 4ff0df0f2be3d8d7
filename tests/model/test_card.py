"""gan.model.card: the one builder of model cards, and what the Hub card and the Model tab say
alike about training and measurements."""
from __future__ import annotations

from gan.model.card import measured_lines, measured_other_weights, model_card, training_lines


def test_a_card_is_front_matter_title_and_the_sections_that_have_lines():
    card = model_card([(None, ["Intro."]), ("Use", ["```python", "x = 1", "```"]), ("Empty", []),
                       ("Files", ["- `a`", ""])], title="T", front_matter="key: value\n")
    assert card == ("---\nkey: value\n---\n\n# T\n\nIntro.\n\n## Use\n\n```python\nx = 1\n```\n\n"
                    "## Files\n\n- `a`\n")
    assert model_card([("Training", ["- steps: 3"])], level=3) == "### Training\n\n- steps: 3\n"


def test_training_lines_name_the_command_and_the_facts():
    training = {"command": "python train.py --steps 3", "step": 3, "seed": 0, "other": "x"}
    assert training_lines(training) == ["```bash", "python train.py --steps 3", "```", "",
                                        "- steps: 3", "- seed: 0"]
    assert training_lines(training, "python train.py --steps 9")[1] == "python train.py --steps 9"
    assert training_lines(None) == []


def test_metrics_of_other_weights_are_named_not_shown():
    sha = "ab" * 32
    metrics = {"class_accuracy": 0.975, "weights_sha256": sha[:12]}
    assert measured_other_weights(metrics, sha) is None            # a short record of these weights
    assert measured_other_weights(metrics, sha[:8]) is None        # both shortened
    assert measured_other_weights({"class_accuracy": 0.5}, sha) is None  # no record: taken as these
    assert "**97.50%**" in measured_lines(metrics, sha)[0]
    other = {**metrics, "weights_sha256": "0123456789ab"}
    assert measured_other_weights(other, sha) == "0123456789ab"
    (line,) = measured_lines(other, sha)
    assert line.startswith(f"metrics.json measured other weights (0123456789ab; these are {sha[:12]})")
    assert measured_lines(None, sha) == [] and measured_lines({}, sha) == []
