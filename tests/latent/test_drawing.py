"""Drawings -> MNIST-style 28x28 digits (gan/drawing.py) and the image input rules."""
import numpy as np
import pytest
from PIL import Image, ImageDraw

from gan.inputs import as_image_array, as_image_size
from gan.latent.drawing import DrawingError, prepare_drawing


def draw_seven(size: int = 280, *, offset: tuple[int, int] = (0, 0), scale: float = 1.0,
               ink: int = 255, paper: int = 0, width: int | None = None) -> np.ndarray:
    """A '7' drawn with a thick pen on a square canvas: uint8 (size, size)."""
    canvas = Image.new("L", (size, size), paper)
    pen = ImageDraw.Draw(canvas)
    s = size / 280 * scale
    dx, dy = offset
    points = [(60 * s + dx, 50 * s + dy), (200 * s + dx, 50 * s + dy), (110 * s + dx, 230 * s + dy)]
    pen.line(points, fill=ink, width=width or max(1, round(22 * s)), joint="curve")
    return np.asarray(canvas)


def ink_box(image: np.ndarray) -> tuple[int, int]:
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    mass = image.astype(np.float64)
    total = mass.sum()
    return ((mass.sum(axis=1) * np.arange(28)).sum() / total,
            (mass.sum(axis=0) * np.arange(28)).sum() / total)


def rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(((a.astype(np.float64) - b.astype(np.float64)) / 255) ** 2).mean())


def test_digit_is_scaled_to_20_pixels_and_centred_by_mass_wherever_it_was_drawn():
    centred = prepare_drawing(draw_seven())
    assert centred.shape == (28, 28) and centred.dtype == np.uint8
    assert max(ink_box(centred)) == 20
    for image in (centred, prepare_drawing(draw_seven(offset=(-50, 40), scale=0.6))):
        com_y, com_x = centre_of_mass(image)
        # MNIST: centre of mass at pixel (14, 14), placed by a whole-pixel shift
        assert abs(com_y - 14) <= 0.5 and abs(com_x - 14) <= 0.5
    moved = prepare_drawing(draw_seven(offset=(-50, 40), scale=0.6))
    assert rms(moved, centred) < 0.06  # position and size no longer matter


@pytest.mark.parametrize("height, width, expected", [(200, 40, (20, 4)), (40, 200, (4, 20)),
                                                     (100, 100, (20, 20))])
def test_aspect_ratio_is_kept_when_scaling(height, width, expected):
    canvas = np.zeros((300, 300), np.uint8)
    canvas[50: 50 + height, 30: 30 + width] = 255
    assert ink_box(prepare_drawing(canvas)) == expected


def test_black_on_white_transparent_and_grey_paper_give_the_same_digit():
    white_on_black = prepare_drawing(draw_seven())
    black_on_white = prepare_drawing(draw_seven(ink=0, paper=255))
    assert np.array_equal(white_on_black, black_on_white)
    # a sketchpad's RGBA: black strokes on a transparent background
    alpha = draw_seven()
    rgba = np.zeros((*alpha.shape, 4), np.uint8)
    rgba[:, :, 3] = alpha
    assert np.array_equal(prepare_drawing(rgba), white_on_black)
    # the same with white strokes: the colour of the strokes does not matter, only alpha
    rgba[:, :, :3] = 255
    assert np.array_equal(prepare_drawing(rgba), white_on_black)
    # dark-grey pen on light-grey paper, as RGB
    grey = draw_seven(ink=40, paper=200)
    assert np.abs(prepare_drawing(np.stack([grey] * 3, axis=2)).astype(int) - white_on_black).max() <= 1


def test_pil_images_float_arrays_and_bool_arrays_are_accepted():
    drawn = draw_seven()
    expected = prepare_drawing(drawn)
    assert np.array_equal(prepare_drawing(Image.fromarray(drawn)), expected)
    assert np.array_equal(prepare_drawing(Image.fromarray(drawn).convert("RGB")), expected)
    assert np.array_equal(prepare_drawing(drawn.astype(np.float32) / 255), expected)
    transparent = Image.new("RGBA", (280, 280), (0, 0, 0, 0))
    transparent.putalpha(Image.fromarray(drawn))
    assert np.array_equal(prepare_drawing(transparent), expected)
    binary = prepare_drawing(drawn > 127)
    assert rms(binary, expected) < 0.03


