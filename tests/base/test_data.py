"""MNIST IDX reading, folder lookup, batches and the synthetic stand-in data."""
import gzip
import struct
import sys
import types

import pytest
import torch

from gan.data import (
    HOW_TO_GET,
    IDX_FILES,
    MnistNotFound,
    TensorBatches,
    load_idx_split,
    load_mnist,
    make_synthetic_digits,
    read_idx,
)


def idx_bytes(array: torch.Tensor) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.dim()) + b"".join(
        struct.pack(">I", n) for n in array.shape)
    return header + array.to(torch.uint8).contiguous().numpy().tobytes()


def write_split(folder, split, images, labels, *, gz=False):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in zip(IDX_FILES[split], (images, labels)):
        data = idx_bytes(array)
        if gz:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / stem).write_bytes(data)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_plain_and_gzipped(tmp_path, gz):
    array = torch.randint(0, 256, (3, 4, 5), dtype=torch.uint8)
    path = tmp_path / ("x.idx.gz" if gz else "x.idx")
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    out = read_idx(path)
    assert out.dtype == torch.uint8 and torch.equal(out, array)


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_split(tmp_path, gz):
    images, labels = make_synthetic_digits(12)
    write_split(tmp_path, "test", images, labels, gz=gz)
    got_images, got_labels = load_idx_split(tmp_path, "test")
    assert torch.equal(got_images, images)
    assert got_labels.dtype == torch.int64 and torch.equal(got_labels, labels)
    assert torch.equal(load_mnist("test", data_dir=tmp_path)[0], images)


def test_torchvision_layout_is_found(tmp_path):
    images, labels = make_synthetic_digits(5)
    write_split(tmp_path / "MNIST" / "raw", "train", images, labels)
    assert torch.equal(load_idx_split(tmp_path, "train")[0], images)


def test_data_dir_from_environment(tmp_path, monkeypatch):
    images, labels = make_synthetic_digits(7)
    write_split(tmp_path, "train", images, labels, gz=True)
    monkeypatch.setenv("DIGITGAN_DATA_DIR", str(tmp_path))
    assert torch.equal(load_mnist("train", root=str(tmp_path / "unused"))[1], labels)


def _corrupt_cases():
    good = idx_bytes(torch.zeros(2, 28, 28, dtype=torch.uint8))
    return {
        "truncated": (good[:-10], "truncated or corrupt"),
        "bad magic": (b"\x12\x34" + good[2:], "bad magic number"),
        "wrong type": (good[:2] + b"\x0d" + good[3:], "unsigned-byte"),
        "short header": (good[:6], "truncated IDX header"),
        "empty": (b"", "bad magic number"),
        "too long": (good + b"\x00", "truncated or corrupt"),
    }


@pytest.mark.parametrize("case", sorted(_corrupt_cases()))
@pytest.mark.parametrize("gz", [False, True])
def test_corrupt_idx_raises_value_error_with_path(tmp_path, case, gz):
    data, message = _corrupt_cases()[case]
    path = tmp_path / ("bad.gz" if gz else "bad")
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(idx_bytes(torch.zeros(50, 28, 28, dtype=torch.uint8)))[:40])
    with pytest.raises(ValueError, match="cannot read IDX file") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_not_gzip_despite_suffix(tmp_path):
    path = tmp_path / "plain.gz"
    path.write_bytes(idx_bytes(torch.zeros(1, 2, dtype=torch.uint8)))
    with pytest.raises(ValueError, match=str(path)):
        read_idx(path)


def test_split_consistency_checks(tmp_path):
    images, labels = make_synthetic_digits(4)
    write_split(tmp_path / "a", "train", images, labels[:3])
    with pytest.raises(ValueError, match="3 labels for 4 images"):
        load_idx_split(tmp_path / "a", "train")
    write_split(tmp_path / "b", "train", images[:, :, :20], labels)
    with pytest.raises(ValueError, match=r"\(N, 28, 28\)"):
        load_idx_split(tmp_path / "b", "train")
    write_split(tmp_path / "c", "train", images, torch.tensor([0, 1, 2, 12]))
    with pytest.raises(ValueError, match="labels must be 0-9"):
        load_idx_split(tmp_path / "c", "train")
    with pytest.raises(ValueError, match="split must be"):
        load_idx_split(tmp_path / "a", "validation")


