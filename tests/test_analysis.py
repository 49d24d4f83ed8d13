"""The trajectory correlation of Figure 3 on cases with a known answer."""

import numpy as np
import pytest

from impression.analysis import trajectory_correlation


def test_identical_trajectories_correlate_perfectly():
    trajectory = np.random.default_rng(0).normal(size=(1000, 3))
    assert trajectory_correlation(trajectory, trajectory) == pytest.approx(1.0, abs=1e-12)
    assert trajectory_correlation(trajectory, -2 * trajectory + 5) == pytest.approx(-1.0, abs=1e-12)


def test_added_noise_gives_closed_form_correlation():
    rng = np.random.default_rng(1)
    signal = rng.normal(0, 1.0, size=(200_000, 4))
    noisy = signal + rng.normal(0, 0.5, size=signal.shape)
    # corr(X, X + N) = 1 / sqrt(1 + var N / var X) = 1 / sqrt(1.25) = 0.894; the
    # estimate from 800,000 pairs has a standard error below 1e-3
    assert trajectory_correlation(signal, noisy) == pytest.approx(1 / np.sqrt(1.25), abs=3e-3)


def test_shapes_must_match():
    with pytest.raises(ValueError, match="shape"):
        trajectory_correlation(np.zeros((10, 2)), np.zeros((10, 3)))
