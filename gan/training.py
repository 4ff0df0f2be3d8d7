"""The GAN training loop: (1) update D, (2) update G, EMA of G, checkpoints, signals, DDP.

Losses (non-saturating logistic GAN + auxiliary classifier), with D(x, y) the adversarial
logit, C(x) D's class logits, G(z, y) a fake of class y:

    d_loss = softplus(-D(x, y)) + softplus(D(G(z, y'), y')) + aux_weight * CE(C(x), y)
    g_loss = softplus(-D(G(z, y'), y'))                     + aux_weight * CE(C(G(z, y')), y')

D's classifier learns from real images only, so it cannot be taught to accept bad fakes.
In this loop y' = y: the fakes of a step take the real batch's labels, which come in groups
of one digit (see ClassGroupedBatches and the minibatch-stddev channel in models.py).
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

from .config import TrainConfig
from .data import ClassGroupedBatches, load_mnist, make_synthetic_digits
from .images import make_grid, save_gif, save_png
from .metrics import (CLASSIFIER_PATH, class_accuracy, classifier_outputs,
                      conditional_failure_warnings, diversity_ratios, frechet_distance,
                      load_classifier)
from .models import MBSTD_GROUP, Discriminator, Generator
from .runtime import configure_cpu_threads, select_device
from .weights import atomic_write_bytes, atomic_write_json, save_generator

CHECKPOINT_NAME = "checkpoint.pt"
GRID_SEEDS = list(range(10))  # fixed noise: the progress grid shows seeds 0-9 of every digit


class TrainingDiverged(RuntimeError):
    pass


# ----------------------------------------------------------------------------- helpers

@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1.0 - beta)


def ema_beta_at(step: int, beta: float) -> float:
    # Ramp up (as in Karras et al.): early on, the EMA tracks G closely instead of
    # averaging in the random initialisation.
    return min(beta, (1.0 + step) / (10.0 + step))


@torch.no_grad()
def recalibrate_batchnorm(generator: Generator, *, batches: int = 8, batch_size: int = 256,
                          seed: int = 12345) -> None:
    """Recompute G's BatchNorm statistics for its current weights.

    The EMA generator's weights are an average that no batch statistics were ever computed
    for; this measures them exactly (cumulative average over a few batches of samples), with
    a private generator so that it leaves training's random streams untouched.
    """
    device = generator.device
    rng = torch.Generator().manual_seed(seed)
    bns = [m for m in generator.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average
    generator.train()
    for _ in range(batches):
        z = torch.randn(batch_size, generator.z_dim, generator=rng).to(device)
        labels = torch.randint(0, generator.num_classes, (batch_size,), generator=rng).to(device)
        generator(z, labels)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    generator.eval()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       real_class_logits: torch.Tensor, real_labels: torch.Tensor,
                       aux_weight: float) -> torch.Tensor:
    adversarial = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
    return adversarial + aux_weight * F.cross_entropy(real_class_logits, real_labels)


def generator_loss(fake_logits: torch.Tensor, fake_class_logits: torch.Tensor,
                   fake_labels: torch.Tensor, aux_weight: float) -> torch.Tensor:
    return F.softplus(-fake_logits).mean() + aux_weight * F.cross_entropy(fake_class_logits, fake_labels)


def gan_step(G: nn.Module, D: nn.Module, D_plain: nn.Module, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, real: torch.Tensor, real_labels: torch.Tensor,
             z: torch.Tensor, fake_labels: torch.Tensor, *, aux_weight: float,
             autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """One training step; returns the (d_loss, g_loss) tensors without syncing the device.

    D and G may be DDP/compiled wrappers; D_plain is the bare discriminator module, used in
    the G step where D's gradients are not needed (and must not be all-reduced).
    """
    n = real.shape[0]
    # (1) update D: real -> 1, fake -> 0; one forward over both halves
    with autocast():
        fake = G(z, fake_labels)
        logits, class_logits = D(torch.cat([real, fake.detach()]), torch.cat([real_labels, fake_labels]))
    logits, class_logits = logits.float(), class_logits.float()
    d_loss = discriminator_loss(logits[:n], logits[n:], class_logits[:n], real_labels, aux_weight)
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()

    # (2) update G: make D call the fakes real and of the asked-for class
    D_plain.requires_grad_(False)
    with autocast():
        logits, class_logits = D_plain(fake, fake_labels)
    g_loss = generator_loss(logits.float(), class_logits.float(), fake_labels, aux_weight)
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    D_plain.requires_grad_(True)
    return d_loss.detach(), g_loss.detach()


def grid_image(generator: Generator) -> torch.Tensor:
    """Fixed-noise progress grid: a row per digit, a column per seed in GRID_SEEDS."""
    digits = [d for d in range(generator.num_classes) for _ in GRID_SEEDS]
    seeds = GRID_SEEDS * generator.num_classes
    images = generator.generate(digits, seeds)
    return make_grid(images, rows=generator.num_classes, cols=len(GRID_SEEDS))


def loss_curve_png(history: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    ax.plot(steps, [h["d_loss"] for h in history], label="d_loss")
    ax.plot(steps, [h["g_loss"] for h in history], label="g_loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (window mean)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


# ----------------------------------------------------------------------------- distributed

@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> Dist:
    """Set up DDP when launched by torchrun (RANK/WORLD_SIZE in the environment)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Dist()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world_size, local_rank)


