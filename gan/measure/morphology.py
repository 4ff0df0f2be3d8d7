"""Morpho-MNIST-style measurements of 28x28 digits (Castro et al. 2019).

    python -m gan.measure_morphology --data-dir DIR      # reference statistics over the MNIST train set

Per image (uint8, 0 = background, 255 = ink), in pixels of the 28x28 image unless noted:
- slant:     shear angle in degrees from the intensity-weighted second-order moments,
             atan(-mu11 / mu02); positive = the top leans right (italic), as in Morpho-MNIST
- thickness: mean stroke thickness, 2 x the mean distance to the background along the skeleton
- width:     extent across the digit after undoing its slant (2nd-98th percentile of the ink's
             sheared x positions), so a slanted digit is not counted as wide
- height:    vertical extent of the ink (2nd-98th percentile of its rows)
- area:      number of ink pixels (intensity >= 128)
- length:    stroke length, the number of skeleton pixels

The image work (skeleton, distance transform) runs at `scale` x the resolution after a
bilinear upscale, as Morpho-MNIST does: at 28x28 a stroke is 2-3 pixels wide and the
measurements would move in whole-pixel jumps. `reference_stats()` reads the committed
per-property mean and std over the 60,000 MNIST training digits, the unit in which
latent directions report their effects (no MNIST needed at run time).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

PROPERTIES = ("slant", "thickness", "width", "height", "area", "length")
UNITS = {"slant": "degrees", "thickness": "pixels", "width": "pixels", "height": "pixels",
         "area": "pixels", "length": "pixels"}
THRESHOLD = 128          # ink = intensity >= half of full scale, as Morpho-MNIST binarises
BOUND_FRACTION = 0.02    # width/height ignore this share of ink at each end (stray specks)
DEFAULT_SCALE = 4
STATS_PATH = Path(__file__).parents[1] / "model" / "assets" / "morphology_stats.json"


def _as_uint8_array(images: torch.Tensor | np.ndarray) -> np.ndarray:
    array = images.numpy() if isinstance(images, torch.Tensor) else np.asarray(images)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.dtype != np.uint8:
        raise ValueError(f"images must be uint8 of shape (N, H, W) or (H, W), got "
                         f"{array.dtype} {array.shape}")
    return array


def measure_slant(images: np.ndarray) -> np.ndarray:
    """Shear angle in degrees (N,) from intensity-weighted central moments; NaN if blank."""
    weights = images.astype(np.float64)
    n, h, w = weights.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    total = weights.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        xc = (weights * xs).sum(axis=(1, 2)) / total
        yc = (weights * ys).sum(axis=(1, 2)) / total
        dx = xs[None] - xc[:, None, None]
        dy = ys[None] - yc[:, None, None]
        mu11 = (weights * dx * dy).sum(axis=(1, 2)) / total
        mu02 = (weights * dy * dy).sum(axis=(1, 2)) / total
        # y grows downwards, so a top leaning right gives mu11 < 0: the minus makes italic > 0.
        return np.degrees(np.arctan(-mu11 / mu02))


def _quantile_span(counts: np.ndarray) -> np.ndarray:
    """Per row of a (N, B) histogram: bins from the BOUND_FRACTION to the 1 - BOUND_FRACTION
    quantile of its mass, inclusive (NaN for an empty row)."""
    cumulative = np.cumsum(counts, axis=1)
    total = cumulative[:, -1:]
    lo = np.argmax(cumulative > BOUND_FRACTION * total, axis=1)
    hi = np.argmax(cumulative >= (1 - BOUND_FRACTION) * total, axis=1)
    span = (hi - lo + 1).astype(np.float64)
    span[total[:, 0] == 0] = np.nan
    return span


def _extents(ink: np.ndarray, slant_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(width, height) in pixels of a binary batch (N, H, W); the width is measured across the
    unslanted digit: each ink pixel's column is moved by the shear that undoes the slant."""
    n, h, w = ink.shape
    height = _quantile_span(ink.sum(axis=2))
    shear = np.tan(np.radians(np.nan_to_num(slant_deg)))
    image, row, col = np.nonzero(ink)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.bincount(image, weights=row, minlength=n) / np.bincount(image, minlength=n)
    unslanted = np.round(col + shear[image] * (row - centre[image])).astype(np.int64)
    margin = int(np.abs(unslanted - col).max(initial=0)) + 1
    width_bins = w + 2 * margin
    flat = image * width_bins + unslanted + margin
    counts = np.bincount(flat, minlength=n * width_bins).reshape(n, width_bins)
    return _quantile_span(counts), height


