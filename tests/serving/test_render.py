"""gan.serving.render: the layout of grids and pictures (no model calls beyond a tiny one)."""
from __future__ import annotations

from gan.inputs import MAX_SEED
from gan.serving.render import GRID_MODES, fit_scale, grid_cells

# ----------------------------------------------------------------------------- grid layout

def test_grid_one_digit_per_row_shares_seeds_down_each_column():
    digits, seeds = grid_cells(12, 3, 100, GRID_MODES[0], 0)
    assert digits[:3] == [0, 0, 0] and digits[27:30] == [9, 9, 9] and digits[30:33] == [0, 0, 0]
    assert seeds[:3] == [100, 101, 102] and seeds[27:30] == [100, 101, 102]
    assert seeds[30:33] == [103, 104, 105]  # rows 10+ move on to fresh seeds


def test_grid_all_one_digit_and_random_digits():
    digits, seeds = grid_cells(2, 3, 5, GRID_MODES[1], 7)
    assert digits == [7] * 6 and seeds == [5, 6, 7, 8, 9, 10]
    digits, seeds = grid_cells(4, 4, 5, GRID_MODES[2], 0)
    assert all(0 <= d <= 9 for d in digits) and len(set(digits)) > 1
    assert grid_cells(4, 4, 5, GRID_MODES[2], 0) == (digits, seeds)  # seeded, repeatable
    assert grid_cells(4, 4, 6, GRID_MODES[2], 0)[0] != digits


def test_grid_seeds_wrap_past_the_largest_seed():
    _, seeds = grid_cells(1, 3, MAX_SEED, GRID_MODES[1], 0)
    assert seeds == [MAX_SEED, 0, 1]


def test_fit_scale():
    assert fit_scale(28, 28) == 10
    assert fit_scale(302, 302) == 3
    assert fit_scale(482, 482) == 2  # a 16x16 grid
    assert fit_scale(2000, 10) == 1
