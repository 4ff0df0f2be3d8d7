"""Training speed: `python -m benchmarks.training [--device DEV] [--quality --data-dir DIR]`.

Throughput: images/s of the real training step (gan.training.gan_step) with the default
config on the chosen device, FLOPs per trained image, achieved vs this machine's measured
matmul rate, and the implied time per 60,000-image epoch.

Time to quality (--quality): a default training run with the metric every --eval-every
steps on 1,000 samples per digit; prints the curve (training minutes, excluding the time
spent evaluating -> class accuracy, Frechet distance) and when it first reached 97% and the
full bar (99% overall, every digit 97%); writes a plot beside the JSON.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from gan.config import TrainConfig
from gan.models import Discriminator, Generator
from gan.runtime import configure_cpu_threads, select_device
from gan.losses import gan_step

from .common import RESULTS_DIR, machine_info, matmul_gflops, print_table, write_results

EPOCH = 60_000


def measure_throughput(cfg: TrainConfig, device: torch.device, *, steps: int, warmup: int) -> dict:
    G, D = Generator(cfg.model).to(device), Discriminator(cfg.model).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    n = cfg.batch_size
    real = torch.rand(n, 1, 28, 28, device=device) * 2 - 1
    real_labels = torch.randint(0, 10, (n,), device=device)
    use_bf16 = cfg.bf16 and device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else contextlib.nullcontext

    def step():
        z = torch.randn(n, cfg.model.z_dim, device=device)
        fake_labels = torch.randint(0, 10, (n,), device=device)
        return gan_step(G, D, D, opt_g, opt_d, real, real_labels, z, fake_labels,
                        aux_weight=cfg.aux_weight, autocast=autocast)

    with FlopCounterMode(display=False) as counter:
        step()
    flops_per_image = counter.get_total_flops() / n
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    return {"batch_size": n, "step_ms_median": step_s * 1000, "images_per_s": n / step_s,
            "flops_per_image": flops_per_image, "achieved_gflops": flops_per_image * n / step_s / 1e9,
            "epoch_seconds": EPOCH / (n / step_s)}


def time_to_quality(cfg: TrainConfig, out: Path) -> dict:
    from gan.training import train

    result = train(cfg, command="python -m benchmarks.training --quality", progress=False)
    return report_curve(result.metrics, out)


def report_curve(curve: list[dict], out: Path) -> dict:
    """Table and plot of a run's metric history; when it first reached 97% and the full bar."""
    first = lambda ok: next((m for m in curve if ok(m)), None)  # noqa: E731
    at97 = first(lambda m: m["class_accuracy"] >= 0.97)
    full = first(lambda m: m["class_accuracy"] >= 0.99 and min(m["class_accuracy_per_digit"]) >= 0.97)
    rows = [[m["step"], m["train_minutes"], m["minutes"], m["class_accuracy"] * 100,
             min(m["class_accuracy_per_digit"]) * 100, m["frechet_distance"]] for m in curve]
    print_table(["step", "train min", "wall min", "accuracy %", "worst digit %", "Frechet"], rows)
    for name, hit in (("97% class accuracy", at97), ("full bar (99%, every digit 97%)", full)):
        print(f"{name}: " + (f"step {hit['step']}, {hit['train_minutes']:.1f} training minutes"
                             if hit else "not reached in this run"))
    plot_curve(curve, out.with_suffix(".png"))
    return {"curve": curve, "reached_97": at97, "reached_full_bar": full}


def plot_curve(curve: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    minutes = [m["train_minutes"] for m in curve]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    ax.plot(minutes, [m["class_accuracy"] * 100 for m in curve], "o-", label="class accuracy %")
    ax.plot(minutes, [min(m["class_accuracy_per_digit"]) * 100 for m in curve], "s--", label="worst digit %")
    ax.set_xlabel("training minutes")
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax2 = ax.twinx()
    ax2.plot(minutes, [m["frechet_distance"] for m in curve], "r^-", label="Frechet distance")
    ax2.set_yscale("log")
    ax2.set_ylabel("Frechet distance")
    fig.legend(loc="lower center", ncol=3, fontsize=8)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=TrainConfig().batch_size)
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default: 30)")
    parser.add_argument("--quality", action="store_true", help="also run the time-to-quality training run")
    parser.add_argument("--data-dir", help="MNIST IDX folder for --quality")
    parser.add_argument("--train-steps", type=int, default=TrainConfig().steps, help="steps of the --quality run")
    parser.add_argument("--eval-every", type=int, default=500, help="metric period of the --quality run")
    parser.add_argument("--from-run", metavar="RUN_DIR",
                        help="only report the quality curve of an earlier run (its metrics_history.json)")
    args = parser.parse_args(argv)
    if args.from_run:
        curve = json.loads((Path(args.from_run) / "metrics_history.json").read_text())
        results = {"run": args.from_run, "quality": report_curve(curve, RESULTS_DIR / "run_quality")}
        print(f"wrote {write_results('run_quality', results)}")
        return

    device = select_device(args.device)
    if device.type == "cpu":
        configure_cpu_threads()
    cfg = TrainConfig(batch_size=args.batch_size, device=str(device))
    info = machine_info()
    peak = matmul_gflops() if device.type == "cpu" else None
    tp = measure_throughput(cfg, device, steps=args.steps, warmup=5)
    print(f"{info['cpu']} ({info['cores']} cores), device {device}, torch {info['torch']}")
    print_table(["batch", "step ms", "images/s", "MFLOP/image", "GFLOP/s", "of matmul", "epoch s"],
                [[tp["batch_size"], tp["step_ms_median"], tp["images_per_s"], tp["flops_per_image"] / 1e6,
                  tp["achieved_gflops"], tp["achieved_gflops"] / peak if peak else "-", tp["epoch_seconds"]]])
    results = {"machine": info, "device": str(device), "matmul_gflops": peak, "throughput": tp}
    if args.quality:
        run_dir = Path("runs") / "benchmark_quality"
        qcfg = TrainConfig(data_dir=args.data_dir, run_dir=str(run_dir), export_dir=None,
                           steps=args.train_steps, metrics_every=args.eval_every, metrics_samples=10_000,
                           sample_every=args.eval_every, ckpt_every=args.train_steps, device=str(device),
                           batch_size=args.batch_size)
        results["quality"] = time_to_quality(qcfg, RESULTS_DIR / "time_to_quality")
    print(f"wrote {write_results('training', results)}")


if __name__ == "__main__":
    main()
