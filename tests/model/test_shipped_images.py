"""The images the app serves from the shipped weights, pinned byte for byte.

Same inputs, same bytes: a refactoring that changes a pixel, a provenance field or the PNG
encoding fails here. The hashes must only change together with a deliberate change of what
users get; they were last taken when the second weights (the R1 recipe) replaced the first.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gan.files import OutputFolder
from gan.serving.model_holder import ModelHolder
from gan.serving.render import GRID_MODES
from gan.serving.service import DigitService

WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return DigitService(ModelHolder(WEIGHTS), output=OutputFolder(tmp_path_factory.mktemp("out")),
                        auto_reload_s=None)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("args, expected", [
    ((3, 42, 0.8), "1ba4e93f9e7bdcb0bf31b848379b6a6765012bc63b2446a6d6f52063e0d55035"),
    ((0, 0, 1.0), "f752d64171d55a607e4e9609852bf6a1ad2350676b03d8507d8ae233bcf633cb"),
])
def test_generate(service, args, expected):
    assert sha256(service.generate(*args)) == expected


@pytest.mark.parametrize("mode, expected", [
    (GRID_MODES[0], "beaa003be591ed9e9ed22e3e2bbdc990439ba857f9c0bcee4082174f96e1c496"),
    (GRID_MODES[1], "3a9a9c95059c97ff47d53ffa3649ac7e0f8aaf4af6dffd51872e4384ced3a6f3"),
    (GRID_MODES[2], "969f93e947dedaa456944b777a0a6d7cc76b4641cb75f2265a6fed06befc6eaa"),
])
def test_grid(service, mode, expected):
    assert sha256(service.grid(10, 10, 0, mode, 7, 1.0)) == expected


@pytest.mark.parametrize("args, strip_hash, gif_hash", [
    ((3, 1, 8, 2, 12, "slerp", 1.0), "d2e80061702cabd7b993eb98f3ca50b6879f6420068bd9ad74e9ea7d40f52c24",
     "8abc5fc8714d76d07681fb81bdbd3f505eb36192c6552c15de4fdf8d55733611"),
    ((1, 5, 7, 9, 7, "lerp", 0.7), "383907866980079227ff4bc634c341db0deb09d35c45aec361b8722c734bbe14",
     "65dc575ff11e6b01149e7affca94f0eed5ecd52264d96bf6c7b9c73d9a64f8a0"),
])
def test_interpolate(service, args, strip_hash, gif_hash):
    strip, gif = service.interpolate(*args)
    assert (sha256(strip), sha256(gif)) == (strip_hash, gif_hash)