# ----------------------------------------------------------------------------- the run

@dataclass
class TrainResult:
    step: int
    status: str  # "finished" or "interrupted"
    run_dir: Path
    export_dir: Path | None
    history: list[dict] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)


class _StopFlag:
    """SIGINT/SIGTERM set a flag; the loop checkpoints at the end of the current step."""

    def __init__(self):
        self.signal: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self):
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal = signum

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def load_training_data(cfg: TrainConfig, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    if cfg.synthetic_size:
        return make_synthetic_digits(cfg.synthetic_size, seed=cfg.seed + (split == "test"))
    return load_mnist(split, data_dir=cfg.data_dir, download=cfg.download)


def train(cfg: TrainConfig, *, resume: bool = False, command: str = "",
          log: Callable[[str], None] | None = None, progress: bool = True,
          _after_step: Callable[[int], None] | None = None) -> TrainResult:
    """Run (or continue, with resume=True) the training run in cfg.run_dir.

    `_after_step` is a test hook called with the step number after each step.
    """
    ddp = init_distributed(cfg.device)
    device = torch.device("cuda", ddp.local_rank) if ddp.enabled and torch.cuda.is_available() \
        and cfg.device in ("auto", "cuda") else select_device(cfg.device)
    if device.type == "cpu":
        configure_cpu_threads(cfg.threads)
    run_dir = Path(cfg.run_dir)
    ckpt_path = run_dir / CHECKPOINT_NAME
    log_file = None
    if ddp.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "samples").mkdir(exist_ok=True)
        log_file = open(run_dir / "log.txt", "a")

    def say(msg: str) -> None:
        if not ddp.is_main:
            return
        (log or tqdm.write)(msg)
        log_file.write(msg + "\n")
        log_file.flush()

    # ---- models, optimisers, data
    torch.manual_seed(cfg.seed)  # initial weights; identical on every rank
    G, D = Generator(cfg.model).to(device), Discriminator(cfg.model).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=(cfg.beta1, cfg.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=(cfg.beta1, cfg.beta2))
    images, labels = load_training_data(cfg)
    batches = ClassGroupedBatches(images, labels, batch_size=cfg.batch_size, group_size=MBSTD_GROUP,
                                  seed=cfg.seed + 1000 * ddp.rank, device=device)
    noise_rng = torch.Generator(device=device).manual_seed(cfg.seed + 1000 * ddp.rank + 1)
    step, history, metric_history, elapsed_before, overhead_before = 0, [], [], 0.0, 0.0
    commands = [command] if command else []  # the run's provenance: first run, then each resume

    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"cannot resume: no {CHECKPOINT_NAME} in {run_dir}")
        ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
        G.load_state_dict(ckpt["G"])
        D.load_state_dict(ckpt["D"])
        G_ema.load_state_dict(ckpt["G_ema"])
        opt_g.load_state_dict(ckpt["opt_g"])
        opt_d.load_state_dict(ckpt["opt_d"])
        per_rank = ckpt["rng"]
        if len(per_rank) == ddp.world_size:
            batches.load_state_dict(per_rank[ddp.rank]["batches"])
            noise_rng.set_state(per_rank[ddp.rank]["noise"])
        else:  # a different world size: fresh, rank- and step-dependent data order
            batches = ClassGroupedBatches(images, labels, batch_size=cfg.batch_size, group_size=MBSTD_GROUP,
                                          seed=cfg.seed + 1000 * ddp.rank + ckpt["step"], device=device)
        step, history = ckpt["step"], ckpt["history"]
        metric_history = ckpt.get("metrics", [])
        elapsed_before = ckpt.get("elapsed_s", 0.0)
        overhead_before = ckpt.get("overhead_s", 0.0)
        commands = ckpt.get("commands", []) + commands
        say(f"resumed {run_dir} at step {step}")

    G_train, D_train = G, D
    if ddp.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        G_train, D_train = DDP(G, device_ids=ids), DDP(D, device_ids=ids)
    if cfg.compile:
        G_train, D_train = torch.compile(G_train), torch.compile(D_train)
    D_plain = torch.compile(D) if cfg.compile else D  # the G step needs no D gradient sync
    use_bf16 = cfg.bf16 and device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else contextlib.nullcontext

    # ---- periodic evaluation
    classifier, ref_feats, ref_labels = None, None, None
    if ddp.is_main and cfg.metrics_every and CLASSIFIER_PATH.is_file():
        classifier = load_classifier(device=device)
        test_images, test_labels = load_training_data(cfg, "test")
        ref_feats, _ = classifier_outputs(classifier, test_images)
        ref_labels = test_labels
    elif ddp.is_main and cfg.metrics_every:
        say(f"no classifier at {CLASSIFIER_PATH}: periodic metrics are off")

    def evaluate_now() -> dict:
        per_digit = max(1, cfg.metrics_samples // cfg.model.num_classes)
        digits = [d for d in range(cfg.model.num_classes) for _ in range(per_digit)]
        seeds = list(range(per_digit)) * cfg.model.num_classes
        samples = G_ema.generate(digits, seeds)
        feats, predicted = classifier_outputs(classifier, samples)
        target = torch.tensor(digits)
        accuracy, per_class = class_accuracy(predicted, target, cfg.model.num_classes)
        diversity = diversity_ratios(ref_feats, ref_labels, feats, target, cfg.model.num_classes)
        wall = elapsed_before + time.perf_counter() - t_start
        result = {"step": step, "minutes": round(wall / 60, 3),
                  "train_minutes": round((wall - overhead_before - overhead_s) / 60, 3),
                  "class_accuracy": accuracy, "class_accuracy_per_digit": per_class,
                  "frechet_distance": frechet_distance(feats, ref_feats),
                  "min_diversity_ratio": min((r for r in diversity if r == r), default=float("nan"))}
        say(f"step {step}: class accuracy {accuracy:.2%} (worst digit {min(per_class):.2%}), "
            f"Frechet distance {result['frechet_distance']:.2f}")
        for warning in conditional_failure_warnings(accuracy, per_class, diversity):
            say(f"WARNING step {step}: {warning}")
        return result

    progress_frames: list = []  # the fixed-noise grids so far, the frames of progress.gif

    def save_progress_images() -> None:
        grid = grid_image(G_ema)
        save_png(run_dir / "samples" / f"step_{step:07d}.png", grid, metadata={"step": step})
        save_png(run_dir / "samples.png", grid, metadata={"step": step})
        if progress_frames:
            progress_frames.append(grid)
        else:  # the first grid of this process: read this one and, when resumed, the earlier ones
            progress_frames.extend(read_grey_png(p) for p in sorted((run_dir / "samples").glob("step_*.png")))
        save_gif(run_dir / "progress.gif", progress_frames, duration_ms=300)
        if history:
            atomic_write_bytes(run_dir / "loss_curve.png", loss_curve_png(history))

    def check_finite(window: torch.Tensor) -> None:
        if not torch.isfinite(window).all():
            if ckpt_path.is_file():
                advice = (f"The last good checkpoint is kept in {ckpt_path}: resume from it with "
                          f"python train.py --resume {run_dir} --lr-g ... --lr-d ... (lower rates).")
            else:
                advice = "No checkpoint had been written yet: start again with lower --lr-g/--lr-d."
            raise TrainingDiverged(f"loss became NaN/inf before step {step}; stopped. {advice}")

    def save_checkpoint() -> None:
        rng_state = {"batches": batches.state_dict(), "noise": noise_rng.get_state()}
        if ddp.enabled:
            gathered: list = [None] * ddp.world_size
            dist.all_gather_object(gathered, rng_state)
        else:
            gathered = [rng_state]
        if not ddp.is_main:
            return
        state = {"config": cfg.to_dict(), "step": step, "G": G.state_dict(), "D": D.state_dict(),
                 "G_ema": G_ema.state_dict(), "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                 "rng": gathered, "history": history, "metrics": metric_history,
                 "elapsed_s": elapsed_before + time.perf_counter() - t_start,
                 "overhead_s": overhead_before + overhead_s, "commands": commands}
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write_bytes(ckpt_path, buf.getvalue())

    # ---- the loop
    window = torch.zeros(2, device=device)  # summed (d_loss, g_loss) since the last log line
    window_steps, window_start = 0, time.perf_counter()
    t_start = time.perf_counter()
    overhead_s = 0.0  # seconds of this process spent on grids and metrics
    bar = tqdm(total=cfg.steps, initial=step, disable=not (progress and ddp.is_main),
               dynamic_ncols=True, unit="step")
    status = "finished"
    with _StopFlag() as stop:
        while step < cfg.steps:
            real, real_labels = batches.next()
            n = real.shape[0]
            z = torch.randn(n, cfg.model.z_dim, device=device, generator=noise_rng)
            fake_labels = real_labels  # same class groups as the real half (see ClassGroupedBatches)

            d_loss, g_loss = gan_step(G_train, D_train, D_plain, opt_g, opt_d, real, real_labels, z,
                                      fake_labels, aux_weight=cfg.aux_weight, autocast=autocast)
            update_ema(G_ema, G, ema_beta_at(step, cfg.ema_beta))
            window += torch.stack([d_loss, g_loss])
            window_steps += 1
            step += 1
            bar.update(1)
            if _after_step is not None:
                _after_step(step)

            stop_now = stop.signal is not None
            if ddp.enabled:
                # Every rank must stop at the same step, or collectives hang; agreeing costs a
                # device sync, so the ranks compare notes only at log steps.
                stop_now = False
                if step % cfg.log_every == 0 or step == cfg.steps:
                    flag = torch.tensor([float(stop.signal is not None)], device=device)
                    dist.all_reduce(flag)
                    stop_now = bool(flag.item())
            at_ckpt = step % cfg.ckpt_every == 0 or step == cfg.steps or stop_now
            if step % cfg.log_every == 0 or at_ckpt:
                mean = (window / window_steps).cpu()
                check_finite(mean)
                seconds = time.perf_counter() - window_start
                rate = window_steps * n * ddp.world_size / max(seconds, 1e-9)
                history.append({"step": step, "d_loss": float(mean[0]), "g_loss": float(mean[1]),
                                "images_per_s": rate})
                bar.set_postfix(d_loss=f"{mean[0]:.3f}", g_loss=f"{mean[1]:.3f}", img_s=f"{rate:.0f}")
                window.zero_()
                window_steps, window_start = 0, time.perf_counter()
            side_start = time.perf_counter()  # sampling and metrics: not training time
            if ddp.is_main and (step % cfg.sample_every == 0 or step == cfg.steps):
                recalibrate_batchnorm(G_ema)
                save_progress_images()
            if ddp.is_main and classifier is not None and (step % cfg.metrics_every == 0 or step == cfg.steps):
                recalibrate_batchnorm(G_ema)
                metric_history.append(evaluate_now())
                atomic_write_json(run_dir / "metrics_history.json", metric_history)
            overhead_s += time.perf_counter() - side_start
            if at_ckpt:
                save_checkpoint()
            if stop_now:
                status = "interrupted"
                say(f"stopped by signal at step {step}; checkpoint saved. Resume with: "
                    f"python train.py --resume {run_dir}")
                break
    bar.close()

    export_dir = None
    if status == "finished" and ddp.is_main:
        atomic_write_json(run_dir / "history.json", history)
        if cfg.export_dir:
            export_dir = export_generator(G_ema, cfg.export_dir, cfg=cfg, step=step, commands=commands,
                                          run_dir=run_dir,
                                          elapsed_s=elapsed_before + time.perf_counter() - t_start,
                                          device=str(device), world_size=ddp.world_size)
            say(f"exported the EMA generator to {export_dir}")
    if log_file is not None:
        log_file.close()
    if ddp.enabled:
        dist.barrier()
    return TrainResult(step, status, run_dir, export_dir, history, metric_history)


def read_grey_png(path: Path):
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("L"))


