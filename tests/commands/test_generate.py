"""`python -m gan.generate`: PNG grids with provenance, .npy arrays, usage errors."""
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan import generate as generate_cli
from gan.images import make_grid
from gan.model.weights import load_generator, weights_fingerprint


def _pairs(digits, seeds):
    return [d for d in digits for _ in seeds], seeds * len(digits)  # digit-major


def test_png_grid_end_to_end(core_run, core_weights_dir, tmp_path):
    out = tmp_path / "grid.png"
    result = core_run([sys.executable, "-m", "gan.generate", "--weights", str(core_weights_dir),
                       "--digits", "7,1-2", "--seeds", "0-4", "--truncation", "0.8", "--out", str(out)])
    assert result.returncode == 0, result.stderr
    assert "wrote 15 images" in result.stdout
    with Image.open(out) as image:
        assert image.format == "PNG" and image.mode == "L"
        assert image.size == (5 * 30 + 2, 3 * 30 + 2)  # a column per seed, a row per digit
        assert image.text == {"digits": "7,1-2", "seeds": "0-4", "truncation_psi": "0.8",
                              "weights_sha256": weights_fingerprint(core_weights_dir)}
        pixels = np.asarray(image)
    generator = load_generator(core_weights_dir)
    expected = generator.generate(*_pairs([7, 1, 2], [0, 1, 2, 3, 4]), truncation_psi=0.8)
    assert np.array_equal(pixels, make_grid(expected.numpy(), rows=3, cols=5))


def test_npy_is_digit_major(core_weights_dir, core_generator, tmp_path, capsys):
    out = tmp_path / "images.npy"
    assert generate_cli.main(["--weights", str(core_weights_dir), "--digits", "3,0",
                              "--seeds", "5,9,2", "--out", str(out)]) == 0
    array = np.load(out)
    assert array.shape == (6, 28, 28) and array.dtype == np.uint8
    expected = core_generator.generate(*_pairs([3, 0], [5, 9, 2]))
    assert np.array_equal(array, expected.numpy())
    assert "wrote 6 images" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images.npy", "weights"]  # no temp file


def test_truncation_zero_gives_one_image_per_digit(core_weights_dir, tmp_path):
    out = tmp_path / "t.npy"
    generate_cli.main(["--weights", str(core_weights_dir), "--digits", "4", "--seeds", "0-2",
                       "--truncation", "0", "--out", str(out)])
    array = np.load(out)
    assert (array == array[0]).all()


@pytest.mark.parametrize("args, message", [
    (["--digits", "10"], "digit 10 is out of range 0..9"),
    (["--digits", "3-1"], "the end is below the start"),
    (["--digits", "a"], "bad digit spec part 'a'"),
    (["--digits", ""], "digit spec is empty"),
    (["--seeds", "-1"], "bad seed spec part '-1'"),
    (["--seeds", "4294967296"], "seed 4294967296 is out of range"),
    (["--digits", "0-9", "--seeds", "0-99999"], "more than 100000 images"),
    (["--truncation", "1.5"], "truncation_psi must be a number from 0 to 1"),
    (["--truncation", "nan"], "truncation_psi"),
    (["--out", "grid.jpg"], "--out must end in .png or .npy"),
    (["--out", "no/such/folder/grid.png"], "does not exist"),
    (["--weights", "missing-weights"], "weights folder missing-weights does not exist"),
    (["--device", "bogus"], "not a torch device"),
])
def test_usage_errors_exit_2(core_weights_dir, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    base = ["--weights", str(core_weights_dir), "--digits", "1", "--seeds", "1", "--out", "x.png"]
    with pytest.raises(SystemExit) as info:
        generate_cli.main(base + args)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: python -m gan.generate" in err and message in err
    assert not (tmp_path / "x.png").exists()


def test_broken_weights_are_a_usage_error(core_weights_dir, tmp_path, capsys):
    (core_weights_dir / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(SystemExit) as info:
        generate_cli.main(["--weights", str(core_weights_dir), "--digits", "1", "--seeds", "1",
                           "--out", str(tmp_path / "x.png")])
    assert info.value.code == 2
    assert "not a valid safetensors file" in capsys.readouterr().err


def test_required_arguments(capsys):
    with pytest.raises(SystemExit) as info:
        generate_cli.main([])
    assert info.value.code == 2
    assert "--digits" in capsys.readouterr().err


def test_generation_is_independent_of_the_other_requested_images(core_weights_dir, tmp_path):
    generate_cli.main(["--weights", str(core_weights_dir), "--digits", "0-9", "--seeds", "0-3",
                       "--out", str(tmp_path / "all.npy")])
    generate_cli.main(["--weights", str(core_weights_dir), "--digits", "6", "--seeds", "2",
                       "--out", str(tmp_path / "one.npy")])
    assert np.array_equal(np.load(tmp_path / "all.npy")[6 * 4 + 2], np.load(tmp_path / "one.npy")[0])
    assert torch.equal(torch.from_numpy(np.load(tmp_path / "one.npy")),
                       load_generator(core_weights_dir).generate([6], [2]))


def test_the_readme_python_example_runs(monkeypatch):
    """The README's 'Using the generator' example, as written, on the shipped weights."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Using the generator"):]
    start = section.index("```python") + len("```python")
    code = section[start: section.index("```\n", start)]
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    names: dict = {}
    exec(compile(code, "README.md", "exec"), names)
    assert tuple(names["images"].shape) == (3, 28, 28) and tuple(names["frames"].shape) == (16, 28, 28)
    assert tuple(names["row"].shape) == (10, 28, 28)
    assert torch.equal(names["row"][7], names["generator"].generate([7], [7])[0])
