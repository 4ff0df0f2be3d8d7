"""Training speed: `python -m benchmarks.training [--device DEV] [--data-dir DIR]`.

Throughput: the body of train()'s loop (batch draw from the device-resident data, noise
draw, gan_step with R1 on every r1_every-th step as the recipe has it, EMA update) on the
chosen device, timed in blocks of steps with one device sync per block, as the loop runs
between log lines. Prints ms per step, images/s, the time of a 60,000-image epoch, FLOPs per
trained image, the achieved rate and its fraction of a peak: on a GPU the chip's dense bf16
rate (--peak-tflops, default 989 TFLOP/s, NVIDIA's figure for H100/H200 SXM without
sparsity), on a CPU this machine's measured fp32 matmul.

    python -m benchmarks.training --device cuda --preset gpu                 # eager
    python -m benchmarks.training --device cuda --preset gpu --compile       # torch.compile
    python -m benchmarks.training --device cuda --batch-size 256 512 1024 2048
    python -m benchmarks.training --device cuda --batches pinned --fused-adam --cudnn-benchmark

--batches grouped (default) draws as train() does; pinned copies each batch's indices from
pinned memory without waiting for the GPU; fixed reuses one batch (no draw at all). With
--fused-adam and --cudnn-benchmark these measure proposed changes before they are made.

How soon a recipe reaches a quality is benchmarks.time_to_quality.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from gan.config import ModelConfig, TrainConfig
from gan.data import ClassGroupedBatches, load_mnist
from gan.model.networks import MBSTD_GROUP, Discriminator, Generator
from gan.runtime import configure_cpu_threads, select_device
from gan.training.loop import ema_beta_at, update_ema
from gan.training.losses import gan_step, lazy_r1_weight

from .common import machine_info, matmul_gflops, print_table, write_results
from .gpu_preset import preset_for

EPOCH = 60_000
H100_H200_DENSE_BF16_TFLOPS = 989.0  # NVIDIA datasheet, SXM, without sparsity


class PinnedClassGroupedBatches(ClassGroupedBatches):
    """The same draws, but the indices reach the GPU by a non-blocking copy from pinned
    memory, so the host never waits for the device (the proposed fix, measured first)."""

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.by_class.device.type != "cuda":  # nothing to pin for
            return super().next()
        groups = self.batch_size // self.group_size
        which = torch.multinomial(self.counts.double(), groups, replacement=True, generator=self.rng)
        offsets = (torch.rand(groups, self.group_size, generator=self.rng) * self.counts[which, None]).long()
        idx = (self.starts[which, None] + offsets).flatten().pin_memory()
        idx = self.by_class[idx.to(self.by_class.device, non_blocking=True)]
        return self.images[idx], self.labels[idx]


class FixedBatch:
    """One batch, reused: the step without any data drawing (an upper bound)."""

    def __init__(self, batches: ClassGroupedBatches):
        self.batch = batches.next()

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.batch


def training_data(data_dir: str | None, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST's training set, or `size` random images with balanced labels (speed only)."""
    if data_dir:
        return load_mnist("train", data_dir=data_dir, download=False)
    rng = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (size, 28, 28), dtype=torch.uint8, generator=rng), torch.arange(size) % 10


def build_step(cfg: TrainConfig, device: torch.device, data, *, batches: str, fused_adam: bool):
    """The body of train()'s loop as a function of the step number, and its eager twin."""
    G, D = Generator(cfg.model).to(device), Discriminator(cfg.model).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    adam = {"betas": (cfg.beta1, cfg.beta2), **({"fused": True} if fused_adam else {})}
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, **adam)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, **adam)
    kind = PinnedClassGroupedBatches if batches == "pinned" else ClassGroupedBatches
    source = kind(*data, batch_size=cfg.batch_size, group_size=MBSTD_GROUP, seed=cfg.seed, device=device)
    if batches == "fixed":
        source = FixedBatch(source)
    noise = torch.Generator(device=device).manual_seed(cfg.seed + 1)
    use_bf16 = cfg.bf16 and device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else contextlib.nullcontext
    window = torch.zeros(4, device=device)  # the step's outcome summed on the device, as the loop does

    def make(G_train, D_train, D_plain):
        def step(i: int) -> None:
            real, labels = source.next()
            z = torch.randn(real.shape[0], cfg.model.z_dim, device=device, generator=noise)
            r1_weight = lazy_r1_weight(i, cfg.r1_gamma, cfg.r1_every)
            losses = gan_step(G_train, D if r1_weight else D_train, D_plain, opt_g, opt_d, real, labels, z,
                              labels, aux_weight=cfg.aux_weight, r1_weight=r1_weight, autocast=autocast)
            update_ema(G_ema, G, ema_beta_at(i, cfg.ema_beta))
            window.add_(torch.stack(list(losses)))
        return step

    eager = make(G, D, D)
    if not cfg.compile:
        return eager, eager
    # as in the loop, the R1 steps run D eagerly (torch.compile has no double backward)
    return make(torch.compile(G), torch.compile(D), torch.compile(D)), eager


