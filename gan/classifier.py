"""Train the MNIST classifier that the metrics use: `python -m gan.classifier --data-dir DIR`.

It is trained once and shipped (gan/assets/mnist_classifier.safetensors); retraining is only
needed to reproduce it. Random shifts of up to 2 pixels make it judge digits, not positions.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from .data import TensorBatches, load_mnist
from .metrics import CLASSIFIER_PATH, DigitClassifier, classifier_outputs, save_classifier


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files (else $DIGITGAN_DATA_DIR or download)")
    parser.add_argument("--out", default=str(CLASSIFIER_PATH), help="where to write the weights")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    images, labels = load_mnist("train", data_dir=args.data_dir)
    test_images, test_labels = load_mnist("test", data_dir=args.data_dir)
    model = train_classifier(images, labels, epochs=args.epochs, seed=args.seed)
    _, predicted = classifier_outputs(model, test_images)
    accuracy = float((predicted == test_labels).double().mean())
    print(f"MNIST test accuracy {accuracy:.4f} ({time.perf_counter() - start:.0f} s)")
    save_classifier(model, args.out, metadata={
        "test_accuracy": f"{accuracy:.4f}", "epochs": str(args.epochs), "seed": str(args.seed)})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
