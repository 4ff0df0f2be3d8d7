"""Time to quality: train a recipe for a fixed wall time and print its quality at checkpoints.

    python -m benchmarks.time_to_quality --preset standard --minutes 22 --data-dir DIR
    python -m benchmarks.time_to_quality --preset v1 --minutes 22 --eval-every 1000 --data-dir DIR
    python -m benchmarks.time_to_quality --preset quick --set lr_d=4e-4 --set model.g_width=48 ...
    python -m benchmarks.time_to_quality --resume runs/time_to_quality/standard --minutes 30
    python -m benchmarks.time_to_quality --from-run runs/mnist     # report a train.py run's curve

The run is `train()` itself (gan.training.loop), so a recipe is measured exactly as train.py
trains it: the preset's values, then each --set; it ends at the recipe's steps or when
--minutes of wall time have passed (with a checkpoint: --resume continues it). Every
--eval-every steps the EMA generator is measured as `python -m gan.evaluate` measures shipped
weights, on the same 10,000 samples (digits 0-9 x seeds 0-999, psi = 1) against the MNIST test
set: class accuracy, worst digit, Frechet distance in the classifier's feature space and its
ratio to the train-vs-test floor, coverage. Training minutes exclude the evaluations' time.

Prints the table and when the run first reached two bars: the first shipped weights' quality
(FIRST_WEIGHTS below) and the quality goal of the current weights (GOAL); writes the curve
to benchmarks/results/time_to_quality_<name>.json and a plot beside it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
from pathlib import Path

from gan.config import PRESETS, ModelConfig, TrainConfig, with_preset
from gan.measure.evaluation import SHIPPING_GOALS

from .common import RESULTS_DIR, machine_info, print_table, write_results

# The bars a curve is read against. FIRST_WEIGHTS: what the first shipped weights (recipe v1,
# 6,000 steps of batch 64, 22.4 minutes on 2 CPU cores) scored in the full evaluation.
# GOAL: what shipped weights must reach now (gan.measure.evaluation's shipping goals, less the
# diversity and memorisation checks, which the periodic metric does not make).
FIRST_WEIGHTS = {"frechet_distance": 13.9, "coverage": 0.749, "class_accuracy": 0.995, "worst_digit": 0.0}
GOAL = {"frechet_ratio": SHIPPING_GOALS["frechet_ratio_to_floor"], "coverage": SHIPPING_GOALS["coverage"],
        "class_accuracy": SHIPPING_GOALS["class_accuracy"], "worst_digit": SHIPPING_GOALS["class_accuracy_min_digit"]}
EVAL_SAMPLES = 10_000  # as gan.evaluate: 1,000 per digit
# what the benchmark itself sets (from its own flags), so --set may not
BENCHMARK_SETTINGS = {"data_dir": "--data-dir", "run_dir": "--name", "export_dir": "--export-dir",
                      "threads": "--threads", "time_limit_s": "--minutes", "metrics_every": "--eval-every",
                      "metrics_samples": None, "sample_every": "--eval-every", "ckpt_every": "--eval-every"}


def parse_override(text: str) -> tuple[str, object]:
    """`name=value` for a TrainConfig field (`model.name=value` for a ModelConfig one), the value
    read as the field's type: --set never sets what train.py could not."""
    name, sep, raw = text.partition("=")
    if not sep:
        raise ValueError(f"--set wants name=value, got {text!r}")
    if name in BENCHMARK_SETTINGS:
        flag = BENCHMARK_SETTINGS[name]
        raise ValueError(f"--set {name}: the benchmark sets it" + (f" (use {flag})" if flag else
                                                                    f" ({EVAL_SAMPLES:,}, as gan.evaluate)"))
    cls, field_name = (ModelConfig, name[len("model."):]) if name.startswith("model.") else (TrainConfig, name)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "model"}
    if field_name not in fields:
        raise ValueError(f"--set {name}: no such setting; known: "
                         + ", ".join(sorted(fields) if cls is TrainConfig else (f"model.{k}" for k in sorted(fields))))
    default = getattr(cls(), field_name)
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false"):
                raise ValueError
            return name, raw.lower() == "true"
        return name, type(default)(raw) if default is not None else raw
    except ValueError:
        raise ValueError(f"--set {name}: {raw!r} is not a {type(default).__name__}") from None


