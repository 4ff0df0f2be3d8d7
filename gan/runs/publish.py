"""A run's weights to the Hugging Face Hub: its EMA generator (latest checkpoint) exported to a
temporary folder and uploaded with a model card (gan.model.hub), the Train tab's Push to Hub."""
from __future__ import annotations

import shlex
import tempfile
from pathlib import Path

from ..model.hub import check_repo_id, push_weights_to_hub
from ..training.run_folder import CHECKPOINT_FILE, export_from_checkpoint


def as_repo_id(value: object) -> str:
    """A Hub model repo id ("owner/name") from a page or a client; ValueError saying why if not."""
    if not isinstance(value, str):
        raise ValueError(f"repo must be a Hub model repo owner/name, got {value!r}")
    return check_repo_id(value)


def push_run(run_dir: Path, repo_id: str, *, token: str | None, scratch_root: Path) -> str:
    """Export `run_dir`'s EMA generator to a temporary folder under `scratch_root` (deleted
    after) and upload it to `repo_id`; returns the commit URL. ValueError when the run has no
    checkpoint yet or the Hub refuses."""
    if not (run_dir / CHECKPOINT_FILE).is_file():
        raise ValueError(f"run {run_dir.name!r} has no checkpoint yet: nothing to push")
    scratch_root.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="push-", dir=scratch_root) as folder:
        # provenance: the command line that makes the same upload
        command = shlex.join(["python", "train.py", "--export", run_dir.name, "--push-to-hub", repo_id])
        export_from_checkpoint(run_dir, folder, command=command)
        try:
            return push_weights_to_hub(folder, repo_id, token=token, command=command)
        except Exception as exc:  # the Hub's refusals come in many types
            raise ValueError(f"could not push run {run_dir.name!r} to {repo_id}: {exc}") from exc
