"""Files the user owns are never left half-written: temp file beside the target, fsync,
rename. Plus the app's private output folder of unique, short-lived files."""
from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it is to set it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _make_temp(folder: Path, name: str) -> tuple[int, str]:
    """A temp file beside the target (same file system, so the rename is atomic), with the
    permissions a plain open() would give instead of mkstemp's owner-only 0600."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.chmod(tmp, 0o666 & ~_UMASK)
    return fd, tmp


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = True) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never half.

    `fsync=False` skips the flush to disk: for throw-away files (the app's outputs) whose
    loss in a power cut does not matter, where the fsync would only add latency.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _make_temp(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


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
        atomic_write_bytes(path, data, fsync=False)
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
