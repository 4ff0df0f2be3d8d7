"""Model cards: the one builder of the markdown that describes a set of weights, and the parts
that every card of weights says alike.

`model_card` makes the Hub model repo's README (gan.model.hub), the app's Model tab
(gan.serving.model_card) and a Space's README (gan.space.folder). The Hub card and the Model
tab describe training and measurements with the same lines: `training_lines` (training.json)
and `measured_lines` (metrics.json, or why its figures are left out).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

# One section of a card: its heading (None: text under the title, with no heading) and its
# lines. A section with no lines is left out.
Section = tuple[str | None, Sequence[str]]

# The facts of training.json a card lists, in this order, with their labels.
TRAINING_FACTS = {"step": "steps", "seed": "seed", "device": "device", "world_size": "processes",
                  "wall_time_minutes": "wall time (minutes)", "torch_version": "torch"}


def model_card(sections: Sequence[Section], *, title: str | None = None,
               front_matter: str | None = None, level: int = 2) -> str:
    """A card as markdown: `front_matter` (YAML text, the Hub's metadata) between `---` lines,
    `# title`, then each section as a heading of `level` and its lines, a blank line apart."""
    parts = [f"---\n{front_matter.rstrip(chr(10))}\n---\n"] if front_matter is not None else []
    if title:
        parts.append(f"# {title}\n")
    for heading, lines in sections:
        text = "\n".join(lines).strip("\n")
        if text:
            parts.append((f"{'#' * level} {heading}\n\n" if heading else "") + text + "\n")
    return "\n".join(parts)


def training_lines(training: Mapping[str, Any] | None, command: str | None = None) -> list[str]:
    """The training command (`command`, else training.json's) and training.json's facts."""
    training = training or {}
    command = command or training.get("command")
    lines = ["```bash", str(command), "```", ""] if command else []
    return lines + [f"- {label}: {training[key]}" for key, label in TRAINING_FACTS.items() if key in training]


def _pct(value: Any) -> str:
    return f"{value:.2%}" if isinstance(value, (int, float)) else "n/a"


def _num(value: Any, fmt: str = ".3f") -> str:
    return format(value, fmt) if isinstance(value, (int, float)) else "n/a"


def metrics_lines(metrics: Mapping[str, Any]) -> list[str]:
    """Markdown bullet lines for the headline numbers of metrics.json (missing keys: skipped)."""
    lines = []
    if "class_accuracy" in metrics:
        line = ("- class accuracy (our MNIST classifier sees the asked-for digit): "
                f"**{_pct(metrics['class_accuracy'])}**")
        if "class_accuracy_min_digit" in metrics:
            line += f", worst digit {_pct(metrics['class_accuracy_min_digit'])}"
        lines.append(line)
    if "frechet_distance" in metrics:
        line = f"- Frechet distance in classifier-feature space: **{_num(metrics['frechet_distance'], '.2f')}**"
        if "frechet_distance_train_vs_test" in metrics:
            line += f" (real train vs test: {_num(metrics['frechet_distance_train_vs_test'], '.2f')})"
        lines.append(line)
    if "coverage" in metrics:
        line = f"- coverage: **{_num(metrics['coverage'])}**"
        if "coverage_train_vs_test" in metrics:
            line += f" (real train vs test: {_num(metrics['coverage_train_vs_test'])})"
        lines.append(line)
    if isinstance(metrics.get("diversity_ratio_per_digit"), dict):
        ratios = metrics["diversity_ratio_per_digit"]
        lines.append("- diversity ratio per digit (samples / real): "
                     + " ".join(f"{d}: {_num(r, '.2f')}" for d, r in ratios.items()))
    memo = metrics.get("memorisation")
    if isinstance(memo, dict) and "sample_to_train_rms_median" in memo:
        lines.append(f"- median RMS distance to the nearest training image: "
                     f"{_num(memo['sample_to_train_rms_median'])} "
                     f"(real test images: {_num(memo.get('test_to_train_rms_median'))})")
    if "samples" in metrics:
        lines.append(f"- measured on {metrics['samples']} samples, truncation psi "
                     f"{metrics.get('truncation_psi', 'n/a')}")
    return lines


def measured_other_weights(metrics: Mapping[str, Any], sha256: str) -> str | None:
    """The weights_sha256 metrics.json names when it measured other weights than those whose
    sha256 is `sha256` (both may be shortened: the shorter is compared), else None."""
    measured = metrics.get("weights_sha256")
    if not isinstance(measured, str) or not measured:
        return None
    n = min(len(measured), len(sha256))
    return None if measured[:n] == sha256[:n] else measured


def measured_lines(metrics: Mapping[str, Any] | None, sha256: str) -> list[str]:
    """metrics.json's headline numbers, or why none are given: it measured other weights."""
    if not metrics:
        return []
    other = measured_other_weights(metrics, sha256)
    if other is not None:
        return [f"metrics.json measured other weights ({other}; these are {sha256[:len(other)]}), "
                "so no figures are given here."]
    return metrics_lines(metrics)