def recipe_config(preset: str, overrides: list[str], *, run_dir: Path, minutes: float, eval_every: int,
                  data_dir: str | None, threads: int, export_dir: str | None) -> TrainConfig:
    values = with_preset(TrainConfig().to_dict(), preset)
    model = values.pop("model")
    for name, value in map(parse_override, overrides):
        if name.startswith("model."):
            model[name[len("model."):]] = value
        else:
            values[name] = value
    values.update(model=model, data_dir=data_dir, run_dir=str(run_dir), export_dir=export_dir,
                  threads=threads, time_limit_s=minutes * 60, metrics_every=eval_every,
                  metrics_samples=EVAL_SAMPLES, sample_every=eval_every, ckpt_every=eval_every)
    return TrainConfig.from_dict(values)


def first_reached(curve: list[dict], floor: float) -> dict:
    def first(ok):
        return next((m for m in curve if ok(m)), None)

    return {
        "first_weights": first(lambda m: m["frechet_distance"] <= FIRST_WEIGHTS["frechet_distance"]
                               and m["coverage"] >= FIRST_WEIGHTS["coverage"]
                               and m["class_accuracy"] >= FIRST_WEIGHTS["class_accuracy"]),
        "goal": first(lambda m: m["frechet_distance"] / floor <= GOAL["frechet_ratio"]
                      and m["coverage"] >= GOAL["coverage"] and m["class_accuracy"] >= GOAL["class_accuracy"]
                      and min(m["class_accuracy_per_digit"]) >= GOAL["worst_digit"]),
    }


def report(curve: list[dict], floor: float, out: Path) -> dict:
    rows = [[m["step"], m["train_minutes"], m["minutes"], f"{m['class_accuracy']:.2%}",
             f"{min(m['class_accuracy_per_digit']):.2%}", m["frechet_distance"],
             f"{m['frechet_distance'] / floor:.1f}x", f"{m['coverage']:.3f}"] for m in curve]
    print_table(["step", "train min", "wall min", "accuracy", "worst digit", "Frechet", "x floor", "coverage"], rows)
    reached = first_reached(curve, floor)
    labels = {"first_weights": (f"the first weights' quality (Frechet <= {FIRST_WEIGHTS['frechet_distance']}, "
                                f"coverage >= {FIRST_WEIGHTS['coverage']}, accuracy >= 99.5%)"),
              "goal": (f"the goal (<= {GOAL['frechet_ratio']}x the floor, coverage >= {GOAL['coverage']}, "
                       "accuracy >= 99.5%, every digit >= 98.5%)")}
    for key, label in labels.items():
        hit = reached[key]
        print(f"{label}: " + (f"step {hit['step']}, {hit['train_minutes']:.1f} training minutes "
                              f"({hit['minutes']:.1f} wall)" if hit else "not reached in this run"))
    plot(curve, floor, out.with_suffix(".png"))
    return {"curve": curve, "floor": floor, "reached": reached}


