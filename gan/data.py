"""MNIST as tensors: from an IDX folder, or through torchvision's download.

The whole data set (60,000 x 28 x 28 bytes) is held as one tensor on the training device and
batches are drawn by indexing it, so a GPU is never waiting on a DataLoader or PIL.
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import torch

from .config import TrainConfig
from .images import from_uint8

DATA_DIR_ENV = "DIGITGAN_DATA_DIR"
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
HOW_TO_GET = ("Get the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
              "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped or not) into one folder "
              f"and pass it as --data-dir or ${DATA_DIR_ENV}, or leave both unset on a machine "
              "with internet access to let torchvision download MNIST.")


class MnistNotFound(FileNotFoundError):
    pass


def read_idx(path: str | os.PathLike) -> torch.Tensor:
    """Read one IDX file (optionally gzipped) of unsigned bytes into a uint8 tensor."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: expected unsigned-byte IDX data (type 0x08), got 0x{raw[2]:02x}")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(torch.Size(shape).numel())
    if len(raw) != expected:
        raise ValueError(f"{path}: IDX header says {shape} ({expected} bytes) but the file has "
                         f"{len(raw)} bytes; the file is truncated or corrupt")
    return torch.frombuffer(bytearray(raw[header:]), dtype=torch.uint8).view(*shape).clone()


def _find(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz", folder / "MNIST" / "raw" / stem,
                      folder / "MNIST" / "raw" / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_idx_split(folder: str | os.PathLike, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(images uint8 (N, 28, 28), labels int64 (N,)) of one split from an IDX folder."""
    folder = Path(folder)
    if split not in IDX_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    paths = [_find(folder, stem) for stem in IDX_FILES[split]]
    missing = [stem for stem, p in zip(IDX_FILES[split], paths) if p is None]
    if missing:
        raise MnistNotFound(f"MNIST {split} files not found in {folder}: looked for "
                            f"{', '.join(m + '[.gz]' for m in missing)}. {HOW_TO_GET}")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.dim() != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{paths[0]}: expected images of shape (N, 28, 28), got {tuple(images.shape)}")
    if labels.dim() != 1 or len(labels) != len(images):
        raise ValueError(f"{paths[1]}: {len(labels)} labels for {len(images)} images")
    if int(labels.max()) > 9:
        raise ValueError(f"{paths[1]}: labels must be 0-9, found {int(labels.max())}")
    return images, labels.long()


def resolve_data_dir(data_dir: str | os.PathLike | None) -> str | None:
    """--data-dir wins, then $DIGITGAN_DATA_DIR; None means 'use torchvision'."""
    return str(data_dir) if data_dir else os.environ.get(DATA_DIR_ENV) or None


def load_mnist(split: str = "train", *, data_dir: str | os.PathLike | None = None,
               download: bool = True, root: str = "data") -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST images (uint8, N x 28 x 28, 0 = background) and labels (int64).

    With a data folder (argument or environment variable) the IDX files are read from it;
    otherwise torchvision's MNIST is used with its normal download into `root`.
    """
    folder = resolve_data_dir(data_dir)
    if folder is not None:
        return load_idx_split(folder, split)
    try:
        return load_idx_split(root, split)  # an earlier torchvision download
    except MnistNotFound:
        pass
    from torchvision.datasets import MNIST  # imported late: only needed for the download path

    try:
        dataset = MNIST(root, train=(split == "train"), download=download)
    except Exception as exc:  # network errors come in many types
        raise MnistNotFound(f"could not load MNIST through torchvision into {root!r}: {exc}. "
                            f"{HOW_TO_GET}") from exc
    return dataset.data.clone(), dataset.targets.long().clone()


class TensorBatches:
    """Endless shuffled minibatches from tensors held on one device.

    Each epoch is a fresh permutation drawn from a private CPU generator; `state_dict`
    captures the permutation, the position in it and the generator, so a resumed run
    sees exactly the batches the uninterrupted run would have seen.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int,
                 seed: int, device: torch.device | str = "cpu"):
        if batch_size > len(images):
            raise ValueError(f"batch_size {batch_size} exceeds the data set size {len(images)}")
        self.images = from_uint8(images).unsqueeze(1).to(device)  # (N, 1, 28, 28) in [-1, 1]
        self.labels = labels.to(device)
        self.batch_size = batch_size
        self.rng = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(len(images), generator=self.rng).to(device)
        self.pos = 0

    def __len__(self) -> int:
        return len(self.images)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pos + self.batch_size > len(self.perm):  # drop the ragged tail of each epoch
            self.perm = torch.randperm(len(self.images), generator=self.rng).to(self.images.device)
            self.pos = 0
        idx = self.perm[self.pos: self.pos + self.batch_size]
        self.pos += self.batch_size
        return self.images[idx], self.labels[idx]

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state(), "perm": self.perm.cpu(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.rng.set_state(state["rng"])
        self.perm = state["perm"].to(self.images.device)
        self.pos = int(state["pos"])


def make_synthetic_digits(n: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiny stand-in data for tests: each class is a bright bar at its own position, jittered."""
    rng = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    images = torch.zeros(n, 28, 28, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        row = 2 + 2 * label + int(torch.randint(0, 2, (1,), generator=rng))
        images[i, row: row + 3, 4:24] = 255
    return images, labels


class ClassGroupedBatches:
    """Endless minibatches made of groups of `group_size` images of one class.

    D's minibatch-stddev feature is computed over such groups, so it measures the variety
    *within a class*: a conditional G that ignores z (one image per class) produces groups
    with no spread, which D can then see. The fakes of a step reuse the real batch's labels,
    so real and fake groups have the same classes.

    Groups draw their class in proportion to the class frequencies and their images
    uniformly within the class (with replacement), from a private CPU generator whose state
    is all a checkpoint needs.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int,
                 group_size: int, seed: int, device: torch.device | str = "cpu"):
        if batch_size % group_size:
            raise ValueError(f"batch_size {batch_size} is not a multiple of group_size {group_size}")
        self.images = from_uint8(images).unsqueeze(1).to(device)  # (N, 1, 28, 28) in [-1, 1]
        self.labels = labels.to(device)
        order = torch.argsort(labels, stable=True)
        counts = torch.bincount(labels)
        present = torch.nonzero(counts).flatten()
        self.by_class = order.to(device)                  # indices sorted by label
        self.starts = (torch.cumsum(counts, 0) - counts)[present]
        self.counts = counts[present]
        self.batch_size, self.group_size = batch_size, group_size
        self.rng = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.images)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        groups = self.batch_size // self.group_size
        which = torch.multinomial(self.counts.double(), groups, replacement=True, generator=self.rng)
        offsets = (torch.rand(groups, self.group_size, generator=self.rng) * self.counts[which, None]).long()
        idx = (self.starts[which, None] + offsets).flatten()
        if self.by_class.is_cuda:  # a pinned buffer copies without waiting for the GPU's queue
            idx = idx.pin_memory().to(self.by_class.device, non_blocking=True)
        idx = self.by_class[idx]
        return self.images[idx], self.labels[idx]

    def state_dict(self) -> dict:
        return {"rng": self.rng.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.rng.set_state(state["rng"])


def load_training_data(cfg: TrainConfig, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """A run's data: synthetic digits if cfg.synthetic_size, else MNIST."""
    if cfg.synthetic_size:
        return make_synthetic_digits(cfg.synthetic_size, seed=cfg.seed + (split == "test"))
    return load_mnist(split, data_dir=cfg.data_dir, download=cfg.download)
