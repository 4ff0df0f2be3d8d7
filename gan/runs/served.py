"""Which weights the app serves, as far as the Train tab is concerned: a run's EMA generator
goes to a fresh folder, is validated, and is swapped in by the app's own hot swap (injected
as `serve(folder) -> message`); the folder served before is kept, so that revert() brings it
back."""
from __future__ import annotations

import os
import secrets
import shlex
import shutil
import time
from pathlib import Path
from typing import Callable

from ..model.weights import load_generator
from ..training.run_folder import CHECKPOINT_FILE, export_from_checkpoint


class ServedWeights:
    """The served weights folder, the one before it, and the exports made for serving.

    Exports go to `served_root/<run>-<time>-<random>`; of those this object made, all but the
    current and the previous folder are deleted after each swap (disk on a Space is small).
    Nothing else under served_root, and nothing outside it, is ever deleted.
    """

    def __init__(self, serve: Callable[[Path], str], *, served_root: str | os.PathLike,
                 current: str | os.PathLike | None = None):
        self._serve = serve
        self.served_root = Path(served_root).resolve()
        self.current: Path | None = Path(current).resolve() if current is not None else None
        self.previous: Path | None = None
        self._made: list[Path] = []

    def serve_run(self, run_dir: Path) -> str:
        """Export run_dir's latest checkpoint, validate it, swap it in; ValueError on failure
        (the app keeps serving what it served)."""
        if not (run_dir / CHECKPOINT_FILE).is_file():
            raise ValueError(f"run {run_dir.name!r} has no checkpoint yet: nothing to serve")
        folder = self.served_root / f"{run_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"
        # provenance: the command line that makes the same folder
        command = shlex.join(["python", "train.py", "--export", str(run_dir), "--export-dir", str(folder)])
        self._made.append(folder)
        try:
            export_from_checkpoint(run_dir, folder, command=command)
            load_generator(folder)  # refuse a broken export before the app sees it
            message = self._serve(folder)
        except Exception as exc:
            self._delete(folder)
            raise ValueError(f"could not serve run {run_dir.name!r}: {exc}") from exc
        except BaseException:
            self._delete(folder)
            raise
        self.previous, self.current = self.current, folder
        self._prune()
        return message

    def revert(self) -> str:
        if self.previous is None:
            raise ValueError("nothing to revert to: no run's weights have been served yet")
        try:
            message = self._serve(self.previous)
        except Exception as exc:
            raise ValueError(f"could not serve {self.previous.name!r} again: {exc}") from exc
        self.previous, self.current = self.current, self.previous
        return message

    def _delete(self, folder: Path) -> None:
        if folder in self._made and folder.parent == self.served_root and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            self._made.remove(folder)

    def _prune(self) -> None:
        for folder in list(self._made):
            if folder not in (self.current, self.previous):
                self._delete(folder)
