"""Shared pieces of the CUDA checks (tests/training/test_cuda*.py), and their runner without pytest.

    python -m pytest -m cuda tests/training/test_cuda.py tests/training/test_cuda_sync.py  # skipped without a GPU
    python3 -m tests.support.cuda_checks [--device cuda] [-k NAME]   # the same, no pytest (from the repo root)

The second form is for a GPU host without pytest (benchmarks/gpu.sh uses it there).
`--device cpu` runs every check with the CPU standing in for the GPU (the checks that only
mean something on CUDA skip), which shows that the checks themselves work without a GPU.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import shutil
import sys
import tempfile
import traceback
from pathlib import Path

import torch

from gan.config import ModelConfig, TrainConfig
from gan.model.networks import MBSTD_GROUP, Discriminator, Generator
from gan.training.loop import train

try:
    import pytest
except ModuleNotFoundError:  # a bare GPU host: run_checks below stands in for pytest
    pytest = None

CHECK_MODULES = ["tests.training.test_cuda", "tests.training.test_cuda_sync"]


class CheckSkipped(Exception):
    """A check that does not apply here (raised as pytest's skip when pytest runs it)."""


def skip(reason: str) -> None:
    if pytest is not None:
        pytest.skip(reason)
    raise CheckSkipped(reason)


def cuda_device() -> str:
    """The device under test (a pytest fixture when pytest is there; the runner passes it)."""
    if not torch.cuda.is_available():
        skip("needs a CUDA GPU")
    return "cuda"


def one_cpu_thread():
    """The CPU halves of these checks are tiny; train() on the CPU also sets threads=1."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


if pytest is not None:
    cuda_device = pytest.fixture(cuda_device)
    one_cpu_thread = pytest.fixture(autouse=True)(one_cpu_thread)


def require_cuda(device: str) -> torch.device:
    if torch.device(device).type != "cuda":
        skip("torch.cuda.set_sync_debug_mode needs CUDA")
    return torch.device(device)


def tiny_config(tmp_path: Path, *, device: str, **overrides) -> TrainConfig:
    """A few steps of an 8-channel model on 64 synthetic digits (tests/conftest.py's
    core_train_config, with the device as a choice)."""
    values = dict(model=ModelConfig(g_width=8, d_width=8), synthetic_size=64,
                  run_dir=str(tmp_path / "run"), export_dir=None, steps=8, batch_size=8,
                  seed=0, device=device, threads=1, log_every=2, sample_every=1000,
                  metrics_every=0, ckpt_every=1000)
    values.update(overrides)
    return TrainConfig(**values)


def bf16_autocast(device: torch.device):
    return lambda: torch.autocast(device.type, dtype=torch.bfloat16)


def fresh_models(config: ModelConfig, device: torch.device, *, seed: int = 0):
    """G, D and their Adam optimisers as train() builds them, without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        G, D = Generator(config).to(device), Discriminator(config).to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    return G, D, opt_g, opt_d


def fixed_batch(n: int, z_dim: int, device: torch.device, *, seed: int = 0):
    """(real, labels, z): drawn on the CPU from a private generator, so every device sees the same."""
    rng = torch.Generator().manual_seed(seed)
    real = torch.rand(n, 1, 28, 28, generator=rng) * 2 - 1
    labels = torch.arange(n // MBSTD_GROUP).repeat_interleave(MBSTD_GROUP) % 10
    z = torch.randn(n, z_dim, generator=rng)
    return real.to(device), labels.to(device), z.to(device)


def quiet_train(cfg: TrainConfig, **kwargs):
    lines: list[str] = []
    return train(cfg, progress=False, log=lines.append, **kwargs), lines


def run_checks(argv: list[str] | None = None) -> int:
    """Run every test_* of CHECK_MODULES in order, printing PASS/FAIL/SKIP; exit status 1 on a failure."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="the device under test (default: cuda)")
    parser.add_argument("-k", dest="keyword", default="", help="only the checks whose name contains this")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    checks = [(name, fn) for module in CHECK_MODULES for name, fn in vars(importlib.import_module(module)).items()
              if name.startswith("test_") and callable(fn) and args.keyword in name]
    skipped_by = tuple(filter(None, [CheckSkipped, getattr(pytest, "skip", None) and pytest.skip.Exception]))
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    for name, fn in checks:
        folder = Path(tempfile.mkdtemp(prefix="digitgan-cuda-"))
        kwargs = {"cuda_device": args.device, "tmp_path": folder}
        outcome, detail = "PASS", ""
        try:
            if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
                skip("needs a CUDA GPU")
            fn(**{p: kwargs[p] for p in inspect.signature(fn).parameters})
        except skipped_by as exc:
            outcome, detail = "SKIP", str(exc)
        except Exception:  # noqa: BLE001 - a failed check is reported, and the others still run
            outcome, detail = "FAIL", traceback.format_exc()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        counts[outcome] += 1
        print(f"{outcome} {name}" + (f": {detail}" if outcome == "SKIP" else ""), flush=True)
        if outcome == "FAIL":
            print(detail, flush=True)
    print(f"{counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped (device {args.device})")
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    # through the module's importable name, so the checks and the runner share one CheckSkipped
    import tests.support.cuda_checks as cuda_checks

    sys.exit(cuda_checks.run_checks())
