"""What tests need to start processes: the repository's root, the environment of a
subprocess, and the flags of a tiny `train.py` run.

    from tests.support.processes import REPO_ROOT, TINY_TRAIN_FLAGS, core_env
"""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]

# Tests never reach the internet: no Gradio telemetry or version check, no Hugging Face Hub
# telemetry, the Hub offline (its cache only). tests/conftest.py sets these in the test
# process before gradio or huggingface_hub is imported, and core_env in every subprocess's.
OFFLINE_ENV = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}

TINY_TRAIN_FLAGS = ["--synthetic-size", "64", "--batch-size", "8", "--g-width", "8", "--d-width", "8",
                    "--metrics-every", "0", "--no-evaluate", "--no-directions", "--no-progress",
                    "--device", "cpu", "--threads", "1"]


def core_env() -> dict[str, str]:
    """The environment of a subprocess a test starts: this one's, with the repository
    importable, one OpenMP thread, unbuffered output, offline, and no MNIST folder."""
    env = dict(os.environ)
    env.pop("DIGITGAN_DATA_DIR", None)
    env.update(OFFLINE_ENV)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    return env
