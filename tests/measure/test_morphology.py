"""Morpho-MNIST-style measurements (gan/measure_morphology.py) on drawn shapes and on real MNIST."""
import math
import os

import numpy as np
import pytest
from scipy.ndimage import affine_transform, grey_dilation

from gan.measure.morphology import PROPERTIES, STATS_PATH, measure_digits, reference_stats, reference_std


def blank() -> np.ndarray:
    return np.zeros((28, 28), dtype=np.uint8)


def bar(*, width: int = 3, top: int = 4, bottom: int = 24, lean: float = 0.0) -> np.ndarray:
    """A vertical stroke `width` pixels wide; `lean` shifts its top right (pixels per row above
    the middle), like an italic 1."""
    image = blank()
    middle = (top + bottom) / 2
    for row in range(top, bottom):
        left = int(round(14 - width / 2 + lean * (middle - row)))
        image[row, left: left + width] = 255
    return image


def box(*, width: int, height: int, stroke: int = 2) -> np.ndarray:
    """A hollow rectangle `width` x `height` pixels (outer size), centred."""
    image = blank()
    top, left = (28 - height) // 2, (28 - width) // 2
    image[top: top + height, left: left + width] = 255
    image[top + stroke: top + height - stroke, left + stroke: left + width - stroke] = 0
    return image


def shear(image: np.ndarray, amount: float) -> np.ndarray:
    """Move each row right by amount x (rows above the centre): positive = leans right."""
    centre = (image.shape[0] - 1) / 2
    matrix = np.array([[1.0, 0.0], [amount, 1.0]])
    return affine_transform(image.astype(np.float64), matrix, offset=[0.0, -amount * centre],
                            order=1).round().clip(0, 255).astype(np.uint8)


def measure_one(image: np.ndarray) -> dict[str, float]:
    return {k: float(v[0]) for k, v in measure_digits(image[None]).items()}


def test_batch_api_returns_every_property_per_image():
    images = np.stack([bar(), bar(width=5), box(width=12, height=18)])
    measured = measure_digits(images)
    assert set(measured) == set(PROPERTIES)
    assert all(v.shape == (3,) and v.dtype == np.float64 for v in measured.values())
    single = measure_digits(images[1])             # one (28, 28) image is a batch of one
    assert single["thickness"][0] == pytest.approx(measured["thickness"][1])


def test_upright_bar_has_no_slant_and_leaning_bars_have_signed_slant():
    upright, right, left = measure_one(bar()), measure_one(bar(lean=0.5)), measure_one(bar(lean=-0.5))
    assert abs(upright["slant"]) < 1.0
    # a lean of 0.5 px per row is atan(0.5) = 26.6 degrees
    assert right["slant"] == pytest.approx(math.degrees(math.atan(0.5)), abs=3.0)
    assert left["slant"] == pytest.approx(-right["slant"], abs=1.0)


def test_wider_strokes_and_dilation_are_thicker():
    thicknesses = [measure_one(bar(width=w))["thickness"] for w in (2, 3, 5)]
    assert thicknesses == sorted(thicknesses)
    assert thicknesses[0] == pytest.approx(2, abs=0.6) and thicknesses[2] == pytest.approx(5, abs=0.8)
    image = bar(width=2, lean=0.3)
    dilated = grey_dilation(image, size=(1, 3))
    assert measure_one(dilated)["thickness"] > measure_one(image)["thickness"] + 1.0


def test_width_height_and_area_of_a_drawn_box():
    measured = measure_one(box(width=12, height=18))
    assert measured["width"] == pytest.approx(12, abs=1.0)
    assert measured["height"] == pytest.approx(18, abs=1.0)
    assert measured["area"] == 12 * 18 - 8 * 14       # exactly the ink pixels
    assert measured["length"] == pytest.approx(2 * (10 + 16), rel=0.2)  # the skeleton's loop


def test_slant_is_undone_before_width_is_measured():
    upright, leaning = measure_one(bar(width=3)), measure_one(bar(width=3, lean=0.5))
    assert leaning["width"] == pytest.approx(upright["width"], abs=1.0)
    assert leaning["height"] == pytest.approx(upright["height"], abs=0.5)


def test_stroke_length_follows_the_bar():
    short, long = measure_one(bar(top=9, bottom=19)), measure_one(bar(top=4, bottom=24))
    assert long["length"] > short["length"] + 8
    # a skeleton stops about half a stroke width (here 3 px) short of each end
    assert long["length"] == pytest.approx(20 - 3, abs=1.5)


def test_blank_images_give_nan_and_bad_input_is_refused():
    measured = measure_digits(np.stack([blank(), bar()]))
    assert all(math.isnan(v[0]) for v in measured.values())
    assert all(math.isfinite(v[1]) for v in measured.values())
    with pytest.raises(ValueError, match="uint8"):
        measure_digits(np.zeros((2, 28, 28), dtype=np.float32))
    with pytest.raises(ValueError, match="scale"):
        measure_digits(bar()[None], scale=0)


def test_reference_stats_asset_covers_every_property():
    assert STATS_PATH.is_file()
    stats = reference_stats()
    assert set(stats) == set(PROPERTIES)
    std = reference_std()
    assert all(std[p] > 0 for p in PROPERTIES)
    assert 15 < stats["height"]["mean"] < 21          # MNIST digits sit in a 20-pixel box


needs_mnist = pytest.mark.skipif(not os.environ.get("DIGITGAN_DATA_DIR"),
                                 reason="needs the real MNIST IDX files in $DIGITGAN_DATA_DIR")


@pytest.fixture(scope="module")
def real_digits():
    from gan.data import load_mnist

    images, labels = load_mnist("test", data_dir=os.environ["DIGITGAN_DATA_DIR"], download=False)
    return images[:300].numpy(), labels[:300].numpy()


@pytest.mark.mnist
@needs_mnist
def test_real_digits_dilated_are_thicker_and_sheared_are_slanted(real_digits):
    images, _ = real_digits
    base = measure_digits(images)
    dilated = measure_digits(np.stack([grey_dilation(i, size=(2, 2)) for i in images]))
    assert (dilated["thickness"] > base["thickness"]).mean() > 0.95
    assert (dilated["area"] > base["area"]).mean() > 0.99
    italic = measure_digits(np.stack([shear(i, 0.3) for i in images]))
    upright = measure_digits(np.stack([shear(i, -0.3) for i in images]))
    assert (italic["slant"] > base["slant"]).mean() > 0.97
    assert (upright["slant"] < base["slant"]).mean() > 0.97
    assert np.nanmean(italic["slant"] - base["slant"]) == pytest.approx(math.degrees(math.atan(0.3)), abs=5)


@pytest.mark.mnist
@needs_mnist
def test_real_ones_are_narrow_and_zeros_wide(real_digits):
    images, labels = real_digits
    width = measure_digits(images)["width"]
    assert np.median(width[labels == 1]) < 6 < 10 < np.median(width[labels == 0])
