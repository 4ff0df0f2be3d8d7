"""DistributedDataParallel when launched by torchrun; a do-nothing stand-in otherwise."""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn


@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False      # started by torchrun: DDP even with one process

    @property
    def enabled(self) -> bool:
        return self.launched

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device_name: str) -> torch.device | None:
        """This rank's GPU under DDP on CUDA; None where the usual device choice applies."""
        if self.enabled and torch.cuda.is_available() and device_name in ("auto", "cuda"):
            return torch.device("cuda", self.local_rank)
        return None

    def wrap(self, module: nn.Module, device: torch.device) -> nn.Module:
        if not self.enabled:
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP

        return DDP(module, device_ids=[device.index] if device.type == "cuda" else None)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device_name: str) -> Dist:
    """Set up DDP when launched by torchrun (RANK/WORLD_SIZE in the environment), also for a
    single process, so that `torchrun --nproc_per_node=1` runs the real DDP path."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Dist()
    world_size = int(os.environ["WORLD_SIZE"])
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Dist(rank, world_size, local_rank, launched=True)


def agree(ddp: Dist, flag: bool, device: torch.device) -> bool:
    """True on every rank if it is true on any (a collective: every rank must call it)."""
    if not ddp.enabled:
        return flag
    tensor = torch.tensor([float(flag)], device=device)
    dist.all_reduce(tensor)
    return bool(tensor.item())


def gather_objects(ddp: Dist, obj: object) -> list:
    """Every rank's `obj`, in rank order (a collective under DDP)."""
    if not ddp.enabled:
        return [obj]
    gathered: list = [None] * ddp.world_size
    dist.all_gather_object(gathered, obj)
    return gathered
