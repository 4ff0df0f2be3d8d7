"""A Hugging Face Space folder for the Gradio app, ready for `upload_folder(repo_type="space")`:

    python -m gan.space OUT --kind zerogpu [--weights weights | --weights hf://owner/name@rev]
    python -m gan.space OUT --kind cpu

OUT gets `app.py`, `app_tabs/`, `gan/` (without what a Space does not run), the weights (or
`weights.ref`, a Hub reference app.py serves instead), a README whose front matter sets up
that hardware, and a `requirements.txt` with versions it runs. Tests, benchmarks, runs,
caches and the static export stay out. A folder that could not work is refused with the
reason: weights that do not load, a Hub reference that is malformed, a requirement that the
hardware cannot run.

As Spaces are in December 2026: a Gradio Space on CPU hardware needs a paid plan; a free
account may host two ZeroGPU Spaces (Python 3.10 or 3.12, torch 2.8.0, 2.9.1, 2.10.0 or
2.11.0, no torch.compile).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..files import atomic_write_bytes
from ..model.card import model_card
from ..model.hub import is_hub_ref, parse_hub_ref
from ..model.weights import WeightsError, load_generator

REPO_ROOT = Path(__file__).resolve().parents[2]
WEIGHTS_REF_FILE = "weights.ref"   # app.py serves the Hub reference in it when there is no DIGITGAN_WEIGHTS
ZEROGPU_TORCH = ("2.8.0", "2.9.1", "2.10.0", "2.11.0")
ZEROGPU_PYTHON = ("3.10", "3.12")
# torchvision releases that match each torch (torchvision is only imported to download MNIST)
TORCHVISION_FOR = {"2.8.0": "0.23.0", "2.9.1": "0.24.1", "2.10.0": "0.25.0", "2.11.0": "0.26.0"}
SPACES_VERSION = "0.51.3"
# What a Space runs: the app and the library, nothing that only develops or measures them.
SKIPPED = ("__pycache__", "*.pyc", "space")  # gan/space builds folders; a Space never runs it


@dataclass(frozen=True)
class Hardware:
    name: str                 # --kind
    suggested_hardware: str   # the README front matter's flavour
    python_version: str
    torch: str
    note: str                 # the README's line about what it costs


HARDWARE = {
    "zerogpu": Hardware("zerogpu", "zero-a10g", "3.12", "2.11.0",
                        "ZeroGPU: free accounts may host two ZeroGPU Spaces; GPU time comes out of "
                        "each visitor's daily quota. Training from the Train tab runs on the GPU."),
    "cpu": Hardware("cpu", "cpu-basic", "3.12", "2.11.0",
                    "CPU hardware: a Gradio Space on CPU needs a paid plan (since July 2026)."),
}


def pinned_requirements(hardware: Hardware, source: Path = REPO_ROOT / "requirements.txt") -> str:
    """The repo's runtime pins with torch (and torchvision) set to what the hardware runs,
    and `spaces` added for ZeroGPU."""
    if hardware.name == "zerogpu" and hardware.torch not in ZEROGPU_TORCH:
        raise ValueError(f"ZeroGPU runs torch {', '.join(ZEROGPU_TORCH)}; {hardware.torch} would not start")
    if hardware.name == "zerogpu" and hardware.python_version not in ZEROGPU_PYTHON:
        raise ValueError(f"ZeroGPU runs Python {' or '.join(ZEROGPU_PYTHON)}, not {hardware.python_version}")
    lines = []
    for line in source.read_text().splitlines():
        name = re.split(r"[=<>!~ ]", line.strip(), maxsplit=1)[0].lower()
        if name == "torch":
            line = f"torch=={hardware.torch}"
        elif name == "torchvision":
            line = f"torchvision=={TORCHVISION_FOR[hardware.torch]}"
        lines.append(line)
    if hardware.name == "zerogpu":
        lines.append(f"spaces=={SPACES_VERSION}              # @spaces.GPU: the Train tab's runs")
    return "\n".join(lines) + "\n"


def gradio_version(source: Path = REPO_ROOT / "requirements.txt") -> str:
    match = re.search(r"^gradio(?:\[[\w,]+\])?==([\w.]+)", source.read_text(), re.M)  # extras allowed
    if not match:
        raise ValueError(f"{source} pins no gradio version: a Space's README needs sdk_version")
    return match.group(1)


def space_readme(hardware: Hardware, *, weights_ref: str | None) -> str:
    served = f"the Hub model repo `{weights_ref}`" if weights_ref else "the weights in `weights/`"
    front_matter = f"""\
title: DigitGAN
emoji: ✍️
colorFrom: gray
colorTo: indigo
sdk: gradio
sdk_version: {gradio_version()}
python_version: "{hardware.python_version}"
app_file: app.py
suggested_hardware: {hardware.suggested_hardware}
pinned: false
short_description: A class-conditional GAN that writes MNIST digits
"""
    about = [f"""\
Pick a digit and a seed, walk latent space, steer named directions (slant, thickness, width,
height), draw a digit and see your handwriting written as all ten. This Space serves {served}.""",
             "", hardware.note, "", """\
Training from the page is off unless the Space's variable `DIGITGAN_ALLOW_TRAINING=1` is set.
A Space's disk is wiped on restart: push a run's weights with **Push to Hub** (needs the
secret `HF_TOKEN`, a write token) and serve them with the variable
`DIGITGAN_WEIGHTS=hf://you/digitgan`."""]
    return model_card([(None, about)], title="DigitGAN", front_matter=front_matter)


def _check_weights(weights: str | os.PathLike) -> str | None:
    """The Hub reference to write, or None for a folder to copy; WeightsError if unusable."""
    if is_hub_ref(weights):
        try:
            parse_hub_ref(str(weights))
        except ValueError as exc:
            raise WeightsError(str(exc)) from None
        return str(weights)
    load_generator(weights)  # the reason, before anything is written
    return None


def _copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*SKIPPED))


def build_space_folder(out: str | os.PathLike, *, kind: str, weights: str | os.PathLike = "weights") -> Path:
    """Write the Space folder for `kind` ("zerogpu" or "cpu") into `out` (which must not exist
    or be empty), all at once: it is assembled beside `out` and renamed into place."""
    if kind not in HARDWARE:
        raise ValueError(f"kind must be one of {', '.join(HARDWARE)} here, got {kind!r}")
    hardware, out = HARDWARE[kind], Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ValueError(f"{out} exists and is not an empty folder: choose a new one")
    weights_ref = _check_weights(weights)
    requirements = pinned_requirements(hardware)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        shutil.copy2(REPO_ROOT / "app.py", staging / "app.py")
        _copy_tree(REPO_ROOT / "app_tabs", staging / "app_tabs")
        _copy_tree(REPO_ROOT / "gan", staging / "gan")
        shutil.copy2(REPO_ROOT / "train.py", staging / "train.py")  # the Train tab starts it
        if weights_ref:
            atomic_write_bytes(staging / WEIGHTS_REF_FILE, (weights_ref + "\n").encode())
        else:
            _copy_tree(Path(weights), staging / "weights")
        atomic_write_bytes(staging / "requirements.txt", requirements.encode())
        atomic_write_bytes(staging / "README.md", space_readme(hardware, weights_ref=weights_ref).encode())
        if out.exists():
            out.rmdir()
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
