"""Statistics computed from saved trajectories, shared by figures and reports."""

import numpy as np


def trajectory_correlation(first, second):
    """Return the Pearson correlation of two (T, n) latent trajectories, averaged over the n units.

    Used for Figure 3: how closely inference with phase alternation follows
    wake-only inference on the same test sequence with the same noise.
    """
    first = np.asarray(first, dtype=float)
    second = np.asarray(second, dtype=float)
    if first.shape != second.shape:
        raise ValueError(f"trajectories differ in shape: {first.shape} and {second.shape}")
    first = first - first.mean(axis=0)
    second = second - second.mean(axis=0)
    per_unit = (first * second).sum(axis=0) / np.sqrt((first**2).sum(axis=0) * (second**2).sum(axis=0))
    return float(per_unit.mean())
