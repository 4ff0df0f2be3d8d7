"""Shared by the static-site tests: one export of the shipped weights per test session (with a
stand-in encoder, since no trained encoder ships yet), a loopback server for it, and a runner
for the page's plain ES modules under Node.

The export needs the onnxruntime-web files: from the cache folder (.ci/run fills it before
the tests), or fetched with npm (`npm pack`) into it; without npm and without the cached files
the tests that need them skip, saying what to install. Any other failure to get them fails.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = REPO_ROOT / "weights"
WEB = REPO_ROOT / "gan" / "space" / "web"
_EXPORTS: dict[str, Path] = {}


class StandInEncoder(nn.Module):
    """A tiny random image -> latent network with the encoder's interface: (images [N,1,28,28]
    in [-1, 1], class_weights [N,10]) -> z [N,64]. It finds no handwriting; it lets the page's
    Draw path (preprocessing, encoder, restyle, morph) be checked against Python end to end."""

    def __init__(self, z_dim: int = 64, num_classes: int = 10):
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)
            self.conv = nn.Conv2d(1, 4, 5, stride=4)
            self.fc = nn.Linear(4 * 6 * 6 + num_classes, z_dim)

    def forward(self, images: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.conv(images)).flatten(1)
        return 4.0 * self.fc(torch.cat([h, class_weights], dim=1))


def standin_encoder_onnx(path: Path) -> Path:
    from gan.space.onnx_export import export_encoder

    export_encoder(StandInEncoder().eval(), path, z_dim=64)
    return path


def skip_without_the_runtime_files() -> None:
    """Skip (saying what to install) when the onnxruntime-web files are neither cached nor
    fetchable, because npm is missing."""
    from gan.space import ort_web

    if not ort_web.is_cached() and shutil.which("npm") is None:
        pytest.skip(f"npm is not installed and {ort_web.cache_folder()} lacks the onnxruntime-web "
                    f"files: install Node.js with npm (e.g. `apt-get install npm`) to run the "
                    "static Space tests")


def exported_site(tmp_path_factory) -> Path:
    """The shipped weights (plus the stand-in encoder.onnx) exported once per session."""
    if "site" not in _EXPORTS:
        from gan.space.static_site import build_static_site

        if not (SHIPPED_WEIGHTS / "model.safetensors").is_file():
            pytest.skip("no shipped weights in weights/")
        skip_without_the_runtime_files()
        weights = tmp_path_factory.mktemp("space-weights")
        for item in SHIPPED_WEIGHTS.iterdir():
            if item.is_file():
                shutil.copy2(item, weights / item.name)
        standin_encoder_onnx(weights / "encoder.onnx")
        site = tmp_path_factory.mktemp("space") / "site"
        build_static_site(site, weights)
        _EXPORTS["site"], _EXPORTS["weights"] = site, weights
    return _EXPORTS["site"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@contextlib.contextmanager
def serving(folder: Path):
    """`python -m http.server -d folder` in a thread on 127.0.0.1, a free port: yields the URL."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def run_node(script: str, payload: object, timeout: float = 60) -> object:
    """Run an ES module `script` under Node with the page's modules importable as ./web/...;
    `payload` arrives as JSON on stdin, and the script prints its JSON answer."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    prelude = ("import fs from 'fs';\nconst input = JSON.parse(fs.readFileSync(0, 'utf8'));\n"
               "const out = (value) => process.stdout.write(JSON.stringify(value));\n")
    body = script.replace("./web/", WEB.as_uri() + "/")
    done = subprocess.run([node, "--input-type=module", "-e", prelude + body], input=json.dumps(payload),
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"node failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout)
