"""The models of the static page as ONNX, each checked against PyTorch with onnxruntime.

- generator.onnx: `z` float32 [N, z_dim], `class_weights` float32 [N, num_classes] ->
  `pixels` uint8 [N, 28, 28], rounded inside the graph by gan.images.to_uint8 itself
  ((x + 1) * 127.5, round half to even, clamp to 0..255), so the page shows what Python shows.
- classifier.onnx: `images` float32 [N, 1, 28, 28] in [-1, 1] -> `logits` [N, 10].
- encoder.onnx: `images` float32 [N, 1, 28, 28] in [-1, 1], `class_weights` [N, 10] -> `z`
  [N, z_dim]: an image -> latent network, used by the page's Draw tab when it exists.
- jacobian.onnx: `z` [N, z_dim], `class_weights` [N, num_classes] -> `images` float32 [N, 784]
  in [-1, 1] and `jacobian` [N, z_dim, 784] (gan.latent.jacobian): Draw's search steps.
"""
from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from ..images import to_uint8
from ..model.networks import Generator
from ..model.sampling import latents_from_seeds

OPSET = 18
MAX_BATCH = 4096
PARITY_SEEDS = range(40)      # seeds per digit in the export's own check
MIN_EXACT_SHARE = 0.999       # of pixels within one grey level of PyTorch's
ENCODER_NAME, CLASSIFIER_NAME, GENERATOR_NAME = "encoder.onnx", "classifier.onnx", "generator.onnx"
JACOBIAN_NAME = "jacobian.onnx"


class ExportError(RuntimeError):
    """An exported model does not compute what the PyTorch model does, or cannot be exported."""


