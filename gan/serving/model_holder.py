"""The served model: loading with fingerprints, and swapping it while requests run.

    holder = ModelHolder("weights")     # loads now; WeightsError if it cannot
    model = holder.current()            # a request keeps this one reference to the end
    holder.reload()                     # the same folder again (old model kept on failure)
    holder.serve("runs/x/export")       # another folder, same checks, same atomic swap
    ModelHolder("hf://owner/name@v1")   # a Hub model repo, fetched and validated alike
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import ModelConfig
from ..model.hub import is_hub_ref, resolve_weights
from ..model.networks import Generator
from ..model.weights import CONFIG_FILE, WEIGHTS_FILE, WeightsError, load_generator, weights_fingerprint

log = logging.getLogger(__name__)


def file_stamp(folder: Path) -> tuple:
    """What identifies the files on disk without reading them: (inode, size, mtime) of the
    config and the weights. An atomic rename always changes the inode."""
    stamp = []
    for name in (CONFIG_FILE, WEIGHTS_FILE):
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
    hub_ref: str | None = None  # "hf://owner/name@<commit>" when it came from the Hub

    @property
    def config(self) -> ModelConfig:
        return self.generator.config


def load_model(source: str | os.PathLike, *, device: torch.device | str = "cpu") -> LoadedModel:
    """Load and validate the weights in a folder or a Hub repo (`hf://owner/name[@revision]`);
    WeightsError if they are missing, broken or change mid-load."""
    folder, hub_ref = resolve_weights(source)
    stamp = file_stamp(folder)
    generator = load_generator(folder, device=device)
    try:
        fingerprint = weights_fingerprint(folder)
    except OSError as exc:
        raise WeightsError(f"{folder / WEIGHTS_FILE}: cannot be read ({exc})") from None
    if file_stamp(folder) != stamp:
        raise WeightsError(f"the weights in {folder} changed while they were being loaded "
                           "(is train.py writing new ones right now?); try again")
    return LoadedModel(generator, fingerprint, folder, stamp, hub_ref=hub_ref)


def in_memory_model(generator: Generator) -> LoadedModel:
    """Serve a generator that has no weights folder (demos, tests); it cannot be reloaded."""
    digest = hashlib.sha256()
    for name, tensor in sorted(generator.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return LoadedModel(generator.eval(), "mem-" + digest.hexdigest()[:8], None)


@dataclass(frozen=True)
class ReloadResult:
    changed: bool               # the served weights are different files now
    message: str


class ModelHolder:
    """The served model, swappable while requests run.

    `current()` is one attribute read: a request calls it once and keeps the reference, so
    it finishes on the model it started with. `reload()` and `serve()` load the new weights
    completely and validate them before swapping; if that fails the old model keeps serving
    and the error says why. `reload_if_changed()` is the cheap automatic version (two stat
    calls).
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
        # what reload() loads again: a Hub reference as given is resolved anew (a branch may
        # have moved); a folder is read again
        given_ref = isinstance(source, str) and is_hub_ref(source)
        self._source: str | Path | None = source if given_ref else (model.hub_ref or model.folder)
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

    def _swap(self, source: str | Path) -> ReloadResult:
        old = self._model
        try:
            new = load_model(source, device=self.device)
        except WeightsError as exc:
            self.last_error = str(exc)
            raise WeightsError(f"New weights rejected, still serving {old.fingerprint}: {exc}",
                               hint=exc.hint) from None
        self._model = new
        self.reloads += 1
        self.last_error = None
        self._failed_stamp = None
        self._source = source
        changed = new.fingerprint != old.fingerprint
        where = new.hub_ref or new.folder
        message = (f"Loaded weights {new.fingerprint} from {where} (replacing {old.fingerprint})"
                   if changed else f"Reloaded {where}: the weights are unchanged ({new.fingerprint})")
        log.info(message)
        return ReloadResult(changed, message)

    def reload(self) -> ReloadResult:
        """Load the weights folder (or Hub repo) again and swap; WeightsError (old model kept)
        if invalid."""
        if self._source is None:
            raise WeightsError("this app serves an in-memory generator; there is no weights "
                               "folder to reload from")
        with self._lock:
            self._last_check = time.monotonic()
            return self._swap(self._source)

    def serve(self, source: str | os.PathLike) -> ReloadResult:
        """Serve the weights in another folder (or Hub repo) from now on (reloads then read
        it); WeightsError (old model kept) if they are invalid."""
        with self._lock:
            self._last_check = time.monotonic()
            return self._swap(source if is_hub_ref(source) else Path(source))

    def reload_if_changed(self, min_interval: float = 0.0) -> ReloadResult | None:
        """Reload if the weight files changed on disk since they were loaded.

        Checks at most once per `min_interval` seconds, never waits for a reload running in
        another thread, never raises: a failed load is logged, kept in `last_error`, and not
        retried until the files change again. Returns None when nothing was attempted.
        """
        folder = self._model.folder
        if folder is None or self._model.hub_ref or time.monotonic() - self._last_check < min_interval:
            return None  # a Hub snapshot never changes: Reload asks the Hub again
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
                return ReloadResult(False, str(exc))
        finally:
            self._lock.release()
