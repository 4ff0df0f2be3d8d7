"""The short report of a benchmarks/gpu.sh run: `python -m benchmarks.gpu_summary RESULTS_DIR`.

Reads what gpu.sh left in RESULTS_DIR (steps.tsv, env.json, bench_*.json, the quality run and
its evaluation) and writes summary.md and summary.json there: the step outcomes, the
throughput tables, and the issue's goals (a 60,000-image epoch in <= 1 s; the quality bar in
<= 60 s of wall time from `python train.py` to exported weights) as met or not. The quality
bar is the one shipped weights must reach: gan.measure.evaluation's SHIPPING_GOALS, judged by
its unmet_goals.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from gan.files import JsonFileError
from gan.files import read_json as read_json_file
from gan.measure.evaluation import SHIPPING_GOALS, unmet_goals

REPO = Path(__file__).resolve().parents[1]
BENCHES = [("bench_eager", "eager, as train() runs now"),
           ("bench_tuned", "eager, pinned batch indices + fused Adam + cudnn.benchmark"),
           ("bench_compile", "--compile")]
EPOCH_GOAL_S, QUALITY_GOAL_S = 1.0, 60.0


def read_json(path: Path):
    """What a step left in `path`; None when it left nothing, or something broken (said on
    stderr: the summary is written all the same)."""
    try:
        return read_json_file(path, what="a step's result", expect=None, missing=None)
    except JsonFileError as exc:
        print(f"gpu_summary: {exc}", file=sys.stderr)
        return None


def read_steps(results: Path) -> list[dict]:
    path = results / "steps.tsv"
    if not path.is_file():
        return []
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:] if line.strip()]
    return [{"step": r[0], "status": r[1], "seconds": float(r[2])} for r in rows if len(r) == 3]


def meets_bar(m: dict, shipped: dict | None) -> dict:
    """The quality run's full evaluation against the shipping goals (unmet_goals: the bar the
    shipped weights met), and whether it beats the shipped weights (a Frechet ratio no worse,
    a higher coverage)."""
    unmet = unmet_goals(m)
    result = {"class_accuracy": m["class_accuracy"], "worst_digit": m["class_accuracy_min_digit"],
              "frechet_distance": m["frechet_distance"], "frechet_ratio": m["frechet_ratio_to_floor"],
              "coverage": m["coverage"], "unmet_goals": unmet, "meets_bar": not unmet}
    if shipped:
        result["beats_shipped"] = bool(result["frechet_ratio"] <= shipped["frechet_ratio_to_floor"]
                                       and result["coverage"] > shipped["coverage"])
    return result


def curve_meets_goals(m: dict, floor: float) -> bool:
    """A periodic metric (metrics_history.json) against the shipping goals it measures: the
    Frechet ratio to the floor, coverage, class accuracy and the worst digit (not the
    diversity and memorisation checks, which only the full evaluation makes)."""
    coverage = m.get("coverage")
    return bool(m["frechet_distance"] / floor <= SHIPPING_GOALS["frechet_ratio_to_floor"]
                and coverage is not None and coverage >= SHIPPING_GOALS["coverage"]
                and m["class_accuracy"] >= SHIPPING_GOALS["class_accuracy"]
                and min(m["class_accuracy_per_digit"]) >= SHIPPING_GOALS["class_accuracy_min_digit"])


def first_on_curve(curve: list[dict], shipped: dict | None) -> dict | None:
    """The first periodic metric that meets the goals, reading the shipped weights' train-vs-
    test Frechet distance as the floor."""
    if not shipped:
        return None
    floor = shipped["frechet_distance_train_vs_test"]
    for m in curve:
        if curve_meets_goals(m, floor):
            return {"step": m["step"], "minutes": m["minutes"], "train_minutes": m["train_minutes"],
                    "frechet_ratio": m["frechet_distance"] / floor}
    return None


def summarize(results: Path) -> dict:
    steps = read_steps(results)
    seconds = {s["step"]: s["seconds"] for s in steps if s["status"] == "0"}
    shipped = read_json(results / "shipped_weights" / "metrics.json") or read_json(REPO / "weights" / "metrics.json")
    summary = {"steps": steps, "env": read_json(results / "env.json"), "throughput": {}}
    for name, label in BENCHES:
        bench = read_json(results / f"{name}.json")
        if bench:
            summary["throughput"][name] = {"label": label, "peak": bench.get("peak_name"),
                                           "peak_tflops": bench.get("peak_tflops"), "rows": bench["throughput"]}
    eager = summary["throughput"].get("bench_eager", {}).get("rows", [])
    best = min(eager, key=lambda r: r["epoch_s"], default=None)
    summary["epoch_goal"] = best and {"batch_size": best["batch_size"], "epoch_s": best["epoch_s"],
                                      "met": best["epoch_s"] <= EPOCH_GOAL_S}
    evaluated = read_json(results / "quality_weights" / "metrics.json")
    wall = seconds.get("quality_train")
    if evaluated:
        bar = meets_bar(evaluated, shipped)
        summary["quality"] = {**bar, "wall_s": wall,
                              "met": bool(wall is not None and wall <= QUALITY_GOAL_S and bar["meets_bar"])}
    else:
        summary["quality"] = evaluated
    summary["quality_curve_first_bar"] = first_on_curve(
        read_json(results / "quality_run" / "metrics_history.json") or [], shipped)
    summary["shipped"] = shipped and {k: shipped.get(k) for k in ("class_accuracy", "class_accuracy_min_digit",
                                                                  "frechet_ratio_to_floor", "coverage")}
    ddp = read_json(results / "ddp_weights" / "training.json")
    summary["ddp_smoke"] = ddp and {"world_size": ddp.get("world_size"), "device": ddp.get("device")}
    return summary


def format_markdown(s: dict) -> str:
    lines = ["# DigitGAN GPU run", ""]
    cuda = (s.get("env") or {}).get("cuda") or {}
    smi = (s.get("env") or {}).get("nvidia_smi") or {}
    lines += [f"GPU {cuda.get('name', '-')}, driver {smi.get('driver_version', '-')}, "
              f"CUDA {cuda.get('cuda_runtime', '-')}, cuDNN {cuda.get('cudnn', '-')}, "
              f"torch {(s.get('env') or {}).get('torch', '-')}", "",
              "| step | exit status | seconds |", "| --- | --- | --- |"]
    lines += [f"| {r['step']} | {r['status']} | {r['seconds']:.1f} |" for r in s["steps"]]
    for bench in s["throughput"].values():
        lines += ["", f"**Throughput, {bench['label']}** (fraction of {bench['peak']})", "",
                  "| batch | ms/step | images/s | epoch s | TFLOP/s | of peak | warm-up s |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        peak = bench["peak_tflops"] or float("nan")
        lines += [f"| {r['batch_size']} | {r['step_ms']:.2f} | {r['images_per_s']:,.0f} | {r['epoch_s']:.3f} | "
                  f"{r['achieved_tflops']:.2f} | {r['achieved_tflops'] / peak:.2%} | {r['warmup_s']:.1f} |"
                  for r in bench["rows"]]
    lines += ["", "## Goals", ""]
    e = s.get("epoch_goal")
    lines.append(f"- epoch <= {EPOCH_GOAL_S:g} s: " + (f"{e['epoch_s']:.3f} s at batch {e['batch_size']} "
                                                      f"({'met' if e['met'] else 'not met'})" if e else "not measured"))
    q = s.get("quality")
    if q:
        lines.append(f"- quality bar (the shipping goals) in <= {QUALITY_GOAL_S:g} s: wall {q['wall_s']} s, accuracy "
                     f"{q['class_accuracy']:.2%}, worst digit {q['worst_digit']:.2%}, Frechet ratio "
                     f"{q['frechet_ratio']:.2f}, coverage {q['coverage']:.3f} -> {'met' if q['met'] else 'not met'}"
                     + (f"; beats the shipped weights: {q['beats_shipped']}" if "beats_shipped" in q else ""))
        lines += [f"  - unmet: {goal}" for goal in q["unmet_goals"]]
    else:
        lines.append("- quality bar: not measured")
    if s.get("shipped"):
        sh = s["shipped"]
        lines.append(f"- shipped weights: accuracy {sh['class_accuracy']:.2%}, worst digit "
                     f"{sh['class_accuracy_min_digit']:.2%}, Frechet ratio {sh['frechet_ratio_to_floor']:.2f}, "
                     f"coverage {sh['coverage']:.3f}")
    first = s.get("quality_curve_first_bar")
    lines.append("- first periodic metric at the bar: " + (
        f"step {first['step']}, {first['minutes']:.2f} wall min ({first['train_minutes']:.2f} training min)"
        if first else "none"))
    if s.get("ddp_smoke"):
        lines.append(f"- torchrun smoke run: world size {s['ddp_smoke']['world_size']} on {s['ddp_smoke']['device']}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m benchmarks.gpu_summary RESULTS_DIR", file=sys.stderr)
        return 2
    results = Path(argv[0])
    summary = summarize(results)
    (results / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = format_markdown(summary)
    (results / "summary.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
