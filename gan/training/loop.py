"""The GAN training run: (1) update D, (2) update G, EMA of G, checkpoints, signals, DDP.

`train(cfg)` is a short loop over a `Trainer`, which holds the run's state explicitly. The
step's objective is in gan.training.losses; checkpoint, export and what a watcher reads in
gan.training.run_folder. The fakes take the real batch's labels, in groups of one digit (see
ClassGroupedBatches and the minibatch-stddev channel in gan.model.networks). Beside the loop:
the EMA of G's weights (what ships), the wall clock and loss window it measures, and the
SIGINT/SIGTERM flag that stops it cleanly between steps.
"""
from __future__ import annotations

import contextlib
import copy
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
from tqdm import tqdm

from ..config import TrainConfig
from ..data import ClassGroupedBatches, load_training_data
from ..files import atomic_write_json
from ..measure.metrics import conditional_failure_warnings, coverage, sample_quality
from ..model.classifier import CLASSIFIER_PATH, classifier_outputs, load_classifier
from ..model.networks import MBSTD_GROUP, Discriminator, Generator, recalibrate_batchnorm
from ..runtime import configure_cpu_threads, select_device
from .distributed import Dist, agree, gather_objects, init_distributed
from .losses import StepOutcome, gan_step, lazy_r1_weight
from .run_folder import (
    CHECKPOINT_FILE,
    HISTORY_FILE,
    LOG_FILE,
    METRICS_HISTORY_FILE,
    SAMPLES_DIR,
    STOP_FILE,
    ProgressPictures,
    early_grid_steps,
    export_generator,
    load_checkpoint,
    save_checkpoint,
    write_status,
)


# ----------------------------------------------------------------------------- G_ema
@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    # one fused update over all parameters (a GPU launches a few kernels, not one per tensor)
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - beta)


def ema_beta_at(step: int, beta: float) -> float:
    # Ramp up (as in Karras et al.): early on, the EMA tracks G closely instead of
    # averaging in the random initialisation.
    return min(beta, (1.0 + step) / (10.0 + step))


