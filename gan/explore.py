"""The Explore requests: a seed's digit moved along named latent directions, and the same
edited style written as all ten digits.

Directions belong to the weights (they are found in G's first layer), so they are looked up
once per served model and kept with it (`DirectionCache`).
"""
from __future__ import annotations

import threading

from .directions import DirectionSet, format_edit_spec, generate_edited, load_directions
from .images import upscale
from .model_holder import LoadedModel
from .pictures import DIGIT_SCALE, Picture, fit_scale, provenance, strip_of
from .timing import NO_STATS, ServingStats


class DirectionCache:
    """The named directions of each served model, found (or read from directions.json) on
    first use; a reload to other weights gets theirs."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_fingerprint: dict[str, DirectionSet] = {}

    def get(self, model: LoadedModel) -> DirectionSet:
        with self._lock:  # one search at a time; later requests find the result
            found = self._by_fingerprint.get(model.fingerprint)
            if found is None:
                found = self._find(model)
                self._by_fingerprint[model.fingerprint] = found
            return found

    @staticmethod
    def _find(model: LoadedModel) -> DirectionSet:
        if model.folder is not None:
            return load_directions(model.folder, model.generator)
        from .direction_search import QUICK_SEARCH, find_directions

        return find_directions(model.generator, settings=QUICK_SEARCH,
                               weights_sha256=model.fingerprint)


def _edit_fields(strengths: dict[str, float]) -> dict[str, object]:
    return {"edit": format_edit_spec(strengths) or "none",
            "strengths": [strengths[name] for name in strengths],
            "directions": list(strengths)}


def render_explored(model: LoadedModel, directions: DirectionSet, digit: int, seed: int,
                    strengths: dict[str, float], truncation_psi: float = 1.0, *,
                    stats: ServingStats = NO_STATS) -> Picture:
    """One edited digit, 280x280, with everything that remakes it in its provenance."""
    with stats.timed("explore.model"):
        image = generate_edited(model.generator, [digit], [seed], directions=directions,
                                strengths=strengths, truncation_psi=truncation_psi)[0].numpy()
    fields = _edit_fields(strengths)
    meta = provenance(model, digit=digit, seed=seed, truncation_psi=truncation_psi, **fields,
                      scale=DIGIT_SCALE,
                      Description=f"digit {digit}, seed {seed}, truncation psi {truncation_psi}, "
                                  f"edit {fields['edit']}")
    return Picture(upscale(image, DIGIT_SCALE), meta,
                   f"explore_digit{digit}_seed{seed}_{model.fingerprint[:8]}")


def render_explored_row(model: LoadedModel, directions: DirectionSet, seed: int,
                        strengths: dict[str, float], truncation_psi: float = 1.0, *,
                        stats: ServingStats = NO_STATS) -> Picture:
    """The same edited latent drawn as every digit 0-9, in one row."""
    digits = list(range(model.config.num_classes))
    with stats.timed("explore.row_model"):
        images = generate_edited(model.generator, digits, [seed] * len(digits),
                                 directions=directions, strengths=strengths,
                                 truncation_psi=truncation_psi)
    row = strip_of(images)
    scale = fit_scale(*row.shape)
    meta = provenance(model, digits=digits, seed=seed, truncation_psi=truncation_psi,
                      **_edit_fields(strengths), scale=scale,
                      Description=f"digits 0-9 in the style of seed {seed}, edited")
    return Picture(upscale(row, scale), meta, f"explore_row_seed{seed}_{model.fingerprint[:8]}")
