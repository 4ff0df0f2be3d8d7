"""The CUDA path against the CPU: bf16 steps, seeds, checkpoints and exports across devices.

Skipped without a CUDA GPU; `python3 -m tests.support.cuda_checks` runs these without pytest (see there).
"""
from pathlib import Path

import torch

from gan.config import ModelConfig
from gan.model.sampling import latents_from_seeds
from gan.model.weights import load_generator
from gan.training.losses import gan_step
from tests.support.cuda_checks import (  # noqa: F401 (one_cpu_thread: autouse)
    bf16_autocast,
    fixed_batch,
    fresh_models,
    one_cpu_thread,
    pytest,
    quiet_train,
    skip,
    tiny_config,
)

if pytest is not None:
    pytestmark = pytest.mark.cuda

SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


# ----------------------------------------------------------------------------- bf16

def test_bf16_training_step_is_finite_and_close_to_fp32(cuda_device):
    device, config, n = torch.device(cuda_device), ModelConfig(), 64
    real, labels, z = fixed_batch(n, config.z_dim, device)
    autocast = bf16_autocast(device)
    G, D, opt_g, opt_d = fresh_models(config, device)
    with autocast():
        assert G(z, labels).dtype == torch.bfloat16  # the step really runs in bf16

    G32, D32, opt_g32, opt_d32 = fresh_models(config, device)  # the same weights, in fp32
    reference = gan_step(G32, D32, D32, opt_g32, opt_d32, real, labels, z, labels, aux_weight=1.0)
    first = gan_step(G, D, D, opt_g, opt_d, real, labels, z, labels, aux_weight=1.0, autocast=autocast)
    for bf16_loss, fp32_loss in zip(first, reference):
        assert torch.isclose(bf16_loss, fp32_loss, rtol=0.03), (float(bf16_loss), float(fp32_loss))

    before = [p.detach().clone() for p in G.parameters()]
    for _ in range(10):
        losses = gan_step(G, D, D, opt_g, opt_d, real, labels, z, labels, aux_weight=1.0, autocast=autocast)
        assert all(torch.isfinite(loss) for loss in losses), [float(loss) for loss in losses]
    for module in (G, D):
        for name, p in module.named_parameters():
            assert torch.isfinite(p).all(), name
            assert p.dtype == torch.float32, name  # autocast leaves the master weights in fp32
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))


# ----------------------------------------------------------------------------- seeds

def test_seeds_give_the_same_latents_on_cuda_as_on_the_cpu(cuda_device):
    seeds = [0, 1, 42, 12345, 2**32 - 1]
    on_device = latents_from_seeds(seeds, 64, device=cuda_device)
    assert on_device.device.type == torch.device(cuda_device).type
    assert torch.equal(on_device.cpu(), latents_from_seeds(seeds, 64))


# ----------------------------------------------------------------------------- checkpoints

def check_resume_across_devices(tmp_path: Path, *, first: str, then: str) -> None:
    """Four steps on `first`, then resumed on `then` to step 8: the run continues."""
    done, _ = quiet_train(tiny_config(tmp_path, device=first, steps=4))
    assert done.status == "finished" and done.step == 4
    resumed, lines = quiet_train(tiny_config(tmp_path, device=then, steps=8), resume=True)
    assert resumed.status == "finished" and resumed.step == 8
    assert any("resumed" in line and "at step 4" in line for line in lines), lines
    assert resumed.history[:len(done.history)] == done.history  # the same run, continued
    assert [h["step"] for h in resumed.history] == [2, 4, 6, 8]
    for h in resumed.history:
        assert torch.isfinite(torch.tensor([h["d_loss"], h["g_loss"]])).all(), h
    ckpt = torch.load(Path(resumed.run_dir) / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["step"] == 8
    assert all(torch.isfinite(t).all() for t in ckpt["G_ema"].values() if t.is_floating_point())


def test_checkpoint_written_on_cuda_resumes_on_the_cpu(cuda_device, tmp_path):
    check_resume_across_devices(tmp_path, first=cuda_device, then="cpu")


def test_checkpoint_written_on_the_cpu_resumes_on_cuda(cuda_device, tmp_path):
    check_resume_across_devices(tmp_path, first="cpu", then=cuda_device)


# ----------------------------------------------------------------------------- exports

def max_pixel_difference(a: torch.Tensor, b: torch.Tensor) -> tuple[int, float]:
    """(largest difference in uint8 levels, share of pixels that differ by more than 1)."""
    diff = (a.int() - b.int()).abs()
    return int(diff.max()), float((diff > 1).float().mean())


def check_same_digits(weights: Path, device: str) -> None:
    digits = [d for d in range(10) for _ in range(10)]
    seeds = list(range(10)) * 10
    on_device = load_generator(weights, device=device).generate(digits, seeds)
    on_cpu = load_generator(weights, device="cpu").generate(digits, seeds)
    largest, share = max_pixel_difference(on_device, on_cpu)
    # TF32 convolutions (cuDNN's default) and other summation orders move a pixel by a
    # level or two at most; a wrong weight or layout would move thousands by far more
    assert largest <= 4 and share <= 0.005, f"max {largest} levels, {share:.2%} of pixels > 1 level"


def test_export_from_a_cuda_run_draws_the_same_digits_on_the_cpu(cuda_device, tmp_path):
    cfg = tiny_config(tmp_path, device=cuda_device, model=ModelConfig(), steps=4,
                      export_dir=str(tmp_path / "weights"))
    result, _ = quiet_train(cfg)
    assert result.export_dir is not None
    check_same_digits(Path(result.export_dir), cuda_device)


def test_shipped_weights_draw_the_same_digits_on_cuda_and_the_cpu(cuda_device):
    if not (SHIPPED_WEIGHTS / "model.safetensors").is_file():
        skip(f"no shipped weights in {SHIPPED_WEIGHTS}")
    check_same_digits(SHIPPED_WEIGHTS, cuda_device)
