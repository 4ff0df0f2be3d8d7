"""Serving the generator: input rules, a hot-swappable model, images with provenance.

This is everything the web app does apart from drawing widgets, usable (and tested)
without any UI library:

    holder = ModelHolder("weights")              # loads now; WeightsError if it cannot
    service = DigitService(holder)
    path = service.generate(3, 42, 0.8)          # a PNG file with provenance text chunks
    service.reload()                             # swap in new weights (old kept on failure)

Rules of the road:
- Every public entry point validates its inputs and raises `ValueError` with a message
  that says what is allowed. Nothing is clamped or rounded silently (3.0 is accepted as 3,
  3.5 is refused).
- A request takes one reference to the served model when it starts (`holder.current()`)
  and uses only that, so a reload never changes the model under a running request.
- Randomness comes from seeds through private generators; the global RNGs are never seeded.
- Output files get unique names in a private folder; nothing is shared between requests.
"""
from __future__ import annotations

import atexit
import contextlib
import json
import logging
import math
import numbers
import os
import secrets
import shutil
import tempfile
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import numpy as np
import torch

from .config import ModelConfig
from .images import gif_bytes, make_grid, png_bytes, upscale
from .models import Generator
from .sampling import MAX_SEED, MAX_TRUNCATION, validate_truncation
from .weights import (CONFIG_NAME, WEIGHTS_NAME, WeightsError, load_generator,
                      weights_fingerprint)
from .model_card import ModelCard, build_model_card, how_it_works_markdown

log = logging.getLogger(__name__)

MAX_GRID = 16                  # rows and cols of the grid, each 1..MAX_GRID
MAX_STEPS = 64                 # interpolation frames, 2..MAX_STEPS
GRID_MODES = ("one digit per row (0-9)", "all one digit", "random digits")
INTERPOLATION_METHODS = ("slerp", "lerp")
DIGIT_SCALE = 10               # one digit: 28 px -> 280 px
GIF_SCALE = 6                  # interpolation GIF frames: 28 px -> 168 px
TARGET_SIDE = 1000             # grids and strips are upscaled by a whole factor up to this size
MAX_SCALE = 10
PNG_COMPRESS_LEVEL = 1         # zlib level: 3x faster than PIL's default 6 for ~25% larger files
STRIP_COLUMNS = 16             # the interpolation strip wraps after this many frames
MAKE_WEIGHTS_COMMAND = "python train.py --data-dir DIR --export-dir {folder}"
SOFTWARE = "DigitGAN"


# ----------------------------------------------------------------------------- input rules

def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def as_int(value: object, name: str, minimum: int, maximum: int) -> int:
    """A whole number in minimum..maximum. Integral floats (3.0, as JSON may send them) are
    accepted; bools, fractions, NaN, inf, strings and None are refused."""
    if not _is_bool(value):
        if isinstance(value, numbers.Integral):
            number = int(value)
        elif isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer():
            number = int(value)
        else:
            number = None
        if number is not None and minimum <= number <= maximum:
            return number
    raise ValueError(f"{name} must be a whole number from {minimum} to {maximum}, got {value!r}")


def as_digit(value: object, name: str = "digit", num_classes: int = 10) -> int:
    return as_int(value, name, 0, num_classes - 1)


def as_seed(value: object, name: str = "seed") -> int:
    return as_int(value, name, 0, MAX_SEED)


def as_truncation(value: object) -> float:
    """Truncation psi: a finite number in 0..1 (1 = no truncation)."""
    if not _is_bool(value) and isinstance(value, numbers.Real):
        value = float(value)
    try:
        return validate_truncation(value)
    except ValueError:
        raise ValueError(f"truncation_psi must be a number from 0 to {MAX_TRUNCATION:g} "
                         f"(1 = no truncation), got {value!r}") from None


def as_choice(value: object, name: str, choices: Sequence[str]) -> str:
    if isinstance(value, str) and value in choices:
        return value
    listed = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{name} must be one of {listed}, got {value!r}")


def random_seed() -> int:
    """A fresh seed from the OS's entropy source (leaves every seeded RNG alone)."""
    return secrets.randbelow(MAX_SEED + 1)


# ----------------------------------------------------------------------------- the served model

def file_stamp(folder: Path) -> tuple:
    """What identifies the files on disk without reading them: (inode, size, mtime) of the
    config and the weights. An atomic rename always changes the inode."""
    stamp = []
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        try:
            st = os.stat(folder / name)
            stamp.append((name, st.st_ino, st.st_size, st.st_mtime_ns))
        except OSError:
            stamp.append((name, None))
    return tuple(stamp)


