"""Files the user owns are never left half-written: temp file beside the target, fsync,
rename. Plus the app's private output folder of unique, short-lived files, and the two reads
every module shares: a file's sha256 and a JSON file with an error that says what is wrong."""
from __future__ import annotations

import atexit
import contextlib
import hashlib
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


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes as 64 lower-case hex digits, read a MiB at a time."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class JsonFileError(ValueError):
    """A JSON file that is missing, unreadable, not JSON or not the expected kind of value.
    `str(error)` names the file and what is wrong; `reason` is what is wrong alone."""

    def __init__(self, path: Path, what: str, reason: str):
        super().__init__(f"{path}: {what} {reason}")
        self.path, self.what, self.reason = path, what, reason


_MISSING_RAISES = object()
_JSON_KINDS = {dict: "a JSON object", list: "a JSON array", str: "a string", bool: "true or false",
               int: "a number", float: "a number", type(None): "null"}


def read_json(path: str | os.PathLike, *, what: str = "the file", expect: type | None = dict,
              missing: Any = _MISSING_RAISES) -> Any:
    """The value in the JSON file `path`.

    `expect` is the type the value must have (None: any). A file that is not there gives
    `missing` when it is passed; otherwise, and for a file that cannot be read, is not JSON
    or holds another kind of value, `JsonFileError` (a ValueError) names the file, `what` it
    is (e.g. "the model config") and what is wrong.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        if missing is not _MISSING_RAISES:
            return missing
        raise JsonFileError(path, what, "is not there") from None
    except OSError as exc:
        raise JsonFileError(path, what, f"cannot be read ({exc})") from exc
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise JsonFileError(path, what, f"is not valid JSON (not UTF-8 text: {exc})") from exc
    except json.JSONDecodeError as exc:
        raise JsonFileError(path, what, f"is not valid JSON ({exc})") from exc
    if expect is not None and not isinstance(value, expect):
        kind = _JSON_KINDS.get(type(value), type(value).__name__)
        raise JsonFileError(path, what, f"holds {kind}, expected {_JSON_KINDS.get(expect, expect.__name__)}")
    return value


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