def plot(curve: list[dict], floor: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    minutes = [m["train_minutes"] for m in curve]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    ax.plot(minutes, [m["frechet_distance"] / floor for m in curve], "r^-", label="Frechet / floor")
    ax.axhline(GOAL["frechet_ratio"], color="r", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("Frechet distance / floor")
    ax2 = ax.twinx()
    ax2.plot(minutes, [m["coverage"] for m in curve], "bo-", label="coverage")
    ax2.axhline(GOAL["coverage"], color="b", lw=0.8, ls=":")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("coverage")
    fig.legend(loc="lower center", ncol=2, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


def measure_checkpoint(cfg: TrainConfig) -> list[dict]:
    """The run stopped between evaluations (its time was up): measure where it stopped, and keep
    that point in the checkpoint's history, which a resumed run continues."""
    from gan.training.loop import Trainer

    trainer = Trainer(cfg, log=print)
    try:
        trainer.resume()
        with trainer.clock.overhead_of():
            trainer.measure_quality()
        trainer.save_checkpoint()
        return trainer.metrics
    finally:
        trainer.close()


def frechet_floor(data_dir: str | None) -> float:
    """Train vs test Frechet distance in the classifier's feature space (gan.evaluate's floor)."""
    from gan.data import load_mnist
    from gan.measure.metrics import frechet_distance
    from gan.model.classifier import CLASSIFIER_PATH, classifier_outputs, load_classifier

    classifier = load_classifier(CLASSIFIER_PATH)
    train, test = (load_mnist(split, data_dir=data_dir, download=False)[0] for split in ("train", "test"))
    return frechet_distance(classifier_outputs(classifier, train)[0], classifier_outputs(classifier, test)[0])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.time_to_quality", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="standard", choices=sorted(PRESETS),
                        help="the recipe: a train.py preset (default: standard)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="change one setting of the recipe (model.NAME for the model); repeatable")
    parser.add_argument("--minutes", type=float, default=22.0,
                        help="wall-time budget in minutes; the run also ends at the recipe's steps (default: 22)")
    parser.add_argument("--eval-every", type=int, default=1000, help="steps between evaluations (default: 1000)")
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (else $DIGITGAN_DATA_DIR)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: one per core)")
    parser.add_argument("--name", help="run and results name (default: the preset's)")
    parser.add_argument("--export-dir", help="export the EMA generator here when the recipe's steps are done")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue a run of this benchmark from its checkpoint")
    parser.add_argument("--from-run", metavar="RUN_DIR",
                        help="only report the curve of an earlier run (its metrics_history.json)")
    args = parser.parse_args(argv)
    if not args.minutes > 0:
        parser.error(f"--minutes must be > 0, got {args.minutes}")
    if args.eval_every <= 0:
        parser.error(f"--eval-every must be a positive number of steps, got {args.eval_every}")
    if args.name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", args.name):
        parser.error(f"--name must be 1-64 letters, digits, '_', '.' or '-' (starting with a letter or "
                     f"digit), got {args.name!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    from gan.data import resolve_data_dir
    from gan.training.loop import train
    from gan.training.run_folder import METRICS_HISTORY_FILE, load_checkpoint_config

    args = parse_args(argv)
    data_dir = resolve_data_dir(args.data_dir)
    if data_dir is None:
        print("error: give --data-dir or $DIGITGAN_DATA_DIR: the folder with the MNIST IDX files", file=sys.stderr)
        return 2
    if args.from_run:
        try:
            curve, command = json.loads((Path(args.from_run) / METRICS_HISTORY_FILE).read_text()), None
        except (OSError, ValueError) as exc:
            print(f"error: cannot read {Path(args.from_run) / METRICS_HISTORY_FILE}: {exc}", file=sys.stderr)
            return 2
        name = Path(args.from_run).resolve().name
    else:
        try:
            if args.resume:
                cfg = load_checkpoint_config(args.resume)
                cfg.time_limit_s = args.minutes * 60
            else:
                name = args.name or args.preset
                cfg = recipe_config(args.preset, args.set, run_dir=Path("runs") / "time_to_quality" / name,
                                    minutes=args.minutes, eval_every=args.eval_every, data_dir=str(data_dir),
                                    threads=args.threads, export_dir=args.export_dir)
        except (ValueError, OSError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        name = Path(cfg.run_dir).name
        command = "python -m benchmarks.time_to_quality " + " ".join(argv if argv is not None else sys.argv[1:])
        result = train(cfg, resume=bool(args.resume), command=command, progress=False)
        curve = result.metrics
        if result.status == "interrupted" and (not curve or curve[-1]["step"] != result.step):
            curve = measure_checkpoint(cfg)
    if not curve or "coverage" not in curve[0]:
        print("error: no evaluations with coverage in this run (they come every --eval-every steps)",
              file=sys.stderr)
        return 2
    results = {"machine": machine_info(), "command": command, "name": name,
               **report(curve, frechet_floor(str(data_dir)), RESULTS_DIR / f"time_to_quality_{name}")}
    print(f"wrote {write_results(f'time_to_quality_{name}', results)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
