"""What the training loop measures: wall time across resumes, and the loss window."""
from __future__ import annotations

import contextlib
import time

import torch


class RunClock:
    """Wall time of the run across resumes, and the part of it spent on pictures and
    metrics (overhead), so that training minutes exclude the time spent watching."""

    def __init__(self, elapsed_before: float = 0.0, overhead_before: float = 0.0):
        self.elapsed_before, self.overhead = elapsed_before, overhead_before
        self.start = time.perf_counter()

    @property
    def elapsed_s(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.start

    @property
    def training_s(self) -> float:
        return self.elapsed_s - self.overhead

    @contextlib.contextmanager
    def overhead_of(self):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.overhead += time.perf_counter() - start


class LossWindow:
    """(d_loss, g_loss) summed on the device since the last log line: reading them waits
    for the device, so that happens only every log_every steps."""

    def __init__(self, device: torch.device):
        self.sums = torch.zeros(2, device=device)
        self.steps, self.images, self.start = 0, 0, time.perf_counter()

    def add(self, d_loss: torch.Tensor, g_loss: torch.Tensor, images: int) -> None:
        self.sums += torch.stack([d_loss, g_loss])
        self.steps += 1
        self.images += images

    def close(self, step: int) -> dict:
        mean = (self.sums / max(self.steps, 1)).cpu()
        rate = self.images / max(time.perf_counter() - self.start, 1e-9)
        self.sums.zero_()
        self.steps, self.images, self.start = 0, 0, time.perf_counter()
        return {"step": step, "d_loss": float(mean[0]), "g_loss": float(mean[1]), "images_per_s": rate}
