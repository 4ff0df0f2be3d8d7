"""Train the MNIST classifier that the metrics use: `python -m gan.train_classifier --data-dir DIR`.

It is trained once and shipped (gan/model/assets/mnist_classifier.safetensors); retraining is
only needed to reproduce it (see gan.measure.classifier_training).
"""
from __future__ import annotations

import argparse
import time

from .data import load_mnist
from .measure.classifier_training import train_classifier
from .model.classifier import CLASSIFIER_PATH, classifier_outputs, save_classifier


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