@dataclass(frozen=True)
class LoadedModel:
    """One loaded generator and where it came from. Immutable: requests keep a reference."""
    generator: Generator = field(repr=False)
    fingerprint: str            # short sha256 of model.safetensors
    folder: Path | None         # None for an in-memory generator
    stamp: tuple = ()
    loaded_at: float = field(default_factory=time.time)

    @property
    def config(self) -> ModelConfig:
        return self.generator.config


def load_model(folder: str | os.PathLike, *, device: torch.device | str = "cpu") -> LoadedModel:
    """Load and validate the weights in `folder`; WeightsError (with the train.py command
    that makes them, where that helps) if they are missing, broken or change mid-load."""
    folder = Path(folder)
    stamp = file_stamp(folder)
    try:
        generator = load_generator(folder, device=device)
    except WeightsError as exc:
        message = str(exc)
        if "--export-dir" not in message and any(len(s) == 2 for s in stamp):
            message += f" Make them with: {MAKE_WEIGHTS_COMMAND.format(folder=folder)}"
        raise WeightsError(message) from None
    try:
        fingerprint = weights_fingerprint(folder)
    except OSError as exc:
        raise WeightsError(f"{folder / WEIGHTS_NAME}: cannot be read ({exc})") from None
    if file_stamp(folder) != stamp:
        raise WeightsError(f"the weights in {folder} changed while they were being loaded "
                           "(is train.py writing new ones right now?); try again")
    return LoadedModel(generator, fingerprint, folder, stamp)


