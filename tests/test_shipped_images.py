"""The images the app serves from the shipped weights, pinned byte for byte.

Same inputs, same bytes: a refactoring that changes a pixel, a provenance field or the PNG
encoding fails here. The hashes were taken before the service layer was split into its
modules, and must only change together with a deliberate change of what users get.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gan.files import OutputFolder
from gan.serving.model_holder import ModelHolder
from gan.serving.render import GRID_MODES
from gan.serving.service import DigitService

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    return DigitService(ModelHolder(WEIGHTS), output=OutputFolder(tmp_path_factory.mktemp("out")),
                        auto_reload_s=None)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("args, expected", [
    ((3, 42, 0.8), "475a65d1c15c835fd5d384fe01c9d64ddb7927f15925f579746e76cacca84926"),
    ((0, 0, 1.0), "7c06853e7457ac66cf03f490af359dd0a43df0266478f919d1a3ac5692c26187"),
])
def test_generate(service, args, expected):
    assert sha256(service.generate(*args)) == expected


@pytest.mark.parametrize("mode, expected", [
    (GRID_MODES[0], "8ed23a0ef383d257a61bc36472245479e852a26080ede3b18ab7e3a9002ae204"),
    (GRID_MODES[1], "70becf70532f12471792313a1b0a222a73a50f9b74af55f2342adec927cd3c17"),
    (GRID_MODES[2], "fc9e83b5e369cd742b58fbb5a3ee9151b3b8c840f5bf5a252c6aac76813e7628"),
])
def test_grid(service, mode, expected):
    assert sha256(service.grid(10, 10, 0, mode, 7, 1.0)) == expected


@pytest.mark.parametrize("args, strip_hash, gif_hash", [
    ((3, 1, 8, 2, 12, "slerp", 1.0), "fd1c7ccdd17924f8d56e2434c230ee32704efc436a00722d64f0d87e589b165e",
     "dd3d0a55c1efdbf3645032404e37555d44d169817d296d161ad92dfa3d2ca6d5"),
    ((1, 5, 7, 9, 7, "lerp", 0.7), "d26bc030a5e9177b346ce8c6e63fd8034723f9ab1a2fbe9fea9a7de4caacef73",
     "1bd21a02e1da38bf16154f794b011089087d4e8db63b555e530795059063eb2d"),
])
def test_interpolate(service, args, strip_hash, gif_hash):
    strip, gif = service.interpolate(*args)
    assert (sha256(strip), sha256(gif)) == (strip_hash, gif_hash)