# ----------------------------------------------------------------------------- measuring
class RunClock:
    """Wall time of the run across resumes, and the part of it spent on pictures and
    metrics (overhead), so that training minutes exclude the time spent watching."""

    def __init__(self, elapsed_before: float = 0.0, overhead_before: float = 0.0):
        self.elapsed_before, self.overhead = elapsed_before, overhead_before
        self.start = time.perf_counter()

    @property
    def elapsed_s(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.start

    @property
    def training_s(self) -> float:
        return self.elapsed_s - self.overhead

    @contextlib.contextmanager
    def overhead_of(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.overhead += time.perf_counter() - start


class LossWindow:
    """A step's outcome (losses, D's realness of real and fake) summed on the device since the
    last log line: reading them waits for the device, so that happens only every log_every
    steps."""

    def __init__(self, device: torch.device):
        self.sums = torch.zeros(len(StepOutcome._fields), device=device)
        self.steps, self.images, self.start = 0, 0, time.perf_counter()

    def add(self, outcome: StepOutcome, images: int) -> None:
        self.sums += torch.stack([value.float() for value in outcome])
        self.steps += 1
        self.images += images

    def close(self, step: int) -> dict:
        means = (self.sums / max(self.steps, 1)).cpu().tolist()
        rate = self.images / max(time.perf_counter() - self.start, 1e-9)
        self.sums.zero_()
        self.steps, self.images, self.start = 0, 0, time.perf_counter()
        return {"step": step, **dict(zip(StepOutcome._fields, means)), "images_per_s": rate}


# ----------------------------------------------------------------------------- stopping
class StopFlag:
    """Why a run should stop at the end of the current step, with a checkpoint: SIGINT or
    SIGTERM, a stop request in the run folder (the Train tab writes one for a run inside a
    ZeroGPU worker, which it cannot signal), or the run's time limit in this process."""

    def __init__(self, run_dir: Path, time_limit_s: float = 0.0):
        self.signal: int | None = None
        self.request = run_dir / STOP_FILE
        self.time_limit_s, self.start = time_limit_s, time.perf_counter()
        self._previous: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.signal = signum

    def reason(self) -> str | None:
        if self.signal is not None:
            return "signal"
        if self.time_limit_s and time.perf_counter() - self.start >= self.time_limit_s:
            return f"its time limit ({self.time_limit_s:g} s)"
        if self.request.exists():
            return "request"
        return None

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


# ----------------------------------------------------------------------------- the run

class TrainingDiverged(RuntimeError):
    pass


@dataclass
class TrainResult:
    step: int
    status: str  # "finished" or "interrupted"
    run_dir: Path
    export_dir: Path | None
    history: list[dict] = field(default_factory=list)
    metrics: list[dict] = field(default_factory=list)


class Trainer:
    """One run's models, optimisers, data, random streams and bookkeeping."""

    def __init__(self, cfg: TrainConfig, *, command: str = "", log: Callable[[str], None] | None = None):
        self.cfg = cfg
        self.ddp: Dist = init_distributed(cfg.device)
        self.device = self.ddp.device(cfg.device) or select_device(cfg.device)
        if self.device.type == "cpu":
            configure_cpu_threads(cfg.threads)
        torch.backends.cudnn.benchmark = self.device.type == "cuda"  # shapes never change
        self.run_dir = Path(cfg.run_dir)
        self._log, self._log_file = log or tqdm.write, None
        if self.ddp.is_main:
            (self.run_dir / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
            (self.run_dir / STOP_FILE).unlink(missing_ok=True)  # a request for an earlier launch
            self._log_file = open(self.run_dir / LOG_FILE, "a")
        self._build_models()
        self.data = load_training_data(cfg)  # (images, labels)
        self.batches = self._batches(seed=cfg.seed + 1000 * self.ddp.rank)
        self.noise = torch.Generator(device=self.device).manual_seed(cfg.seed + 1000 * self.ddp.rank + 1)
        self.step, self.history, self.metrics = 0, [], []
        self.commands = [command] if command else []  # provenance: first run, then each resume
        self.clock = RunClock()
        self.pictures = ProgressPictures(self.run_dir)
        self.quality_reference = self._quality_reference()

    def _build_models(self) -> None:
        cfg = self.cfg
        torch.manual_seed(cfg.seed)  # initial weights; identical on every rank
        self.G = Generator(cfg.model).to(self.device)
        self.D = Discriminator(cfg.model).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        betas = (cfg.beta1, cfg.beta2)
        fused = {"fused": True} if self.device.type == "cuda" else {}  # one kernel per step
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=betas, **fused)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d, betas=betas, **fused)
        self.G_train, self.D_train = self.ddp.wrap(self.G, self.device), self.ddp.wrap(self.D, self.device)
        # R1 backpropagates through D's input gradient (a double backward), which torch.compile
        # cannot do: the D steps that add R1 run D eagerly (same weights, same DDP wrapper).
        self.D_r1 = self.D_train
        if cfg.compile:
            self.G_train, self.D_train = torch.compile(self.G_train), torch.compile(self.D_train)
        # The G step needs no gradient of D's weights, so no DDP all-reduce: it uses bare D.
        self.D_plain = torch.compile(self.D) if cfg.compile else self.D
        use_bf16 = cfg.bf16 and self.device.type == "cuda"
        self.autocast = ((lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16
                         else contextlib.nullcontext)

    def _batches(self, *, seed: int) -> ClassGroupedBatches:
        return ClassGroupedBatches(*self.data, batch_size=self.cfg.batch_size, group_size=MBSTD_GROUP,
                                   seed=seed, device=self.device)

    def _quality_reference(self):
        """(classifier, real test features, labels) for the periodic metrics, or None."""
        if not (self.ddp.is_main and self.cfg.metrics_every):
            return None
        if not CLASSIFIER_PATH.is_file():
            self.say(f"no classifier at {CLASSIFIER_PATH}: periodic metrics are off")
            return None
        classifier = load_classifier(device=self.device)
        test_images, test_labels = load_training_data(self.cfg, "test")
        return classifier, classifier_outputs(classifier, test_images)[0], test_labels

    def say(self, message: str) -> None:
        if self.ddp.is_main:
            self._log(message)
            self._log_file.write(message + "\n")
            self._log_file.flush()

    # ---- the step
    def train_step(self, window: LossWindow) -> None:
        real, real_labels = self.batches.next()
        z = torch.randn(real.shape[0], self.cfg.model.z_dim, device=self.device, generator=self.noise)
        fake_labels = real_labels  # same class groups as the real half (see ClassGroupedBatches)
        r1_weight = lazy_r1_weight(self.step, self.cfg.r1_gamma, self.cfg.r1_every)
        D = self.D_r1 if r1_weight else self.D_train
        outcome = gan_step(self.G_train, D, self.D_plain, self.opt_g, self.opt_d,
                           real, real_labels, z, fake_labels, aux_weight=self.cfg.aux_weight,
                           r1_weight=r1_weight, autocast=self.autocast)
        update_ema(self.G_ema, self.G, ema_beta_at(self.step, self.cfg.ema_beta))
        window.add(outcome, real.shape[0] * self.ddp.world_size)
        self.step += 1

    # ---- bookkeeping between steps
    def record_losses(self, window: LossWindow) -> dict:
        entry = window.close(self.step)
        if not (abs(entry["d_loss"]) < float("inf") and abs(entry["g_loss"]) < float("inf")):
            raise TrainingDiverged(f"loss became NaN/inf before step {self.step}; stopped. "
                                   f"{self._divergence_advice()}")
        self.history.append(entry)
        if self.ddp.is_main:
            atomic_write_json(self.run_dir / HISTORY_FILE, self.history)
            self.write_status("running")
        return entry

    def _divergence_advice(self) -> str:
        if (self.run_dir / CHECKPOINT_FILE).is_file():
            return (f"The last good checkpoint is kept in {self.run_dir / CHECKPOINT_FILE}: resume "
                    f"from it with python train.py --resume {self.run_dir} --lr-g ... --lr-d ... "
                    "(lower rates).")
        return "No checkpoint had been written yet: start again with lower --lr-g/--lr-d."

    def save_pictures(self) -> None:
        recalibrate_batchnorm(self.G_ema)
        self.pictures.save(self.G_ema, self.step, self.history)

    def measure_quality(self) -> None:
        """The same sample_quality that `python -m gan.evaluate` reports, on fewer samples."""
        classifier, real_feats, real_labels = self.quality_reference
        recalibrate_batchnorm(self.G_ema)
        per_digit = max(1, self.cfg.metrics_samples // self.cfg.model.num_classes)
        q = sample_quality(self.G_ema, classifier, real_feats, real_labels, samples_per_digit=per_digit)
        self.metrics.append({
            "step": self.step, "minutes": round(self.clock.elapsed_s / 60, 3),
            "train_minutes": round(self.clock.training_s / 60, 3),
            "class_accuracy": q["class_accuracy"], "class_accuracy_per_digit": q["class_accuracy_per_digit"],
            "frechet_distance": q["frechet_distance"],
            "coverage": coverage(real_feats[:len(q["feats"])], q["feats"][:len(real_feats)]),
            "min_diversity_ratio": min((r for r in q["diversity"] if r == r), default=float("nan"))})
        self.say(f"step {self.step}: class accuracy {q['class_accuracy']:.2%} (worst digit "
                 f"{min(q['class_accuracy_per_digit']):.2%}), Frechet distance {q['frechet_distance']:.2f}, "
                 f"coverage {self.metrics[-1]['coverage']:.3f}")
        for warning in conditional_failure_warnings(q["class_accuracy"], q["class_accuracy_per_digit"],
                                                    q["diversity"]):
            self.say(f"WARNING step {self.step}: {warning}")
        atomic_write_json(self.run_dir / METRICS_HISTORY_FILE, self.metrics)

    def write_status(self, state: str, message: str = "") -> None:
        if self.ddp.is_main:
            write_status(self.run_dir, state=state, step=self.step, steps=self.cfg.steps,
                         elapsed_s=self.clock.elapsed_s, last=self.history[-1] if self.history else None,
                         message=message)

    # ---- checkpoints
    def state_dict(self, rng_states: list) -> dict:
        return {"config": self.cfg.to_dict(), "step": self.step, "G": self.G.state_dict(),
                "D": self.D.state_dict(), "G_ema": self.G_ema.state_dict(),
                "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
                "rng": rng_states, "history": self.history, "metrics": self.metrics,
                "elapsed_s": self.clock.elapsed_s, "overhead_s": self.clock.overhead,
                "commands": self.commands}

    def save_checkpoint(self) -> None:
        # every rank's random streams, so that each continues exactly
        rng = gather_objects(self.ddp, {"batches": self.batches.state_dict(),
                                        "noise": self.noise.get_state()})
        if self.ddp.is_main:
            save_checkpoint(self.run_dir / CHECKPOINT_FILE, self.state_dict(rng))

    def resume(self) -> None:
        ckpt = load_checkpoint(self.run_dir)
        for name in ("G", "D", "G_ema", "opt_g", "opt_d"):
            getattr(self, name).load_state_dict(ckpt[name])
        per_rank = ckpt["rng"]
        if len(per_rank) == self.ddp.world_size:
            self.batches.load_state_dict(per_rank[self.ddp.rank]["batches"])
            self._restore_noise(per_rank[self.ddp.rank]["noise"], ckpt["step"])
        else:  # a different world size: a fresh, rank- and step-dependent data order
            self.batches = self._batches(seed=self.cfg.seed + 1000 * self.ddp.rank + ckpt["step"])
        self.step, self.history, self.metrics = ckpt["step"], ckpt["history"], ckpt.get("metrics", [])
        self.clock = RunClock(ckpt.get("elapsed_s", 0.0), ckpt.get("overhead_s", 0.0))
        self.commands = ckpt.get("commands", []) + self.commands
        self.say(f"resumed {self.run_dir} at step {self.step}")

    def _restore_noise(self, state: torch.Tensor, step: int) -> None:
        """The noise stream continues exactly on the same kind of device; a CUDA generator's
        state does not fit a CPU one (or the other way), so a run moved between them gets a
        fresh, step-dependent stream instead."""
        if state.numel() == self.noise.get_state().numel():
            self.noise.set_state(state)
            return
        self.noise.manual_seed(self.cfg.seed + 1000 * self.ddp.rank + 1 + step)
        self.say(f"resumed on {self.device.type}: the checkpoint's noise stream belongs to another "
                 "kind of device, so training noise continues from a fresh stream")

    def export(self) -> Path | None:
        if not (self.ddp.is_main and self.cfg.export_dir):
            return None
        export_dir = export_generator(self.G_ema, self.cfg.export_dir, cfg=self.cfg, step=self.step,
                                      commands=self.commands, run_dir=self.run_dir,
                                      elapsed_s=self.clock.elapsed_s, device=str(self.device),
                                      world_size=self.ddp.world_size)
        self.say(f"exported the EMA generator to {export_dir}")
        return export_dir

    def close(self) -> None:
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def due(step: int, every: int, last: int) -> bool:
    return step % every == 0 or step == last


def train(cfg: TrainConfig, *, resume: bool = False, command: str = "",
          log: Callable[[str], None] | None = None, progress: bool = True,
          _after_step: Callable[[int], None] | None = None) -> TrainResult:
    """Run (or continue, with resume=True) the training run in cfg.run_dir.

    `_after_step` is a test hook called with the step number after each step.
    """
    trainer = Trainer(cfg, command=command, log=log)
    try:
        return _run(trainer, resume=resume, progress=progress, after_step=_after_step)
    except TrainingDiverged as exc:
        trainer.write_status("diverged", str(exc))
        raise
    except BaseException as exc:
        trainer.write_status("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        trainer.close()


def _run(t: Trainer, *, resume: bool, progress: bool, after_step: Callable[[int], None] | None
         ) -> TrainResult:
    cfg = t.cfg
    if resume:
        t.resume()
    t.write_status("running")
    bar = tqdm(total=cfg.steps, initial=t.step, disable=not (progress and t.ddp.is_main),
               dynamic_ncols=True, unit="step")
    window, status = LossWindow(t.device), "finished"
    if t.step == 0:  # the untrained generator: the training timeline's first frame
        with t.clock.overhead_of():
            if t.ddp.is_main:
                t.save_pictures()
            if t.quality_reference is not None:
                t.measure_quality()
    with StopFlag(t.run_dir, cfg.time_limit_s) as stop:
        while t.step < cfg.steps:
            t.train_step(window)  # (1) update D, (2) update G, EMA of G
            bar.update(1)
            if after_step is not None:
                after_step(t.step)
            at_log = due(t.step, cfg.log_every, cfg.steps)
            # DDP ranks must stop at the same step; agreeing costs a sync, so only at log steps
            reason = stop.reason() if at_log or not t.ddp.enabled else None
            stop_now = agree(t.ddp, reason is not None, t.device) if at_log or not t.ddp.enabled \
                else False
            at_ckpt = due(t.step, cfg.ckpt_every, cfg.steps) or stop_now
            if at_log or at_ckpt:
                entry = t.record_losses(window)
                bar.set_postfix(d_loss=f"{entry['d_loss']:.3f}", g_loss=f"{entry['g_loss']:.3f}",
                                img_s=f"{entry['images_per_s']:.0f}")
            with t.clock.overhead_of():  # pictures and metrics are not training time
                if t.ddp.is_main and (due(t.step, cfg.sample_every, cfg.steps)
                                      or t.step in early_grid_steps(cfg.sample_every)):
                    t.save_pictures()
                if t.quality_reference is not None and due(t.step, cfg.metrics_every, cfg.steps):
                    t.measure_quality()
            if at_ckpt:
                t.save_checkpoint()
            if stop_now:
                status = "interrupted"
                t.say(f"stopped by {reason or 'another rank'} at step {t.step}; checkpoint saved. "
                      f"Resume with: python train.py --resume {t.run_dir}")
                break
    bar.close()
    export_dir = t.export() if status == "finished" else None
    t.write_status(status, f"exported to {export_dir}" if export_dir else "")
    t.ddp.barrier()
    return TrainResult(t.step, status, t.run_dir, export_dir, t.history, t.metrics)