def measure_throughput(cfg: TrainConfig, device: torch.device, data, *, steps: int, repeats: int,
                       warmup: int, batches: str = "grouped", fused_adam: bool = False) -> dict:
    """Median over `repeats` blocks of `steps` steps, one device sync per block."""
    step, eager_step = build_step(cfg, device, data, batches=batches, fused_adam=fused_adam)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    flops = []
    for i in (0, 1):  # a step with R1 (if the recipe has it) and one without
        with FlopCounterMode(display=False) as counter:
            eager_step(i)
        flops.append(counter.get_total_flops())
    r1_steps = 1 if cfg.r1_gamma else 0  # in every r1_every steps
    cycle_flops = r1_steps * flops[0] + (cfg.r1_every - r1_steps) * flops[1]
    flops_per_image = cycle_flops / cfg.r1_every / cfg.batch_size
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync()
    start = time.perf_counter()
    for i in range(warmup):  # the first calls compile (with --compile) and pick kernels
        step(1 + i)
    sync()
    warmup_s = time.perf_counter() - start
    blocks = []
    for r in range(repeats):
        start = time.perf_counter()
        for i in range(steps):
            step(1 + warmup + r * steps + i)
        sync()
        blocks.append(time.perf_counter() - start)
    step_s = statistics.median(blocks) / steps
    images_per_s = cfg.batch_size / step_s
    return {"batch_size": cfg.batch_size, "steps_per_block": steps, "blocks": repeats,
            "step_ms": step_s * 1000, "images_per_s": images_per_s, "epoch_s": EPOCH / images_per_s,
            "flops_per_image": flops_per_image, "achieved_tflops": flops_per_image * images_per_s / 1e12,
            "warmup_steps": warmup, "warmup_s": warmup_s, "compile": cfg.compile,
            "bf16": cfg.bf16 and device.type == "cuda", "batches": batches, "fused_adam": fused_adam,
            "peak_memory_mib": (torch.cuda.max_memory_allocated(device) / 2**20
                                if device.type == "cuda" else None)}


def describe_device(device: torch.device) -> dict:
    info = machine_info()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    capability=f"{props.major}.{props.minor}", cuda_runtime=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version())
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--preset", help="start from a train.py preset, e.g. gpu (see benchmarks/gpu_preset.py)")
    parser.add_argument("--batch-size", type=int, nargs="+", help="one or more (default: the preset's or 64)")
    parser.add_argument("--compile", action="store_true", help="torch.compile G and D, as train.py --compile")
    parser.add_argument("--no-bf16", action="store_true", help="fp32 on CUDA (bf16 autocast is the default)")
    parser.add_argument("--batches", choices=["grouped", "pinned", "fixed"], default="grouped",
                        help="how a step gets its batch (default: grouped, as train() does)")
    parser.add_argument("--fused-adam", action="store_true", help="Adam(fused=True) (CUDA)")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="torch.backends.cudnn.benchmark = True")
    parser.add_argument("--steps", type=int, help="steps per timed block (default: one 60,000-image epoch "
                                                   "on CUDA, 32 on the CPU: any 32 steps hold two "
                                                   "of lazy R1's every 16th)")
    parser.add_argument("--repeats", type=int, default=3, help="timed blocks; the median is reported (default: 3)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps first (default: 10)")
    parser.add_argument("--width", type=int, help="g_width = d_width (default: the model's 64)")
    parser.add_argument("--data-size", type=int, default=EPOCH,
                        help="random images to draw batches from when there is no --data-dir (default: 60000)")
    parser.add_argument("--peak-tflops", type=float, default=H100_H200_DENSE_BF16_TFLOPS,
                        help="the GPU's peak for the fraction column (default: 989, H100/H200 SXM dense bf16)")
    parser.add_argument("--out", type=Path, help="JSON path (default: benchmarks/results/training.json)")
    parser.add_argument("--data-dir", help="MNIST IDX folder to draw batches from (default: random images)")
    return parser.parse_args(argv)


def base_config(args: argparse.Namespace, device: torch.device) -> dict:
    values = preset_for(args.preset) if args.preset else {}
    if args.width:
        values["model"] = ModelConfig(g_width=args.width, d_width=args.width)
    values.update(device=str(device), compile=args.compile, bf16=not args.no_bf16)
    return values


def print_throughput(rows: list[dict], peak: float | None, peak_name: str) -> None:
    print_table(["batch", "step ms", "images/s", "epoch s", "MFLOP/image", "TFLOP/s", f"of {peak_name}",
                 "warm-up s"],
                [[r["batch_size"], r["step_ms"], round(r["images_per_s"]), r["epoch_s"], r["flops_per_image"] / 1e6,
                  r["achieved_tflops"], f"{r['achieved_tflops'] / peak:.2%}" if peak else "-", r["warmup_s"]]
                 for r in rows])


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    device = select_device(args.device)
    if device.type == "cpu":
        configure_cpu_threads()
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    values = base_config(args, device)
    sizes = args.batch_size or [values.get("batch_size", TrainConfig().batch_size)]
    info = describe_device(device)
    if device.type == "cuda":
        peak, peak_name = args.peak_tflops, f"{args.peak_tflops:g} TFLOP/s"
    else:
        peak, peak_name = matmul_gflops() / 1000, "matmul"
    print(f"{info.get('gpu') or info['cpu']}, device {device}, torch {info['torch']}, "
          f"compile {args.compile}, bf16 {values['bf16'] and device.type == 'cuda'}, batches {args.batches}, "
          f"fused Adam {args.fused_adam}, cudnn.benchmark {args.cudnn_benchmark}")
    data = training_data(args.data_dir, args.data_size)
    rows = []
    for size in sizes:
        cfg = TrainConfig(**{**values, "batch_size": size})
        steps = args.steps or (math.ceil(EPOCH / size) if device.type == "cuda" else 32)
        rows.append(measure_throughput(cfg, device, data, steps=steps, repeats=args.repeats, warmup=args.warmup,
                                       batches=args.batches, fused_adam=args.fused_adam))
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print_throughput(rows, peak, peak_name)
    results = {"machine": info, "device": str(device), "preset": args.preset, "peak_tflops": peak,
               "peak_name": peak_name, "cudnn_benchmark": args.cudnn_benchmark, "throughput": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")
    else:
        print(f"wrote {write_results('training', results)}")


if __name__ == "__main__":
    main()
