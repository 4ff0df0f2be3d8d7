"""Where and how torch runs: device choice and CPU thread settings."""
from __future__ import annotations

import contextlib
import os

import torch


def select_device(name: str = "auto") -> torch.device:
    if name != "auto":
        try:
            device = torch.device(name)
        except RuntimeError as exc:
            raise ValueError(f"--device {name!r} is not a torch device (try cpu, cuda, cuda:1, mps)") from exc
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {name}: CUDA is not available on this machine")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"--device {name}: MPS is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def configure_cpu_threads(threads: int = 0) -> int:
    """One intra-op thread per core, one inter-op thread.

    The small convolutions here parallelise well over 2-8 cores; more threads than cores
    (or extra inter-op threads) only spin and fight for the same cores.
    """
    if threads <= 0:
        threads = usable_cores()
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # may only be set before the first parallel op
        torch.set_num_interop_threads(1)
    return threads
