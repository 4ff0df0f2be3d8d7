"""Training the MNIST classifier that the metrics use (`python -m gan.train_classifier` runs it).

It is trained once and shipped (gan/model/assets/mnist_classifier.safetensors); retraining is
only needed to reproduce it. Random shifts of up to 2 pixels make it judge digits, not positions.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..data import TensorBatches
from ..model.classifier import DigitClassifier


def random_shift(x: torch.Tensor, max_shift: int, rng: torch.Generator) -> torch.Tensor:
    padded = F.pad(x, [max_shift] * 4, value=-1.0)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2,), generator=rng).tolist()
    return padded[:, :, dy: dy + x.shape[2], dx: dx + x.shape[3]]


def train_classifier(train_images: torch.Tensor, train_labels: torch.Tensor, *, epochs: int = 8,
                     batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                     log=print) -> DigitClassifier:
    torch.manual_seed(seed)
    model = DigitClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    batches = TensorBatches(train_images, train_labels, batch_size=batch_size, seed=seed)
    steps = epochs * (len(batches) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    rng = torch.Generator().manual_seed(seed)
    for step in range(steps):
        x, y = batches.next()
        loss = F.cross_entropy(model(random_shift(x, 2, rng)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0:
            log(f"step {step}/{steps} loss {loss.item():.4f}")
    return model.eval().requires_grad_(False)