def test_an_mnist_style_digit_is_left_nearly_as_it_is():
    digit = prepare_drawing(draw_seven())
    assert rms(prepare_drawing(digit), digit) < 0.03
    # the same digit enlarged 10x (an upload of a small image) comes back the same
    enlarged = np.repeat(np.repeat(digit, 10, axis=0), 10, axis=1)
    assert rms(prepare_drawing(enlarged), digit) < 0.05


def test_a_thin_pen_still_reaches_full_ink_like_every_mnist_digit():
    thin = prepare_drawing(draw_seven(width=4))  # strokes 0.3 px wide once scaled to 20 px
    assert thin.max() == 255 and max(ink_box(thin)) == 20


def test_a_large_canvas_is_prepared_like_a_small_one():
    small = prepare_drawing(draw_seven(280))
    large = prepare_drawing(draw_seven(2800))  # box-averaged before the float work
    assert rms(small, large) < 0.03


@pytest.mark.parametrize("canvas, message", [
    (np.zeros((200, 200), np.uint8), "empty"),
    (np.full((200, 200), 255, np.uint8), "empty"),
    (np.zeros((200, 200, 4), np.uint8), "empty"),                  # a cleared sketchpad
    (np.pad(np.full((200, 200), 255, np.uint8), 2), "ink covers"),  # all ink but the edge
])
def test_canvases_without_a_digit_are_refused_with_a_message(canvas, message):
    with pytest.raises(DrawingError, match=message):
        prepare_drawing(canvas)


def test_a_speck_is_refused():
    canvas = np.zeros((500, 500), np.uint8)
    canvas[240:245, 250:253] = 255
    with pytest.raises(DrawingError, match="speck"):
        prepare_drawing(canvas)


def test_huge_images_are_refused_before_they_are_processed():
    with pytest.raises(ValueError, match="too large"):
        prepare_drawing(np.zeros((5000, 4000), np.uint8))
    with pytest.raises(ValueError, match="too large"):
        prepare_drawing(Image.new("L", (5000, 4000)))
    with pytest.raises(ValueError, match="too large"):
        as_image_size(100, 100, max_pixels=9999)
    assert as_image_size(4096, 4096) == (4096, 4096)


@pytest.mark.parametrize("value, message", [
    (np.zeros(100, np.uint8), "shape"),
    (np.zeros((10, 10, 5), np.uint8), "shape"),
    (np.zeros((0, 10), np.uint8), "at least 1x1"),
    (np.zeros((10, 10), np.uint16), "dtype"),
    (np.full((10, 10), 2.0), "from 0 to 1"),
    (np.full((10, 10), np.nan), "NaN"),
    (42, "a PIL image or a numpy array, got int"),
    (None, "Draw a digit on the canvas"),
])
def test_unusable_arrays_are_refused(value, message):
    with pytest.raises(ValueError, match=message):
        as_image_array(value)
    with pytest.raises(ValueError, match=message):
        prepare_drawing(value)


def test_image_files_are_opened_under_the_size_rule(tmp_path):
    from tests.support.drawings import BAD_UPLOADS, SEVEN, draw_strokes, png_bytes, write_bad_uploads

    seven = png_bytes(draw_strokes(SEVEN, "paper"))
    (tmp_path / "seven.png").write_bytes(seven)
    from_path, from_bytes = prepare_drawing(tmp_path / "seven.png"), prepare_drawing(seven)
    assert np.array_equal(from_path, from_bytes) and from_path.std() > 0
    assert np.array_equal(from_path, prepare_drawing(draw_strokes(SEVEN, "paper")))
    for name, path in write_bad_uploads(tmp_path / "bad").items():
        with pytest.raises(ValueError) as info:
            prepare_drawing(path)
        message = str(info.value)
        assert BAD_UPLOADS[name] in message
        assert "too large" in message or "upload a PNG, JPEG" in message  # what is allowed
    with pytest.raises(ValueError, match="cannot be read"):
        prepare_drawing(tmp_path / "missing.png")