class PixelGenerator(nn.Module):
    """The generator with gan.images.to_uint8 on its output: what the page draws."""

    def __init__(self, generator: Generator):
        super().__init__()
        self.generator = generator

    def forward(self, z: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
        return to_uint8(self.generator.synthesize(z, class_weights))[:, 0]


def _export(module: nn.Module, args: tuple, path: Path, inputs: list[str], outputs: list[str]) -> None:
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    with warnings.catch_warnings(), torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the exporter's notes on renamed dynamic axes
        program = torch.onnx.export(module.eval(), args, input_names=inputs, output_names=outputs,
                                    dynamo=True, opset_version=OPSET, optimize=True, verify=False,
                                    dynamic_shapes=[{0: batch} for _ in args])
    program.save(str(path), external_data=False)  # one self-contained file for the browser


def _session(path: Path):
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def export_generator(generator: Generator, path: Path, *, truncation_psi: float = 0.8) -> dict:
    """Write generator.onnx and check it: every digit x PARITY_SEEDS through onnxruntime
    against Generator.generate. Returns the check's figures; ExportError if it fails."""
    generator = generator.cpu().eval()
    c = generator.config
    _export(PixelGenerator(generator), (torch.zeros(2, c.z_dim), torch.eye(c.num_classes)[:2]),
            path, ["z", "class_weights"], ["pixels"])
    digits = [d for d in range(c.num_classes) for _ in PARITY_SEEDS]
    seeds = [s for _ in range(c.num_classes) for s in PARITY_SEEDS]
    expected = generator.generate(digits, seeds, truncation_psi=truncation_psi).numpy().astype(int)
    z = (latents_from_seeds(seeds, c.z_dim) * truncation_psi).numpy()
    classes = np.eye(c.num_classes, dtype=np.float32)[digits]
    got = _session(path).run(None, {"z": z, "class_weights": classes})[0].astype(int)
    diff = np.abs(got - expected)
    share = float((diff <= 1).mean())
    if got.shape != expected.shape or share < MIN_EXACT_SHARE:
        raise ExportError(f"{path.name} differs from PyTorch: {share:.4%} of pixels within one "
                          f"grey level (at least {MIN_EXACT_SHARE:.1%} required)")
    return {"images": len(digits), "within_one_level": share, "exact": float((diff == 0).mean()),
            "max_difference": int(diff.max())}


def _check_float_model(module: nn.Module, path: Path, feeds: dict[str, torch.Tensor],
                       atol: float = 1e-4) -> float:
    with torch.no_grad():
        expected = module(*feeds.values()).numpy()
    got = _session(path).run(None, {k: v.numpy() for k, v in feeds.items()})[0]
    error = float(np.abs(got - expected).max()) if got.shape == expected.shape else float("inf")
    if not error <= atol * max(1.0, float(np.abs(expected).max())):
        raise ExportError(f"{path.name} differs from PyTorch by up to {error:g}")
    return error


def check_images(count: int = 8) -> torch.Tensor:
    """A few fixed images in [-1, 1] with strokes (a deterministic check input)."""
    rng = torch.Generator().manual_seed(0)
    return torch.rand(count, 1, 28, 28, generator=rng).mul(2).sub(1)


def export_classifier(classifier: nn.Module, path: Path) -> dict:
    """Write classifier.onnx (images -> logits) and check it against PyTorch."""
    classifier = classifier.cpu().eval()
    _export(classifier, (check_images(2),), path, ["images"], ["logits"])
    return {"max_abs_error": _check_float_model(classifier, path, {"images": check_images()})}


def export_encoder(encoder: nn.Module, path: Path, *, z_dim: int, num_classes: int = 10) -> dict:
    """Write encoder.onnx ((images, class_weights) -> z) and check it against PyTorch."""
    encoder = encoder.cpu().eval()
    classes = torch.eye(num_classes)
    _export(encoder, (check_images(2), classes[:2]), path, ["images", "class_weights"], ["z"])
    feeds = {"images": check_images(num_classes), "class_weights": classes}
    error = _check_float_model(encoder, path, feeds)
    check_encoder_interface(path, z_dim=z_dim, num_classes=num_classes)
    return {"max_abs_error": error}


def export_jacobian(generator: Generator, path: Path) -> dict:
    """Write jacobian.onnx ((z, class_weights) -> (images, jacobian), gan.latent.jacobian) and
    check both outputs against PyTorch."""
    from ..latent.jacobian import GeneratorJacobian

    generator = generator.cpu().eval()
    c = generator.config
    module = GeneratorJacobian(generator)
    _export(module, (torch.zeros(2, c.z_dim), torch.eye(c.num_classes)[:2]), path,
            ["z", "class_weights"], ["images", "jacobian"])
    z = latents_from_seeds(range(c.num_classes), c.z_dim)
    classes = torch.eye(c.num_classes)
    with torch.no_grad():
        expected = [t.numpy() for t in module(z, classes)]
    got = _session(path).run(None, {"z": z.numpy(), "class_weights": classes.numpy()})
    errors = []
    for name, want, have in zip(("images", "jacobian"), expected, got):
        error = float(np.abs(have - want).max()) if have.shape == want.shape else float("inf")
        if not error <= 1e-4 * max(1.0, float(np.abs(want).max())):
            raise ExportError(f"{path.name} differs from PyTorch in {name} by up to {error:g}")
        errors.append(error)
    return {"max_abs_error_images": errors[0], "max_abs_error_jacobian": errors[1]}


def check_encoder_interface(path: Path, *, z_dim: int, num_classes: int = 10) -> None:
    """ExportError unless `path` is an ONNX model with the encoder's inputs and outputs."""
    try:
        session = _session(path)
        n = 3
        z = session.run(["z"], {"images": np.zeros((n, 1, 28, 28), np.float32),
                                "class_weights": np.eye(num_classes, dtype=np.float32)[:n]})[0]
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises several types; all mean "unusable"
        raise ExportError(f"{path} is not an encoder with inputs images [N,1,28,28] and "
                          f"class_weights [N,{num_classes}] and output z [N,{z_dim}]: {exc}") from None
    if z.shape != (n, z_dim) or z.dtype != np.float32 or not np.isfinite(z).all():
        raise ExportError(f"{path}: z must be finite float32 [N, {z_dim}], got {z.dtype} {z.shape}")


def copy_encoder(source: Path, path: Path, *, z_dim: int, num_classes: int = 10) -> dict:
    """An encoder that already is ONNX: checked for the interface, then copied."""
    check_encoder_interface(source, z_dim=z_dim, num_classes=num_classes)
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / path.name
        shutil.copyfile(source, staged)
        shutil.move(staged, path)
    return {"copied_from": source.name}
