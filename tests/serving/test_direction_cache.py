"""New weights never make a request wait for a direction search: Explore steers with the
closed-form SeFa directions at once (marked as not measured) while the measured set is
searched in the background, and weights with their directions.json need no search at all."""
from __future__ import annotations

import dataclasses
import threading
import time

import pytest
import torch

from gan.files import OutputFolder
from gan.latent.direction_search import closed_form_directions, factorize_first_layer
from gan.latent.directions import DirectionSet, save_directions
from gan.serving.direction_cache import DirectionCache
from gan.serving.model_holder import ModelHolder
from gan.serving.service import DigitService
from tests.support.png_files import text_chunks

pytestmark = pytest.mark.timeout(120)


class GatedSearch:
    """A direction search that waits for the test to let it finish, and counts its calls."""

    def __init__(self, result_names=("slant", "thickness")):
        self.release, self.calls = threading.Event(), []
        self.result_names = result_names

    def __call__(self, generator, *, settings, weights_sha256):
        self.calls.append(weights_sha256)
        assert self.release.wait(60), "the test never released the search"
        base = closed_form_directions(generator, count=len(self.result_names), weights_sha256=weights_sha256)
        named = tuple(dataclasses.replace(d, name=name, label=name) for d, name in zip(base, self.result_names))
        return DirectionSet(named, weights_sha256=weights_sha256, method="measured (stand-in)")


def make_service(folder, tmp_path, search) -> DigitService:
    return DigitService(ModelHolder(folder), output=OutputFolder(tmp_path / "out"), auto_reload_s=None,
                        directions=DirectionCache(search=search))


def test_new_weights_explore_at_once_while_the_search_runs(app_weights, tmp_path):
    search = GatedSearch()
    service = make_service(app_weights, tmp_path, search)
    start = time.perf_counter()
    path = service.explore(3, 42, {"direction_1": 1.5}, 1.0)   # the search is still held back
    first_ms = (time.perf_counter() - start) * 1000
    print(f"\nfirst /explore on weights without directions.json: {first_ms:.0f} ms (search still running)")
    meta = text_chunks(path)
    assert meta["directions"].split(",") == [f"direction_{i}" for i in range(1, 9)]
    assert meta["edit"] == "direction_1=1.5"
    assert not service.latent_directions().measured and len(search.calls) == 1
    search.release.set()
    measured = service.directions.wait(service.model(), timeout=30)
    assert measured.measured and measured.names == ["slant", "thickness"]
    assert service.latent_directions() is measured and len(search.calls) == 1  # searched once
    assert text_chunks(service.explore(3, 42, {"slant": 1.5}, 1.0))["edit"] == "slant=1.5"


def test_stored_directions_need_no_search(app_weights, tmp_path):
    search = GatedSearch()
    service = make_service(app_weights, tmp_path, search)
    stored = closed_form_directions(service.model().generator, count=3,
                                    weights_sha256=service.model().fingerprint)
    save_directions(DirectionSet(stored.directions, weights_sha256=stored.weights_sha256, method="stored"),
                    app_weights)
    directions = service.latent_directions()
    assert directions.method == "stored" and directions.measured and search.calls == []


def test_a_failed_search_keeps_the_closed_form_directions(app_weights, tmp_path, caplog):
    def failing(generator, **_):
        raise RuntimeError("out of memory")

    service = make_service(app_weights, tmp_path, failing)
    service.latent_directions()
    directions = service.directions.wait(service.model(), timeout=30)
    assert not directions.measured and len(directions) == 8
    assert "direction search for weights" in caplog.text and "out of memory" in caplog.text


def test_closed_form_directions_are_the_leading_sefa_eigenvectors(core_generator):
    directions = closed_form_directions(core_generator, count=4, weights_sha256="abc")
    _, eigenvectors = factorize_first_layer(core_generator)
    assert directions.names == ["direction_1", "direction_2", "direction_3", "direction_4"]
    assert torch.allclose(directions.matrix(), eigenvectors[:4].float())
    assert not directions.measured and directions.weights_sha256 == "abc"
    again = DirectionSet.from_json(directions.to_json())
    assert not again.measured and again.names == directions.names
