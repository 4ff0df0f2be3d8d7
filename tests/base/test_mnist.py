"""Real MNIST: the IDX files in $DIGITGAN_DATA_DIR and the shipped classifier on them.

Skipped unless DIGITGAN_DATA_DIR points at a folder with the four MNIST IDX files.
"""
import os

import pytest
import torch

from gan.data import DATA_DIR_ENV, load_mnist
from gan.model.classifier import CLASSIFIER_PATH, classifier_outputs, load_classifier

pytestmark = [
    pytest.mark.mnist,
    pytest.mark.skipif(not os.environ.get(DATA_DIR_ENV),
                       reason=f"needs the real MNIST IDX files in ${DATA_DIR_ENV}"),
]

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="module")
def mnist_test():
    return load_mnist("test", data_dir=os.environ[DATA_DIR_ENV], download=False)


def test_idx_files_have_the_mnist_counts_and_shapes(mnist_test):
    images, labels = load_mnist("train", data_dir=os.environ[DATA_DIR_ENV], download=False)
    assert images.shape == (60000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    assert torch.bincount(labels, minlength=10).tolist() == TRAIN_COUNTS
    assert int(images.max()) == 255 and int(images.min()) == 0
    assert 30 < float(images.float().mean()) < 36  # mostly background: 0 = black, ink is bright

    test_images, test_labels = mnist_test
    assert test_images.shape == (10000, 28, 28) and test_labels.shape == (10000,)
    assert torch.bincount(test_labels, minlength=10).tolist() == TEST_COUNTS


def test_shipped_classifier_scores_at_least_98_5_percent(mnist_test):
    assert CLASSIFIER_PATH.is_file(), f"{CLASSIFIER_PATH} is missing"
    classifier = load_classifier(CLASSIFIER_PATH)
    images, labels = mnist_test
    feats, predicted = classifier_outputs(classifier, images)
    assert feats.shape == (10000, 128)
    accuracy = float((predicted == labels).double().mean())
    assert accuracy >= 0.985, f"classifier test accuracy {accuracy:.4f}"