def in_memory_model(generator: Generator) -> LoadedModel:
    """Serve a generator that has no weights folder (demos, tests); it cannot be reloaded."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(generator.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return LoadedModel(generator.eval(), "mem-" + digest.hexdigest()[:8], None)


@dataclass(frozen=True)
class ReloadResult:
    changed: bool               # the served weights are different files now
    message: str
    model: LoadedModel = field(repr=False)


class ModelHolder:
    """The served model, swappable while requests run.

    `current()` is one attribute read: a request calls it once and keeps the reference, so
    it finishes on the model it started with. `reload()` loads the new weights completely
    and validates them before swapping; if that fails the old model keeps serving and the
    error says why. `reload_if_changed()` is the cheap automatic version (two stat calls).
    """

    def __init__(self, source: str | os.PathLike | Generator | LoadedModel, *,
                 device: torch.device | str = "cpu"):
        self.device = device
        if isinstance(source, LoadedModel):
            model = source
        elif isinstance(source, Generator):
            model = in_memory_model(source)
        else:
            model = load_model(source, device=device)
        self._model = model
        self._lock = threading.Lock()
        self._last_check = time.monotonic()
        self._failed_stamp: tuple | None = None
        self.last_error: str | None = None
        self.reloads = 0

    @property
    def folder(self) -> Path | None:
        return self._model.folder

    def current(self) -> LoadedModel:
        return self._model

    def _swap(self, folder: Path) -> ReloadResult:
        old = self._model
        try:
            new = load_model(folder, device=self.device)
        except WeightsError as exc:
            self.last_error = str(exc)
            raise WeightsError(f"New weights rejected, still serving {old.fingerprint}: {exc}") from None
        self._model = new
        self.reloads += 1
        self.last_error = None
        self._failed_stamp = None
        changed = new.fingerprint != old.fingerprint
        message = (f"Loaded weights {new.fingerprint} from {folder} (replacing {old.fingerprint})"
                   if changed else f"Reloaded {folder}: the weights are unchanged ({new.fingerprint})")
        log.info(message)
        return ReloadResult(changed, message, new)

    def reload(self) -> ReloadResult:
        """Load the weights folder again and swap; WeightsError (old model kept) if invalid."""
        folder = self._model.folder
        if folder is None:
            raise WeightsError("this app serves an in-memory generator; there is no weights "
                               "folder to reload from")
        with self._lock:
            self._last_check = time.monotonic()
            return self._swap(folder)

    def reload_if_changed(self, min_interval: float = 0.0) -> ReloadResult | None:
        """Reload if the weight files changed on disk since they were loaded.

        Checks at most once per `min_interval` seconds, never waits for a reload running in
        another thread, never raises: a failed load is logged, kept in `last_error`, and not
        retried until the files change again. Returns None when nothing was attempted.
        """
        folder = self._model.folder
        if folder is None or time.monotonic() - self._last_check < min_interval:
            return None
        if not self._lock.acquire(blocking=False):
            return None
        try:
            self._last_check = time.monotonic()
            stamp = file_stamp(folder)
            if stamp == self._model.stamp or stamp == self._failed_stamp:
                return None
            try:
                return self._swap(folder)
            except WeightsError as exc:
                self._failed_stamp = stamp
                log.warning("%s", exc)
                return ReloadResult(False, str(exc), self._model)
        finally:
            self._lock.release()


# ----------------------------------------------------------------------------- timing

class ServingStats:
    """Thread-safe durations by kind ("grid.model", "grid.encode", ...), for benchmarks."""

    def __init__(self, max_samples: int = 100_000):
        self._lock = threading.Lock()
        self._samples: dict[str, deque] = defaultdict(lambda: deque(maxlen=max_samples))
        self._totals: dict[str, float] = defaultdict(float)
        self._counts: dict[str, int] = defaultdict(int)

    def record(self, kind: str, seconds: float) -> None:
        with self._lock:
            self._samples[kind].append(seconds)
            self._totals[kind] += seconds
            self._counts[kind] += 1

    @contextlib.contextmanager
    def timed(self, kind: str) -> Iterator[None]:
        """Record how long the block took, if it succeeded (refused inputs are not timed)."""
        start = time.perf_counter()
        yield
        self.record(kind, time.perf_counter() - start)

    def reset(self) -> None:
        with self._lock:
            self._samples.clear()
            self._totals.clear()
            self._counts.clear()

    def snapshot(self) -> dict[str, dict[str, float]]:
        """{kind: {count, total_s, p50_ms, p95_ms}}."""
        with self._lock:
            items = {k: (list(v), self._totals[k], self._counts[k]) for k, v in self._samples.items()}
        out = {}
        for kind, (samples, total, count) in sorted(items.items()):
            array = np.asarray(samples) * 1000.0
            out[kind] = {"count": count, "total_s": total,
                         "p50_ms": float(np.percentile(array, 50)) if len(array) else math.nan,
                         "p95_ms": float(np.percentile(array, 95)) if len(array) else math.nan}
        return out


# ----------------------------------------------------------------------------- pictures

@dataclass(frozen=True)
class Picture:
    """A uint8 (H, W) image at display size, its provenance and a file-name stem."""
    pixels: np.ndarray
    metadata: dict[str, str]
    stem: str


def fit_scale(height: int, width: int, target: int = TARGET_SIDE) -> int:
    """The whole upscaling factor that brings the longer side closest to `target` from below."""
    return max(1, min(MAX_SCALE, target // max(height, width)))


def provenance(model: LoadedModel, **fields: object) -> dict[str, str]:
    meta = {"Software": SOFTWARE}
    meta.update({k: _text(v) for k, v in fields.items()})
    meta["weights_sha256"] = model.fingerprint
    return meta


def _text(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


def grid_cells(rows: int, cols: int, seed: int, mode: str, digit: int) -> tuple[list[int], list[int]]:
    """The (digits, seeds) of a grid, row-major.

    - one digit per row (0-9): row r shows digit r % 10; column c uses seed `seed + c`, so
      every row shares the same latents (same style, different digit). Rows 10-15 move on to
      the next block of seeds.
    - all one digit: `digit` everywhere, seeds seed, seed+1, ...
    - random digits: digits drawn by a private RNG seeded with `seed`, seeds seed, seed+1, ...
    Seeds wrap around past 2**32-1.
    """
    n = rows * cols
    if mode == GRID_MODES[0]:
        digits = [r % 10 for r in range(rows) for _ in range(cols)]
        seeds = [seed + (r // 10) * cols + c for r in range(rows) for c in range(cols)]
    elif mode == GRID_MODES[1]:
        digits, seeds = [digit] * n, [seed + i for i in range(n)]
    else:
        digits = np.random.default_rng(seed).integers(0, 10, size=n).tolist()
        seeds = [seed + i for i in range(n)]
    return digits, [s % (MAX_SEED + 1) for s in seeds]


def render_digit(model: LoadedModel, digit: int, seed: int, truncation_psi: float = 1.0, *,
                 stats: ServingStats | None = None) -> Picture:
    stats = stats or _NO_STATS
    with stats.timed("generate.model"):
        image = model.generator.generate([digit], [seed], truncation_psi=truncation_psi)[0].numpy()
    meta = provenance(model, digit=digit, seed=seed, truncation_psi=truncation_psi, scale=DIGIT_SCALE,
                      Description=f"digit {digit}, seed {seed}, truncation psi {truncation_psi}")
    return Picture(upscale(image, DIGIT_SCALE), meta,
                   f"digit{digit}_seed{seed}_psi{truncation_psi:g}_{model.fingerprint[:8]}")


def render_grid(model: LoadedModel, rows: int, cols: int, seed: int, mode: str, digit: int,
                truncation_psi: float = 1.0, *, stats: ServingStats | None = None) -> Picture:
    stats = stats or _NO_STATS
    digits, seeds = grid_cells(rows, cols, seed, mode, digit)
    with stats.timed("grid.model"):
        images = model.generator.generate(digits, seeds, truncation_psi=truncation_psi)
    grid = make_grid(images, rows=rows, cols=cols)
    scale = fit_scale(*grid.shape)
    meta = provenance(model, rows=rows, cols=cols, mode=mode, seed=seed,
                      **({"digit": digit} if mode == GRID_MODES[1] else {}),
                      truncation_psi=truncation_psi, digits=digits, seeds=seeds, scale=scale,
                      layout=f"{rows}x{cols} cells of 28x28 px with 2 px padding, row-major",
                      Description=f"{rows}x{cols} grid, {mode}, base seed {seed}, "
                                  f"truncation psi {truncation_psi}")
    return Picture(upscale(grid, scale), meta,
                   f"grid{rows}x{cols}_seed{seed}_psi{truncation_psi:g}_{model.fingerprint[:8]}")


def render_interpolation(model: LoadedModel, digit_a: int, seed_a: int, digit_b: int, seed_b: int,
                         steps: int, method: str = "slerp", truncation_psi: float = 1.0, *,
                         stats: ServingStats | None = None) -> tuple[Picture, np.ndarray]:
    """(a strip of the frames with provenance, the raw frames (steps, 28, 28))."""
    stats = stats or _NO_STATS
    with stats.timed("interpolate.model"):
        frames = model.generator.interpolate(digit_a=digit_a, seed_a=seed_a, digit_b=digit_b,
                                             seed_b=seed_b, steps=steps, method=method,
                                             truncation_psi=truncation_psi).numpy()
    cols = min(steps, STRIP_COLUMNS)
    strip = make_grid(frames, rows=math.ceil(steps / cols), cols=cols)
    scale = fit_scale(*strip.shape)
    meta = provenance(model, digit_a=digit_a, seed_a=seed_a, digit_b=digit_b, seed_b=seed_b,
                      digits=[digit_a, digit_b], seeds=[seed_a, seed_b], steps=steps, method=method,
                      truncation_psi=truncation_psi, scale=scale,
                      Description=f"{method} from digit {digit_a} seed {seed_a} to digit {digit_b} "
                                  f"seed {seed_b} in {steps} steps, truncation psi {truncation_psi}")
    stem = (f"morph{digit_a}s{seed_a}-{digit_b}s{seed_b}_{method}{steps}_psi{truncation_psi:g}_"
            f"{model.fingerprint[:8]}")
    return Picture(upscale(strip, scale), meta, stem), frames


def encode_png(pixels: np.ndarray, metadata: Mapping[str, object]) -> bytes:
    return png_bytes(pixels, metadata=metadata, compress_level=PNG_COMPRESS_LEVEL)


def gif_frame_ms(steps: int) -> int:
    """About 1.5 s per pass whatever the number of frames, within 40..150 ms a frame."""
    return max(40, min(150, 1500 // steps))


class _NoStats(ServingStats):
    def record(self, kind: str, seconds: float) -> None:
        pass


_NO_STATS = _NoStats()


# ----------------------------------------------------------------------------- output files

class OutputFolder:
    """Unique files in a private temp folder. Files older than `keep_s` are pruned now and
    then (a web server copies what it serves right after the request)."""

    def __init__(self, folder: str | os.PathLike | None = None, *, keep_s: float = 900.0,
                 prune_every_s: float = 60.0):
        if folder is None:
            folder = tempfile.mkdtemp(prefix="digitgan-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
        self.path = Path(folder)
        self.path.mkdir(parents=True, exist_ok=True)
        self.keep_s, self.prune_every_s = keep_s, prune_every_s
        self._lock = threading.Lock()
        self._last_prune = time.monotonic()

    def write(self, stem: str, suffix: str, data: bytes) -> Path:
        # a fresh name every time: concurrent requests never share (or overwrite) a file
        path = self.path / f"{stem}_{uuid.uuid4().hex[:10]}{suffix}"
        tmp = path.with_name("." + path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        self._maybe_prune()
        return path

    def _maybe_prune(self) -> None:
        now = time.monotonic()
        if now - self._last_prune < self.prune_every_s or not self._lock.acquire(blocking=False):
            return
        try:
            self._last_prune = now
            cutoff = time.time() - self.keep_s
            with os.scandir(self.path) as entries:
                for entry in entries:
                    with contextlib.suppress(OSError):
                        if entry.is_file() and entry.stat().st_mtime < cutoff:
                            os.unlink(entry.path)
        finally:
            self._lock.release()

    def cleanup(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


# ----------------------------------------------------------------------------- the service

class DigitService:
    """The app's operations on top of a ModelHolder: validated inputs, files out.

    `auto_reload_s`: before a request, check at most this often whether the weight files
    changed and swap them in (None: only on explicit reload()).
    """

    def __init__(self, holder: ModelHolder, *, output: OutputFolder | None = None,
                 stats: ServingStats | None = None, auto_reload_s: float | None = 5.0):
        self.holder = holder
        self.output = output or OutputFolder()
        self.stats = stats or ServingStats()
        self.auto_reload_s = auto_reload_s

    def model(self) -> LoadedModel:
        if self.auto_reload_s is not None:
            self.holder.reload_if_changed(self.auto_reload_s)
        return self.holder.current()

    def _png(self, kind: str, picture: Picture) -> Path:
        with self.stats.timed(f"{kind}.encode"):
            data = encode_png(picture.pixels, picture.metadata)
        with self.stats.timed(f"{kind}.write"):
            return self.output.write(picture.stem, ".png", data)

    def generate(self, digit: object, seed: object, truncation_psi: object = 1.0) -> Path:
        """One digit as a PNG (280x280, nearest-neighbour upscaled) with provenance."""
        with self.stats.timed("generate.handler"):
            model = self.model()
            digit = as_digit(digit, num_classes=model.config.num_classes)
            seed, psi = as_seed(seed), as_truncation(truncation_psi)
            return self._png("generate", render_digit(model, digit, seed, psi, stats=self.stats))

    def grid(self, rows: object, cols: object, seed: object, mode: object = GRID_MODES[0],
             digit: object = 0, truncation_psi: object = 1.0) -> Path:
        """A rows x cols grid as a PNG with provenance (see `grid_cells` for the modes)."""
        with self.stats.timed("grid.handler"):
            model = self.model()
            rows, cols = as_int(rows, "rows", 1, MAX_GRID), as_int(cols, "cols", 1, MAX_GRID)
            seed = as_seed(seed)
            mode = as_choice(mode, "mode", GRID_MODES)
            digit = as_digit(digit, num_classes=model.config.num_classes)
            psi = as_truncation(truncation_psi)
            return self._png("grid", render_grid(model, rows, cols, seed, mode, digit, psi,
                                                 stats=self.stats))

    def interpolate(self, digit_a: object, seed_a: object, digit_b: object, seed_b: object,
                    steps: object = 12, method: object = "slerp",
                    truncation_psi: object = 1.0) -> tuple[Path, Path]:
        """(PNG strip of the frames, animated GIF playing A -> B -> A)."""
        with self.stats.timed("interpolate.handler"):
            model = self.model()
            n = model.config.num_classes
            digit_a, seed_a = as_digit(digit_a, "digit_a", n), as_seed(seed_a, "seed_a")
            digit_b, seed_b = as_digit(digit_b, "digit_b", n), as_seed(seed_b, "seed_b")
            steps = as_int(steps, "steps", 2, MAX_STEPS)
            method = as_choice(method, "method", INTERPOLATION_METHODS)
            psi = as_truncation(truncation_psi)
            strip, frames = render_interpolation(model, digit_a, seed_a, digit_b, seed_b, steps,
                                                 method, psi, stats=self.stats)
            strip_path = self._png("interpolate", strip)
            with self.stats.timed("interpolate.encode"):
                gif = gif_bytes([upscale(f, GIF_SCALE) for f in frames],
                                duration_ms=gif_frame_ms(steps), bounce=True,
                                comment=json.dumps(strip.metadata, sort_keys=True))
            return strip_path, self.output.write(strip.stem, ".gif", gif)

    def reload(self) -> str:
        """Reload the weights folder now; WeightsError (a ValueError) if the new weights are
        invalid, in which case the old model keeps serving."""
        return self.holder.reload().message

    def model_card(self) -> ModelCard:
        model = self.model()
        return build_model_card(model, self.output, last_error=self.holder.last_error)

    def how_it_works(self) -> str:
        return how_it_works_markdown(self.model())