def _upscale(images: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return images.astype(np.float32)
    x = torch.from_numpy(images).float().unsqueeze(1)
    x = torch.nn.functional.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    return x[:, 0].numpy()


def measure_digits(images: torch.Tensor | np.ndarray, *, scale: int = DEFAULT_SCALE) -> dict[str, np.ndarray]:
    """Measure a batch of uint8 digits (N, 28, 28) -> {property: float64 array (N,)}.

    Blank images get NaN. About 1 ms per digit at scale 4 on one idle CPU core.
    """
    from scipy.ndimage import distance_transform_edt  # scikit-image's dependency
    from skimage.morphology import skeletonize

    array = _as_uint8_array(images)
    if not isinstance(scale, int) or isinstance(scale, bool) or not 1 <= scale <= 8:
        raise ValueError(f"scale must be a whole number from 1 to 8, got {scale!r}")
    n = len(array)
    out = {name: np.full(n, np.nan) for name in PROPERTIES}
    out["slant"] = measure_slant(array)
    out["area"] = (array >= THRESHOLD).sum(axis=(1, 2)).astype(np.float64)
    upscaled = _upscale(array, scale) >= THRESHOLD
    width, height = _extents(upscaled, out["slant"])
    out["width"], out["height"] = width / scale, height / scale
    for i in range(n):
        rows, cols = np.nonzero(upscaled[i].any(axis=1))[0], np.nonzero(upscaled[i].any(axis=0))[0]
        if len(rows) == 0:
            continue
        # The skeleton and distance transform only need the ink's bounding box, with a
        # one-pixel border of background so the transform always finds background nearby.
        ink = np.pad(upscaled[i, rows[0]: rows[-1] + 1, cols[0]: cols[-1] + 1], 1)
        skeleton = skeletonize(ink)
        distance = distance_transform_edt(ink)
        out["length"][i] = skeleton.sum() / scale
        out["thickness"][i] = 2.0 * distance[skeleton].mean() / scale
    out["area"][out["area"] == 0] = np.nan
    return out


def summarize_measurements(measurements: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Per property: mean, std, and the 5th/50th/95th percentiles, ignoring NaN (blank images)."""
    return {name: {"mean": float(np.nanmean(v)), "std": float(np.nanstd(v)),
                   "p5": float(np.nanpercentile(v, 5)), "median": float(np.nanmedian(v)),
                   "p95": float(np.nanpercentile(v, 95))}
            for name, v in measurements.items()}


def make_reference_stats(images: torch.Tensor | np.ndarray, *, labels: torch.Tensor | np.ndarray | None = None,
                         scale: int = DEFAULT_SCALE, source: str = "MNIST train") -> dict:
    """The JSON document `reference_stats` reads: the statistics and how they were made.

    With `labels`, also the mean and std per digit (the spread within one class, which is
    what a latent edit of one digit moves through).
    """
    measurements = measure_digits(images, scale=scale)
    document = {"source": source, "count": int(len(_as_uint8_array(images))), "scale": scale,
                "threshold": THRESHOLD, "bound_fraction": BOUND_FRACTION, "units": dict(UNITS),
                "properties": summarize_measurements(measurements)}
    if labels is not None:
        labels = np.asarray(labels)
        document["per_digit"] = {
            str(d): {name: {"mean": float(np.nanmean(v[labels == d])),
                            "std": float(np.nanstd(v[labels == d]))}
                     for name, v in measurements.items()}
            for d in sorted(set(labels.tolist()))}
    return document


@lru_cache(maxsize=4)
def _read_stats(path: str) -> dict:
    return json.loads(Path(path).read_text())


def reference_stats(path: str | Path = STATS_PATH) -> dict[str, dict[str, float]]:
    """{property: {"mean", "std", ...}} over real MNIST, from the committed JSON asset."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; make it with "
                                "`python -m gan.measure_morphology --data-dir DIR`")
    return _read_stats(str(path))["properties"]


def reference_std(path: str | Path = STATS_PATH) -> dict[str, float]:
    """The real-data standard deviation per property: the unit of a direction's effect."""
    return {name: stats["std"] for name, stats in reference_stats(path).items()}
