"""`python -m gan.generate --edit`: the Explore tab's named directions from the command line,
on the shipped weights (their directions.json makes the lookup instant)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import gan.generate as generate_cli
from gan.latent.direction_search import load_directions
from gan.latent.directions import generate_edited, read_directions
from gan.model.weights import load_generator

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def test_edit_moves_the_digits_as_the_library_does(tmp_path):
    out = tmp_path / "edited.npy"
    assert generate_cli.main(["--weights", str(WEIGHTS), "--digits", "1,7", "--seeds", "0-2",
                              "--truncation", "0.8", "--edit", "slant=2,thickness=-1", "--out", str(out)]) == 0
    generator = load_generator(WEIGHTS)
    directions = load_directions(WEIGHTS, generator)
    expected = generate_edited(generator, [1, 1, 1, 7, 7, 7], [0, 1, 2] * 2, directions=directions,
                               strengths={"slant": 2.0, "thickness": -1.0}, truncation_psi=0.8)
    edited = np.load(out)
    assert np.array_equal(edited, expected.numpy())
    plain = generator.generate([1, 1, 1, 7, 7, 7], [0, 1, 2] * 2, truncation_psi=0.8).numpy()
    assert not np.array_equal(edited, plain)


def test_edit_is_recorded_in_the_png(tmp_path):
    out = tmp_path / "edited.png"
    generate_cli.main(["--weights", str(WEIGHTS), "--digits", "3", "--seeds", "5", "--edit", "slant=1.5",
                       "--out", str(out)])
    with Image.open(out) as im:
        assert im.text["edit"] == "slant=1.5"


@pytest.mark.parametrize("edit, message", [
    ("wobble=1", "unknown direction 'wobble'"),
    ("slant=4", "must be a number from -3 to 3"),
    ("slant=nan", "must be a number from -3 to 3"),
    ("slant", "must look like name=strength"),
    ("slant=1,slant=2", "given twice"),
])
def test_bad_edits_are_usage_errors(tmp_path, capsys, edit, message):
    with pytest.raises(SystemExit) as info:
        generate_cli.main(["--weights", str(WEIGHTS), "--digits", "3", "--seeds", "5", "--edit", edit,
                           "--out", str(tmp_path / "x.png")])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_no_edit_is_the_plain_generator():
    generator = load_generator(WEIGHTS)
    directions = read_directions(WEIGHTS)
    none = {name: 0.0 for name in directions.names}
    assert torch.equal(generate_edited(generator, [4, 7], [9, 3], directions=directions, strengths=none,
                                       truncation_psi=0.6),
                       generator.generate([4, 7], [9, 3], truncation_psi=0.6))
