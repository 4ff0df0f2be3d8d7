"""Configuration dataclasses.

`ModelConfig` is what `config.json` holds next to the weights: it is everything needed to
rebuild the generator. `TrainConfig` is the whole training run; it is saved in checkpoints.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


def dataclass_from_dict(cls: type, data: Any, what: str) -> Any:
    """A config dataclass from JSON data, strictly: an object with known keys only."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"unknown {what} keys: {unknown} (known: {sorted(known)})")
    return cls(**data)


@dataclass(frozen=True)
class ModelConfig:
    z_dim: int = 64           # size of the Gaussian latent z
    num_classes: int = 10     # digits 0-9
    img_size: int = 28        # MNIST is 28x28 ...
    img_channels: int = 1     # ... and grey
    embed_dim: int = 32       # class embedding concatenated to z in G
    g_width: int = 64         # G channels at 14x14; 2*g_width at 7x7
    d_width: int = 64         # D channels at 14x14; 2*d_width at 7x7
    d_spectral_norm: bool = False  # spectral norm on D's layers (a 3-layer D is too weak with it)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in (bool, "bool"):
                if not isinstance(value, bool):
                    raise ValueError(f"ModelConfig.{f.name} must be true or false, got {value!r}")
            elif not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"ModelConfig.{f.name} must be a positive int, got {value!r}")
        if self.img_size != 28:
            raise ValueError(f"only img_size=28 is supported, got {self.img_size}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return dataclass_from_dict(cls, data, "model config")


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    # data
    data_dir: str | None = None      # folder with the MNIST IDX files; None = env var or download
    download: bool = True            # allow torchvision to download MNIST if no IDX files found
    synthetic_size: int = 0          # > 0: train on that many synthetic images (tests, smoke runs)
    # run
    run_dir: str = "runs/mnist"      # checkpoints, grids, curves, log
    export_dir: str | None = "weights"  # where the EMA generator goes at the end; None = nowhere
    steps: int = 16000               # optimisation steps (one D step + one G step each)
    batch_size: int = 64             # per process
    seed: int = 0                    # seeds init, data order and training noise
    device: str = "auto"             # auto = cuda, then mps, then cpu
    threads: int = 0                 # CPU intra-op threads; 0 = one per physical core
    # optimisation (DCGAN-style Adam)
    lr_g: float = 1e-3               # 5x DCGAN's 2e-4: twice as fast to a given quality (docs/training.md)
    lr_d: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    aux_weight: float = 1.0          # weight of the auxiliary class loss (AC-GAN term)
    r1_gamma: float = 1.0            # R1 gradient penalty on real images (0 = off); without it, D overfits
    r1_every: int = 16               # lazy R1: applied (scaled up) every this many D steps
    ema_beta: float = 0.999          # EMA decay of G's weights, ramped up early in the run
    bf16: bool = True                # bf16 autocast on CUDA (ignored elsewhere)
    compile: bool = False            # torch.compile the training step's modules
    # bookkeeping
    log_every: int = 50              # loss history / progress bar refresh
    sample_every: int = 500          # fixed-noise grid PNG (+ GIF frame)
    metrics_every: int = 1000        # quick class accuracy / Frechet distance; 0 = off
    metrics_samples: int = 1000      # samples per periodic metric (spread over the digits)
    ckpt_every: int = 1000           # checkpoint period (also written on SIGINT/SIGTERM)
    time_limit_s: float = 0.0        # stop with a checkpoint after this many seconds (0 = none); resume continues

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = ModelConfig.from_dict(self.model)
        positive = ["steps", "batch_size", "log_every", "sample_every", "ckpt_every",
                    "metrics_samples", "r1_every"]
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ["metrics_every", "threads", "seed", "synthetic_size", "time_limit_s", "r1_gamma"]:
            if not getattr(self, name) >= 0:  # NaN too
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ["lr_g", "lr_d"]:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ["beta1", "beta2", "ema_beta"]:
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")
        if self.batch_size % 4:
            raise ValueError(f"batch_size must be a multiple of 4 (D's minibatch-stddev groups), "
                             f"got {self.batch_size}")
        if not self.aux_weight >= 0:
            raise ValueError(f"aux_weight must be >= 0, got {self.aux_weight}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        data = dict(data)
        data["model"] = ModelConfig.from_dict(data.get("model", {}))
        return cls(**data)


# Named recipes: TrainConfig values applied before the flags a user gives (which win).
PRESETS: dict[str, dict[str, Any]] = {
    # the TrainConfig defaults: the recipe of the shipped weights (docs/training.md: recipes,
    # time to quality)
    "standard": {},
    # the first weights' quality (Frechet 13.9, coverage 0.749) sooner: 4,000 steps at the
    # standard rates, without R1 (as measured: reached at step 3,500, 4.3 training minutes on
    # 2 CPU cores; docs/training.md: time to quality)
    "quick": {"steps": 4000, "r1_gamma": 0.0},
    # the recipe of the first shipped weights, kept to measure new recipes against: DCGAN's
    # Adam rates, no R1, 6,000 steps
    "v1": {"steps": 6000, "lr_g": 2e-4, "lr_d": 2e-4, "r1_gamma": 0.0},
    # one GPU (not yet run on one, so still v1's recipe, scaled): 8x the batch; v1's Adam rates
    # scaled by sqrt(8) (linear scaling is too hot for a two-player game); no R1 (untried under
    # bf16); the EMA keeps the default's half-life in images (0.999 per 64 images = 44,300
    # images, so 0.992 per 512); as many updates as v1 (51 epochs); fewer log lines, since each
    # waits for the device; the periodic metric on the 10,000 samples gan.evaluate draws, so
    # its curve reads against the final evaluation
    "gpu": {"batch_size": 512, "lr_g": 5.7e-4, "lr_d": 5.7e-4, "r1_gamma": 0.0, "ema_beta": 0.992,
            "steps": 6000, "log_every": 200, "sample_every": 1000, "metrics_every": 1000,
            "metrics_samples": 10_000, "ckpt_every": 2000},
}


def preset_values(name: str) -> dict[str, Any]:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    values = dict(PRESETS[name])
    if "model" in values:
        values["model"] = dict(values["model"])
    return values


def with_preset(values: dict[str, Any], name: str) -> dict[str, Any]:
    """TrainConfig values (as `to_dict` gives them) with a preset applied: its settings replace
    those values, and its "model" entry only the model settings it names."""
    preset = preset_values(name)
    model = {**values.get("model", {}), **preset.pop("model", {})}
    return {**values, **preset, "model": model}


def field_comments(cls: type) -> dict[str, str]:
    """The trailing `# comment` of each field in a dataclass's source: one place documents
    a default, and the CLI's --help reuses it."""
    import inspect
    import re

    comments = {}
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+):[^#]*#\s*(.+)$", line)
        if match:
            comments[match.group(1)] = match.group(2).strip()
    return comments
