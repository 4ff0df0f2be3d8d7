"""Shared test fixtures.

tests/ mirrors the code: a folder per package of gan/ (base/ for its shared base modules,
commands/ for its command modules), app/ for the Gradio UI, benchmarks/, and support/ for the
helpers the tests share. Fixtures for the core library (gan/, train.py) are prefixed `core_`.
Everything is tiny (8-channel models, a few dozen synthetic images) so the suite runs on two
CPU cores.

No test reaches the internet: telemetry is off and the Hub offline (set here before gradio or
huggingface_hub is imported, and in core_env for subprocesses), and a guard refuses every
connection or name lookup for another machine and fails the test it happened in, naming the
host (tests/support/loopback_guard.py).
"""
from __future__ import annotations

import os

from tests.support.processes import OFFLINE_ENV, REPO_ROOT, TINY_TRAIN_FLAGS, core_env

os.environ.update(OFFLINE_ENV)  # before anything below imports gradio or huggingface_hub

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from gan.config import ModelConfig, TrainConfig  # noqa: E402
from tests.support.loopback_guard import RecordingGuard  # noqa: E402

# REPO_ROOT, TINY_TRAIN_FLAGS and core_env live in tests.support.processes; tests that still
# import them from here keep working until they switch.

# The library's own folders: their tests run torch on one thread (see core_single_thread).
CORE_TEST_FOLDERS = {"base", "commands", "latent", "measure", "model", "training"}


# ----------------------------------------------------------------------------- no internet

NETWORK_GUARD = RecordingGuard()


def pytest_configure(config):
    NETWORK_GUARD.install()


def pytest_unconfigure(config):
    NETWORK_GUARD.uninstall()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A test fails when anything tried to reach another machine while it ran (its setup,
    call or teardown; module fixtures count toward the first test that uses them), even
    where the caller swallowed the refusal."""
    report = yield
    hosts = NETWORK_GUARD.take()
    if hosts:
        message = (f"tried to reach {', '.join(hosts)} during {call.when}: tests may only connect to "
                   "this machine (127.0.0.0/8, ::1, localhost, Unix sockets)")
        if report.passed:
            report.outcome, report.longrepr = "failed", message
        else:
            report.sections.append(("loopback guard", message))
    return report


# ----------------------------------------------------------------------------- core fixtures

@pytest.fixture(autouse=True)
def core_single_thread(request):
    """Core tests run torch on one thread: their models are tiny, and on a busy 2-core
    machine a second OpenMP thread mostly spins (tens of times slower per forward pass)."""
    if request.node.path.parent.name not in CORE_TEST_FOLDERS:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def core_model_config() -> ModelConfig:
    return ModelConfig(g_width=8, d_width=8)


@pytest.fixture
def core_generator(core_model_config):
    """A tiny generator as load_generator returns one: eval mode, no gradients, BatchNorm
    statistics measured (so they are not the trivial 0/1 of a fresh module)."""
    from gan.model.networks import Generator, recalibrate_batchnorm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1234)
        generator = Generator(core_model_config)
    recalibrate_batchnorm(generator, batches=2, batch_size=32)
    return generator.requires_grad_(False).eval()


@pytest.fixture
def core_weights_dir(tmp_path, core_generator) -> Path:
    from gan.model.weights import save_generator

    return save_generator(core_generator, tmp_path / "weights")


@pytest.fixture
def core_train_config(tmp_path):
    """Factory: a TrainConfig for a tiny CPU run in tmp_path; keyword arguments override."""

    def make(**overrides) -> TrainConfig:
        values = dict(model=ModelConfig(g_width=8, d_width=8), synthetic_size=64,
                      run_dir=str(tmp_path / "run"), export_dir=None, steps=8, batch_size=8,
                      seed=0, device="cpu", threads=1, log_every=2, sample_every=1000,
                      metrics_every=0, ckpt_every=1000)
        values.update(overrides)
        return TrainConfig(**values)

    return make


@pytest.fixture
def core_threads():
    """Restores torch's intra-op thread count after a test that changes it."""
    before = torch.get_num_threads()
    yield before
    torch.set_num_threads(before)


@pytest.fixture
def core_run(tmp_path):
    """Run a command in a subprocess with the repo importable, cwd = tmp_path (so relative
    defaults such as weights/ or runs/ never land in the repo)."""

    def run(args: list[str], *, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=cwd or tmp_path, env=core_env(), capture_output=True,
                              text=True, timeout=timeout)

    return run


@pytest.fixture
def core_train_cmd():
    """Factory: the argv of `python train.py` with the tiny-model flags and the given extras."""

    def make(*extra: str) -> list[str]:
        return [sys.executable, str(REPO_ROOT / "train.py"), *TINY_TRAIN_FLAGS, *extra]

    return make


@pytest.fixture
def core_mnist_dir(tmp_path):
    """Factory: a folder of MNIST-format IDX files (gzipped) holding synthetic digits."""
    import gzip
    import struct

    from gan.data import IDX_FILES, make_synthetic_digits

    def idx(array: torch.Tensor) -> bytes:
        header = struct.pack(">BBBB", 0, 0, 0x08, array.dim())
        header += b"".join(struct.pack(">I", n) for n in array.shape)
        return header + array.to(torch.uint8).contiguous().numpy().tobytes()

    def make(train_size: int = 100, test_size: int = 60, folder: Path | None = None) -> Path:
        folder = folder or tmp_path / "mnist"
        folder.mkdir(parents=True, exist_ok=True)
        for split, n, seed in (("train", train_size, 0), ("test", test_size, 1)):
            for stem, array in zip(IDX_FILES[split], make_synthetic_digits(n, seed=seed)):
                (folder / f"{stem}.gz").write_bytes(gzip.compress(idx(array)))
        return folder

    return make


# ----------------------------------------------------------------------------- app fixtures
# Fixtures for the web app (gan/service.py and friends, app.py, app_tabs/) are prefixed `app_`. They never use
# weights/ or MNIST: a freshly initialised generator stands in for trained weights.

@pytest.fixture
def app_make_weights():
    """Factory: save a freshly initialised generator into `folder` (global RNG untouched)."""

    def make(folder: Path, config: ModelConfig | None = None) -> Path:
        from gan.model.networks import Generator
        from gan.model.weights import save_generator

        with torch.random.fork_rng(devices=[]):
            generator = Generator(config or ModelConfig())
        return save_generator(generator, folder)

    return make


@pytest.fixture
def app_weights(tmp_path, app_make_weights) -> Path:
    return app_make_weights(tmp_path / "weights")


@pytest.fixture
def service(app_weights, tmp_path):
    """A DigitService on the small test weights, writing into the test's own folder."""
    from gan.files import OutputFolder
    from gan.serving.model_holder import ModelHolder
    from gan.serving.service import DigitService

    return DigitService(ModelHolder(app_weights), output=OutputFolder(tmp_path / "out"),
                        auto_reload_s=None)