def export_generator(G_ema: Generator, export_dir: str | os.PathLike, *, cfg: TrainConfig, step: int,
                     commands: list[str], run_dir: Path, elapsed_s: float, device: str,
                     world_size: int = 1) -> Path:
    """Write the EMA generator (BatchNorm statistics recalibrated) and its provenance."""
    export_dir = Path(export_dir)
    served = copy.deepcopy(G_ema).to("cpu")
    recalibrate_batchnorm(served)
    save_generator(served, export_dir)
    atomic_write_json(export_dir / "training.json", {
        # A resumed run continues exactly (same data order and noise), so the chain of
        # commands reproduces these weights.
        "command": " && ".join(commands), "commands": commands,
        "seed": cfg.seed, "step": step, "train_config": cfg.to_dict(),
        "device": device, "world_size": world_size, "wall_time_minutes": round(elapsed_s / 60, 2),
        "torch_version": torch.__version__})
    for name in ("samples.png", "loss_curve.png", "progress.gif"):
        source = run_dir / name
        if source.is_file():
            atomic_write_bytes(export_dir / name, source.read_bytes())
    return export_dir


def load_checkpoint_config(run_dir: str | os.PathLike) -> TrainConfig:
    path = Path(run_dir) / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return TrainConfig.from_dict(ckpt["config"])


def export_from_checkpoint(run_dir: str | os.PathLike, export_dir: str | os.PathLike, *,
                           command: str = "") -> Path:
    run_dir = Path(run_dir)
    ckpt = torch.load(run_dir / CHECKPOINT_NAME, map_location="cpu", weights_only=True)
    cfg = TrainConfig.from_dict(ckpt["config"])
    G_ema = Generator(cfg.model)
    G_ema.load_state_dict(ckpt["G_ema"])
    return export_generator(G_ema, export_dir, cfg=cfg, step=ckpt["step"],
                            commands=ckpt.get("commands", []) + ([command] if command else []),
                            run_dir=run_dir, elapsed_s=ckpt.get("elapsed_s", 0.0), device="cpu")


__all__ = ["train", "TrainResult", "TrainingDiverged", "select_device", "configure_cpu_threads",
           "recalibrate_batchnorm", "export_generator", "export_from_checkpoint",
           "load_checkpoint_config", "discriminator_loss", "generator_loss"]
