"""The calibration table: pure, no database."""

import pytest

from enrichment.emails.calibration import CALIBRATION, calibrate, fit


def test_calibrate_interpolates_between_the_fitted_points():
    table = ((0.0, 0.0), (0.5, 0.6), (1.0, 0.8))
    assert calibrate(0.25, table) == pytest.approx(0.3)
    assert calibrate(0.75, table) == pytest.approx(0.7)
    assert calibrate(-1.0, table) == 0.0
    assert calibrate(2.0, table) == 0.8


def test_the_shipped_table_never_lowers_the_chance_for_a_likelier_guess():
    chances = [calibrate(p / 100) for p in range(101)]
    assert chances == sorted(chances)
    assert [x for x, _ in CALIBRATION] == sorted(x for x, _ in CALIBRATION)


def test_fit_pools_bins_that_would_break_monotonicity():
    # Guesses at 0.2 right half the time, at 0.4 right a quarter, at 0.8 always.
    pairs = [(0.2, i % 2 == 0) for i in range(40)]
    pairs += [(0.4, i % 4 == 0) for i in range(40)]
    pairs += [(0.8, True) for _ in range(40)]
    table = fit(pairs, bins=3)
    ys = [y for _, y in table]
    assert ys == sorted(ys)
    assert table[1] == (0.3, 0.375)  # the 0.2 and 0.4 bins pooled
    assert table[2] == (0.8, 1.0)


def test_fit_needs_guesses():
    with pytest.raises(ValueError, match="no guesses"):
        fit([])
