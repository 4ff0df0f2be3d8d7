"""What a GPU run ran on: `python -m benchmarks.gpu_env OUT.json`.

Prints and writes the GPU, driver, CUDA, cuDNN, NCCL, torch and package versions, and checks
that the training code imports without Gradio (the GPU host has none).
"""
from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import torch

PACKAGES = ["torchvision", "safetensors", "tqdm", "matplotlib", "numpy", "pillow", "pytest", "pytest-timeout",
            "gradio"]


def package_versions() -> dict[str, str | None]:
    """Installed versions, read from package metadata (importing Gradio would be slow)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def nvidia_smi() -> dict[str, str] | None:
    """Driver version and GPU as nvidia-smi reports them (None without nvidia-smi)."""
    if shutil.which("nvidia-smi") is None:
        return None
    fields = ["name", "driver_version", "memory.total", "power.limit", "clocks.max.sm", "pstate"]
    done = subprocess.run(["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        return {"error": done.stderr.strip()}
    return dict(zip(fields, (v.strip() for v in done.stdout.splitlines()[0].split(","))))


def cuda_facts() -> dict[str, object]:
    if not torch.cuda.is_available():
        return {"available": False}
    props = torch.cuda.get_device_properties(0)
    return {"available": True, "device_count": torch.cuda.device_count(), "name": props.name,
            "capability": f"{props.major}.{props.minor}", "memory_gib": round(props.total_memory / 2**30, 1),
            "multiprocessors": props.multi_processor_count, "cuda_runtime": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "bf16": torch.cuda.is_bf16_supported(),
            "nccl": nccl_version()}


def nccl_version() -> str | None:
    try:
        import torch.cuda.nccl as nccl

        return ".".join(map(str, nccl.version()))
    except (ImportError, RuntimeError, AttributeError):
        return None


def training_imports_without_gradio() -> bool:
    """gan's training, evaluation and CLI modules must not pull Gradio in."""
    for name in ("gan.training.loop", "gan.measure.evaluation", "gan.evaluate", "train"):
        importlib.import_module(name)
    return "gradio" not in sys.modules


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    without_gradio = training_imports_without_gradio()  # first: nothing has imported anything yet
    facts = {"python": platform.python_version(), "torch": torch.__version__, "cuda": cuda_facts(),
             "nvidia_smi": nvidia_smi(), "packages": package_versions(),
             "cpu_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
             "training_imports_without_gradio": without_gradio}
    print(json.dumps(facts, indent=2))
    if argv:
        Path(argv[0]).write_text(json.dumps(facts, indent=2) + "\n")
    return 0 if facts["training_imports_without_gradio"] else 1


if __name__ == "__main__":
    sys.exit(main())
