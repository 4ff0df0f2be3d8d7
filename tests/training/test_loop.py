"""The training loop in-process on tiny synthetic data: losses, checkpoints, exact resume,
divergence, and the helpers around it."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import gan.training.losses as losses
from gan.config import ModelConfig, TrainConfig
from gan.model.networks import Generator, recalibrate_batchnorm
from gan.model.weights import load_generator
from gan.runtime import configure_cpu_threads, select_device
from gan.training.loop import TrainingDiverged, ema_beta_at, train, update_ema
from gan.training.losses import discriminator_loss, generator_loss
from gan.training.run_folder import CHECKPOINT_FILE, export_from_checkpoint, grid_image


def _quiet(cfg, **kwargs):
    lines = []
    result = train(cfg, progress=False, log=lines.append, **kwargs)
    return result, lines


def _ckpt(run_dir):
    return torch.load(os.path.join(run_dir, CHECKPOINT_FILE), map_location="cpu", weights_only=True)


def test_tiny_run_trains_checkpoints_and_exports(core_train_config, core_threads, tmp_path):
    cfg = core_train_config(steps=8, sample_every=4, export_dir=str(tmp_path / "weights"))
    torch.set_num_threads(2)
    result, lines = _quiet(cfg, command="python train.py --test")
    assert result.status == "finished" and result.step == 8
    assert torch.get_num_threads() == 1  # cfg.threads applied

    assert [h["step"] for h in result.history] == [2, 4, 6, 8]
    for h in result.history:
        assert math.isfinite(h["d_loss"]) and math.isfinite(h["g_loss"]) and h["images_per_s"] > 0
        assert 0 < h["d_loss"] < 20 and 0 < h["g_loss"] < 20

    run = result.run_dir
    ckpt = _ckpt(run)
    assert ckpt["step"] == 8
    assert TrainConfig.from_dict(ckpt["config"]) == cfg
    assert json.loads((run / "history.json").read_text()) == result.history
    for name in ("samples.png", "progress.gif", "loss_curve.png", "log.txt",
                 "samples/step_0000004.png", "samples/step_0000008.png"):
        assert (run / name).is_file(), name
    assert not list(run.rglob("*.tmp"))

    # the export is the EMA generator of the checkpoint, with recalibrated BatchNorm statistics
    exported = load_generator(result.export_dir)
    for name, p in exported.named_parameters():
        assert torch.equal(p, ckpt["G_ema"][name]), name
    assert exported.bn0.running_var.ne(1).any()
    provenance = json.loads((result.export_dir / "training.json").read_text())
    assert provenance["step"] == 8 and provenance["command"] == "python train.py --test"
    assert (result.export_dir / "samples.png").is_file()
    assert any("exported the EMA generator" in line for line in lines)

    # exporting the checkpoint again gives the same weights
    again = load_generator(export_from_checkpoint(run, tmp_path / "again"))
    for name, tensor in exported.state_dict().items():
        assert torch.equal(again.state_dict()[name], tensor), name


def test_periodic_metrics(core_train_config, core_threads):
    # the shipped classifier scores the untrained EMA generator, then every 3 steps and at the end
    cfg = core_train_config(steps=4, metrics_every=3, metrics_samples=20)
    result, lines = _quiet(cfg)
    assert [m["step"] for m in result.metrics] == [0, 3, 4]
    for m in result.metrics:
        assert 0.0 <= m["class_accuracy"] <= 1.0 and len(m["class_accuracy_per_digit"]) == 10
        assert m["frechet_distance"] > 0 and 0.0 <= m["coverage"] <= 1.0
    saved = json.loads((result.run_dir / "metrics_history.json").read_text(),
                       parse_constant=float)
    assert [m["step"] for m in saved] == [0, 3, 4]
    assert any(line.startswith("step 3: class accuracy") for line in lines)
    assert _ckpt(cfg.run_dir)["metrics"][-1]["step"] == 4


def test_progress_grid_is_ten_by_ten(core_generator):
    grid = grid_image(core_generator)
    assert grid.shape == (10 * 30 + 2, 10 * 30 + 2) and grid.dtype.name == "uint8"


def _assert_same_state(a, b, keys=("G", "D", "G_ema")):
    for key in keys:
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"


def _assert_same_optimiser(a, b):
    for key in ("opt_g", "opt_d"):
        for pid, state in a[key]["state"].items():
            for name, value in state.items():
                assert torch.equal(value, b[key]["state"][pid][name]), f"{key}[{pid}].{name}"


def _assert_same_nested(a, b, where="rng"):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_same_nested(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same_nested(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_resume_equals_the_uninterrupted_run(core_train_config, core_threads, tmp_path):
    common = dict(sample_every=4, log_every=2)
    straight, _ = _quiet(core_train_config(steps=9, run_dir=str(tmp_path / "straight"), **common))
    split_dir = str(tmp_path / "split")
    first, _ = _quiet(core_train_config(steps=3, run_dir=split_dir, **common))
    assert _ckpt(split_dir)["step"] == 3
    resumed, lines = _quiet(core_train_config(steps=9, run_dir=split_dir, **common), resume=True)
    assert any(f"resumed {split_dir} at step 3" in line for line in lines)
    assert resumed.step == 9 and resumed.status == "finished"

    a, b = _ckpt(straight.run_dir), _ckpt(split_dir)
    assert a["step"] == b["step"] == 9
    _assert_same_state(a, b)
    _assert_same_optimiser(a, b)
    _assert_same_nested(a["rng"], b["rng"])  # data order and noise streams
    # loss history: the resumed run continues the same curve
    assert {h["step"]: h["g_loss"] for h in a["history"]}[8] == \
        {h["step"]: h["g_loss"] for h in b["history"]}[8]


def test_resume_without_checkpoint(core_train_config, core_threads):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        _quiet(core_train_config(), resume=True)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(core_train_config, core_threads,
                                                                   monkeypatch, tmp_path, bad):
    calls = []

    def poisoned(*args, **kwargs):
        calls.append(1)
        loss = generator_loss(*args, **kwargs)
        return loss * bad if len(calls) >= 5 else loss  # from step 5 on

    monkeypatch.setattr(losses, "generator_loss", poisoned)
    export = tmp_path / "weights"
    cfg = core_train_config(steps=20, ckpt_every=2, log_every=2, export_dir=str(export))
    with pytest.raises(TrainingDiverged, match="NaN/inf") as info:
        _quiet(cfg)
    assert CHECKPOINT_FILE in str(info.value) and "resume" in str(info.value)
    assert len(calls) == 6  # stopped at the first check after the NaN step
    ckpt = _ckpt(cfg.run_dir)
    assert ckpt["step"] == 4
    for key in ("G", "D", "G_ema"):
        for name, tensor in ckpt[key].items():
            assert torch.isfinite(tensor.float()).all(), f"{key}.{name}"
    assert not export.exists()

    # the kept checkpoint resumes fine once the cause is gone
    monkeypatch.setattr(losses, "generator_loss", generator_loss)
    result, _ = _quiet(core_train_config(steps=6, ckpt_every=2, log_every=2, run_dir=cfg.run_dir),
                       resume=True)
    assert result.step == 6 and all(math.isfinite(h["g_loss"]) for h in result.history)


def test_after_step_hook_sees_every_step(core_train_config, core_threads):
    seen = []
    _quiet(core_train_config(steps=5), _after_step=seen.append)
    assert seen == [1, 2, 3, 4, 5]


# ----------------------------------------------------------------------------- helpers


def test_recalibrate_batchnorm_leaves_global_rng_alone(core_model_config):
    G = Generator(core_model_config)
    momentum = G.bn0.momentum
    torch.manual_seed(7)
    state = torch.get_rng_state()
    recalibrate_batchnorm(G, batches=2, batch_size=16)
    assert torch.equal(torch.get_rng_state(), state)
    assert not G.training and G.bn0.momentum == momentum
    stats = G.bn0.running_mean.clone(), G.bn1.running_var.clone()
    assert not torch.equal(stats[0], torch.zeros_like(stats[0]))
    recalibrate_batchnorm(G, batches=2, batch_size=16)  # same seed, same weights: same stats
    assert torch.equal(G.bn0.running_mean, stats[0]) and torch.equal(G.bn1.running_var, stats[1])
    recalibrate_batchnorm(G, batches=2, batch_size=16, seed=1)
    assert not torch.equal(G.bn0.running_mean, stats[0])


def test_configure_cpu_threads(core_threads):
    assert configure_cpu_threads(1) == 1 and torch.get_num_threads() == 1
    assert configure_cpu_threads(2) == 2 and torch.get_num_threads() == 2
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert configure_cpu_threads(0) == cores and torch.get_num_threads() == cores


def test_select_device():
    assert select_device("cpu") == torch.device("cpu")
    assert select_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="not a torch device"):
        select_device("bogus")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            select_device("cuda")


def test_ema():
    assert ema_beta_at(0, 0.999) == pytest.approx(0.1)
    assert ema_beta_at(10**6, 0.999) == 0.999
    betas = [ema_beta_at(s, 0.999) for s in range(0, 5000, 100)]
    assert betas == sorted(betas)
    ema, model = nn.Linear(2, 2), nn.Linear(2, 2)
    before = ema.weight.detach().clone()
    update_ema(ema, model, 0.75)
    assert torch.allclose(ema.weight, 0.75 * before + 0.25 * model.weight)


def test_losses_at_chance():
    zeros = torch.zeros(4)
    uniform = torch.zeros(4, 10)
    labels = torch.tensor([0, 1, 2, 3])
    d = discriminator_loss(zeros, zeros, uniform, labels, aux_weight=0.5)
    g = generator_loss(zeros, uniform, labels, aux_weight=1.0)
    assert float(d) == pytest.approx(2 * math.log(2) + 0.5 * math.log(10), rel=1e-6)
    assert float(g) == pytest.approx(math.log(2) + math.log(10), rel=1e-6)
    # confident, right answers cost little
    big = torch.full((4,), 20.0)
    assert float(discriminator_loss(big, -big, 20 * torch.eye(10)[labels], labels, 1.0)) < 1e-6


def test_r1_penalty_is_the_squared_input_gradient():
    # D(x) = sum(w * x): the gradient is w for every image, so R1 = ||w||^2 exactly
    w = torch.randn(1, 28, 28)
    real = torch.randn(5, 1, 28, 28, requires_grad=True)
    logits = (real * w).flatten(1).sum(1)
    assert float(losses.r1_penalty(logits, real)) == pytest.approx(float(w.square().sum()), rel=1e-5)


def test_gan_step_with_r1_moves_d_differently(core_model_config):
    from gan.model.networks import Discriminator

    def one_step(r1_weight):
        torch.manual_seed(0)
        G, D = Generator(core_model_config), Discriminator(core_model_config)
        nn.init.normal_(D.embed.weight, 0.0, 0.02)  # a D whose input gradient is not tiny
        opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
        real, labels = torch.rand(8, 1, 28, 28) * 2 - 1, torch.arange(8) % 2
        outcome = losses.gan_step(G, D, D, opt_g, opt_d, real, labels, torch.randn(8, G.z_dim), labels,
                                  aux_weight=1.0, r1_weight=r1_weight)
        return D, float(outcome.d_loss)

    (d_plain, loss_plain), (d_r1, loss_r1) = one_step(0.0), one_step(10.0)
    assert loss_r1 > loss_plain
    assert not torch.equal(d_plain.conv1.weight, d_r1.conv1.weight)


def test_lazy_r1_adds_the_penalty_every_r1_every_steps(core_train_config, core_threads, monkeypatch):
    weights = []
    real_step = losses.gan_step

    def spy(*args, r1_weight=0.0, **kwargs):
        weights.append(r1_weight)
        return real_step(*args, r1_weight=r1_weight, **kwargs)

    monkeypatch.setattr("gan.training.loop.gan_step", spy)
    result, _ = _quiet(core_train_config(steps=6, r1_gamma=0.5, r1_every=3))
    # steps 0 and 3 carry gamma/2 * r1_every; the penalty changes D, and the run stays finite
    assert weights == [0.75, 0.0, 0.0, 0.75, 0.0, 0.0]
    assert all(math.isfinite(h["d_loss"]) for h in result.history)
    weights.clear()
    _quiet(core_train_config(steps=2, r1_gamma=0.0))
    assert weights == [0.0, 0.0]


@pytest.mark.parametrize("kwargs", [dict(steps=0), dict(batch_size=-1), dict(lr_g=0.0),
                                    dict(lr_d=float("nan")), dict(beta1=1.0), dict(ema_beta=-0.1),
                                    dict(aux_weight=-1.0), dict(threads=-1), dict(ckpt_every=0),
                                    dict(metrics_every=-1), dict(r1_gamma=-1.0),
                                    dict(r1_gamma=float("nan")), dict(r1_every=0)])
def test_train_config_rejects(kwargs):
    with pytest.raises(ValueError):
        TrainConfig(**kwargs)


def test_train_config_round_trip():
    cfg = TrainConfig(model=ModelConfig(g_width=8), steps=5, export_dir=None)
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_configure_cpu_threads_sets_interop_threads_in_a_fresh_process():
    # inter-op threads can only be set before torch's first parallel work: check it where
    # nothing ran before, as in app.py and train.py
    code = ("from gan.runtime import configure_cpu_threads; import torch; "
            "configure_cpu_threads(1); print(torch.get_num_threads(), torch.get_num_interop_threads())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.split() == ["1", "1"]


def test_a_resumed_run_records_every_command_that_made_it(core_train_config, core_threads, tmp_path):
    export = tmp_path / "weights"
    cfg = core_train_config(steps=4, export_dir=str(export))
    _quiet(cfg, command="python train.py --steps 4")
    cfg.steps = 6
    _quiet(cfg, resume=True, command="python train.py --resume run --steps 6")
    provenance = json.loads((export / "training.json").read_text())
    assert provenance["step"] == 6
    assert provenance["commands"] == ["python train.py --steps 4", "python train.py --resume run --steps 6"]
    assert provenance["command"] == "python train.py --steps 4 && python train.py --resume run --steps 6"
