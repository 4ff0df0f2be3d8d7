"""The CUDA training step: no host sync between log steps, DistributedDataParallel over NCCL.

Skipped without a CUDA GPU; `python3 -m tests.support.cuda_checks` runs these without pytest (see there).
"""
import contextlib
import copy
import inspect

import torch

from gan.config import ModelConfig
from gan.data import ClassGroupedBatches, make_synthetic_digits
from gan.model.networks import MBSTD_GROUP
from gan.training.loop import ema_beta_at, train, update_ema
from gan.training.losses import gan_step
from tests.support.cuda_checks import (  # noqa: F401 (one_cpu_thread: autouse)
    bf16_autocast,
    fixed_batch,
    fresh_models,
    one_cpu_thread,
    pytest,
    quiet_train,
    require_cuda,
    skip,
    tiny_config,
)

if pytest is not None:
    pytestmark = pytest.mark.cuda


# ----------------------------------------------------------------------------- host syncs

@contextlib.contextmanager
def sync_debug_errors():
    """Any operation that makes the host wait for the GPU raises inside this block."""
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        yield
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_training_step_body_does_not_wait_for_the_gpu(cuda_device):
    """The loop body of train(): batch draw, noise draw, gan_step (bf16), EMA update, loss sums."""
    device = require_cuda(cuda_device)
    config, n = ModelConfig(), 64
    images, labels = make_synthetic_digits(640, seed=0)
    batches = ClassGroupedBatches(images, labels, batch_size=n, group_size=MBSTD_GROUP, seed=0, device=device)
    noise = torch.Generator(device=device).manual_seed(1)
    G, D, opt_g, opt_d = fresh_models(config, device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    window = torch.zeros(2, device=device)
    autocast = bf16_autocast(device)

    def part(name: str, fn):
        try:
            return fn()
        except RuntimeError as exc:  # what sync debug mode raises
            raise AssertionError(f"{name} waits for the GPU: {exc}") from exc

    def step(i: int) -> None:
        real, real_labels = part("the batch draw (ClassGroupedBatches.next)", batches.next)
        z = part("the noise draw", lambda: torch.randn(n, config.z_dim, device=device, generator=noise))
        losses = part("gan_step", lambda: gan_step(G, D, D, opt_g, opt_d, real, real_labels, z, real_labels,
                                                   aux_weight=1.0, autocast=autocast))
        part("update_ema", lambda: update_ema(G_ema, G, ema_beta_at(i, 0.999)))
        part("the loss window", lambda: window.add_(torch.stack(losses)))

    for i in range(3):  # warm-up: cuDNN/cuBLAS handles, allocator pools, optimiser state
        step(i)
    with sync_debug_errors():
        for i in range(3, 8):
            step(i)
    assert torch.isfinite(window).all()


def test_training_loop_waits_for_the_gpu_only_at_log_steps(cuda_device, tmp_path):
    """train() itself, between log steps: nothing in the loop may wait for the GPU."""
    device = require_cuda(cuda_device)
    # the test hook must exist: without it this check would pass without looking at the loop
    assert "_after_step" in inspect.signature(train).parameters, "train() lost its _after_step hook"
    steps = 12
    cfg = tiny_config(tmp_path, device=str(device), model=ModelConfig(), batch_size=64, steps=steps,
                      log_every=steps, ckpt_every=steps, sample_every=steps)
    state = {"mode": None}

    def after_step(step: int) -> None:
        # steps 3..steps-1 and the body of the last step run with sync errors on; the last
        # step's log line, checkpoint and pictures (which must sync) run with them off again
        if step == 2:
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error")
            state["mode"] = "error"
        elif step == steps:
            torch.cuda.set_sync_debug_mode("default")
            state["mode"] = "default"

    try:
        result, _ = quiet_train(cfg, _after_step=after_step)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert state["mode"] == "default" and result.step == steps


# ----------------------------------------------------------------------------- DDP

def test_ddp_over_nccl_trains_like_the_plain_step(cuda_device, tmp_path):
    """One process, world size 1: NCCL's all-reduce is then the identity, so the DDP-wrapped
    step must give the plain step's losses (on the CPU stand-in: gloo)."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    device = torch.device(cuda_device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if backend == "nccl" and not dist.is_nccl_available():
        skip("this torch has no NCCL")
    if dist.is_initialized():
        skip("a process group is already set up in this process")
    config, n = ModelConfig(), 64
    real, labels, z = fixed_batch(n, config.z_dim, device)
    autocast = bf16_autocast(device) if device.type == "cuda" else contextlib.nullcontext
    dist.init_process_group(backend, init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        G, D, opt_g, opt_d = fresh_models(config, device)
        G_plain, D_plain, opt_g_plain, opt_d_plain = fresh_models(config, device)
        ids = [device.index or 0] if device.type == "cuda" else None
        G_ddp, D_ddp = DDP(G, device_ids=ids), DDP(D, device_ids=ids)
        for i in range(3):
            ddp_losses = gan_step(G_ddp, D_ddp, D, opt_g, opt_d, real, labels, z, labels,
                                  aux_weight=1.0, autocast=autocast)
            plain_losses = gan_step(G_plain, D_plain, D_plain, opt_g_plain, opt_d_plain, real, labels, z,
                                    labels, aux_weight=1.0, autocast=autocast)
            for a, b in zip(ddp_losses, plain_losses):
                assert torch.isfinite(a), f"step {i}: {float(a)}"
                # step 0 starts from equal weights; later steps may differ by the order of
                # atomic adds in cuDNN's backward passes
                assert torch.isclose(a, b, rtol=1e-5 if i == 0 else 1e-3, atol=1e-5), (i, float(a), float(b))
    finally:
        dist.destroy_process_group()
