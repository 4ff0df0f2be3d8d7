"""The project's digit classifier: a small CNN (about 99% on MNIST test) that reads digits.

It judges samples (class accuracy), gives the 128-d feature space of the Frechet distance and
coverage (gan.measure), reads a visitor's drawing and scores latent searches (gan.latent).
Trained once by `python -m gan.train_classifier` and shipped in gan/model/assets/.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import load_file
from safetensors.torch import save as save_bytes

from ..files import atomic_write_bytes
from ..images import from_uint8

CLASSIFIER_PATH = Path(__file__).parent / "assets" / "mnist_classifier.safetensors"


class DigitClassifier(nn.Module):
    """A small CNN (about 99% MNIST test accuracy) whose 128-d penultimate layer is the
    feature space for the Frechet distance and coverage."""

    feature_dim = 128

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc = nn.Linear(64 * 7 * 7, self.feature_dim)
        self.head = nn.Linear(self.feature_dim, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return F.relu(self.fc(x.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def load_classifier(path: str | Path = CLASSIFIER_PATH, *, device: str | torch.device = "cpu") -> DigitClassifier:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"classifier weights {path} not found; make them with "
                                "`python -m gan.train_classifier --data-dir DIR`")
    model = DigitClassifier()
    model.load_state_dict(load_file(str(path)), strict=True)
    return model.eval().requires_grad_(False).to(device)


def save_classifier(model: DigitClassifier, path: str | Path, *, metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save_bytes(tensors, metadata=metadata))


@torch.inference_mode()
def classifier_outputs(classifier: DigitClassifier, images: torch.Tensor, *,
                       batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 images (N, 28, 28) -> (features (N, 128) float64, predicted labels (N,))."""
    device = next(classifier.parameters()).device
    feats, preds = [], []
    for batch in images.split(batch_size):
        x = from_uint8(batch).unsqueeze(1).to(device)
        h = classifier.features(x)
        feats.append(h.double().cpu())
        preds.append(classifier.head(h).argmax(1).cpu())
    return torch.cat(feats), torch.cat(preds)


@torch.no_grad()
def read_digits(classifier: DigitClassifier, images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> the classifier's probabilities (N, 10)."""
    device = next(classifier.parameters()).device
    return F.softmax(classifier(from_uint8(images).unsqueeze(1).to(device)), dim=1).cpu()