def test_missing_folder_says_what_to_get(tmp_path):
    with pytest.raises(MnistNotFound) as info:
        load_idx_split(tmp_path / "nothing-here", "train")
    message = str(info.value)
    assert "train-images-idx3-ubyte" in message and "train-labels-idx1-ubyte" in message
    assert HOW_TO_GET in message and "--data-dir" in message
    assert isinstance(info.value, FileNotFoundError)


def test_half_present_split_names_the_missing_file(tmp_path):
    images, labels = make_synthetic_digits(3)
    write_split(tmp_path, "test", images, labels)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(MnistNotFound, match="t10k-labels-idx1-ubyte") as info:
        load_mnist("test", data_dir=tmp_path)
    assert "t10k-images" not in str(info.value).split("looked for")[1].split(".")[0]


@pytest.mark.parametrize("download", [False, True])
def test_torchvision_failure_says_what_to_get(tmp_path, monkeypatch, download):
    # A stand-in for torchvision (slow to import) that fails as it does offline.
    calls = []

    class OfflineMNIST:
        def __init__(self, root, train, download):
            calls.append((root, train, download))
            raise RuntimeError("Dataset not found" if not download else "<urlopen error>")

    datasets = types.ModuleType("torchvision.datasets")
    datasets.MNIST = OfflineMNIST
    monkeypatch.setitem(sys.modules, "torchvision", types.ModuleType("torchvision"))
    monkeypatch.setitem(sys.modules, "torchvision.datasets", datasets)
    monkeypatch.delenv("DIGITGAN_DATA_DIR", raising=False)
    root = str(tmp_path / "data")
    with pytest.raises(MnistNotFound, match="could not load MNIST") as info:
        load_mnist("test", download=download, root=root)
    assert HOW_TO_GET in str(info.value)
    assert calls == [(root, False, download)]


# ----------------------------------------------------------------------------- batches


def test_synthetic_digits():
    images, labels = make_synthetic_digits(30, seed=3)
    assert images.shape == (30, 28, 28) and images.dtype == torch.uint8
    assert labels.tolist() == [i % 10 for i in range(30)]
    assert set(images.unique().tolist()) == {0, 255}
    assert torch.equal(images, make_synthetic_digits(30, seed=3)[0])
    # each class sits at its own height
    rows = [int(images[i].float().sum(1).nonzero()[0]) for i in range(10)]
    assert rows == sorted(rows) and len(set(rows)) == 10


def test_batches_cover_each_epoch_and_resume_exactly():
    images, labels = make_synthetic_digits(20)
    batches = TensorBatches(images, labels, batch_size=6, seed=1)
    assert len(batches) == 20
    x, y = batches.next()
    assert x.shape == (6, 1, 28, 28) and x.min() >= -1 and x.max() <= 1 and y.shape == (6,)
    epoch = torch.cat([y] + [batches.next()[1] for _ in range(2)])  # 18 of 20, no repeats
    assert len(epoch) == 18
    state = batches.state_dict()
    expected = [batches.next() for _ in range(5)]  # crosses into the next epoch
    resumed = TensorBatches(images, labels, batch_size=6, seed=999)
    resumed.load_state_dict(state)
    for (ex, ey), (gx, gy) in zip(expected, (resumed.next() for _ in range(5))):
        assert torch.equal(ex, gx) and torch.equal(ey, gy)


def test_batches_reject_oversized_batch():
    images, labels = make_synthetic_digits(4)
    with pytest.raises(ValueError, match="exceeds the data set size"):
        TensorBatches(images, labels, batch_size=5, seed=0)
