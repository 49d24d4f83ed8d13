"""Helpers shared by the figure modules: finding results, statistics across seeds, saving."""

import re
from pathlib import Path

import numpy as np

from impression.errors import UserError
from impression.progress import log
from impression.storage import load_result

_NAME = re.compile(r"^(?P<prefix>.+)_array(?P<array>\d+)_seed(?P<seed>-?\d+)\.npz$")


def find_results(data_dir, mode, tag=""):
    """Return {(array_num, seed): path} of the result files of mode (and tag) in data_dir."""
    prefix = f"{mode}_{tag}" if tag else mode
    found = {}
    for path in sorted(Path(data_dir).glob(f"{prefix}_array*_seed*.npz")):
        match = _NAME.match(path.name)
        if match and match["prefix"] == prefix:
            found[(int(match["array"]), int(match["seed"]))] = path
    return found


def load_results(data_dir, mode, tag="", required=True):
    """Load every result file of mode; return a list of results sorted by array index and seed.

    Raises UserError naming the command that makes them when none exist
    and required is True.
    """
    found = find_results(data_dir, mode, tag)
    if not found and required:
        command = "il_backprop.py" if tag == "bp" else "impression_learning.py"
        raise UserError(f"no result files of mode {mode!r} in {data_dir}; run python {command} --mode {mode} first")
    results = []
    for key in sorted(found):
        results.append(load_result(found[key]))
        log.info("read %s", found[key])
    return results


def load_sweep(data_dir, mode, array_range, tag=""):
    """Load the results of a sweep over array indices; log which indices are missing.

    Returns {array_num: result} with the lowest seed of each index present.
    Raises UserError when none is present.
    """
    found = find_results(data_dir, mode, tag)
    if not found:
        raise UserError(
            f"no result files of mode {mode!r} in {data_dir}; run the sweep first, e.g. "
            f"python impression_learning.py --mode {mode} --array {array_range[0]}-{array_range[1]}"
        )
    by_index = {}
    for array_num, seed in sorted(found):
        if array_num not in by_index:
            by_index[array_num] = load_result(found[(array_num, seed)])
            log.info("read %s", found[(array_num, seed)])
    missing = [i for i in range(array_range[0], array_range[1] + 1) if i not in by_index]
    if missing:
        log.warning("mode %s: array indices %s are missing from %s; drawing the others", mode, missing, data_dir)
    return by_index


def mean_sem(curves):
    """Return the mean and the standard error of the mean over axis 0 (SEM 0 for one curve)."""
    curves = np.asarray(curves, dtype=float)
    mean = curves.mean(axis=0)
    if curves.shape[0] < 2:
        return mean, np.zeros_like(mean)
    return mean, curves.std(axis=0, ddof=1) / np.sqrt(curves.shape[0])


def set_loss_scale(axis, values):
    """Use a log axis for losses, or symlog when some are zero or negative (possible for wake-only tests)."""
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    if np.all(finite > 0):
        axis.set_yscale("log")
        return
    nonzero = np.abs(finite[finite != 0])
    axis.set_yscale("symlog", linthresh=max(1.0, float(nonzero.min())) if nonzero.size else 1.0)


def autocorrelation(signal, max_lag):
    """Return the normalised autocorrelation of signal for lags 0..max_lag."""
    centred = np.asarray(signal, dtype=float) - np.mean(signal)
    variance = np.dot(centred, centred) / centred.size
    return np.array(
        [np.dot(centred[: centred.size - lag], centred[lag:]) / (centred.size * variance) for lag in range(max_lag + 1)]
    )


def save_figure(figure, figures_dir, name):
    """Write figure as PNG and PDF into figures_dir; return both paths."""
    figures_dir = Path(figures_dir)
    figures_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix in ("png", "pdf"):
        path = figures_dir / f"{name}.{suffix}"
        figure.savefig(path, dpi=150, bbox_inches="tight")
        log.info("saved %s", path)
        paths.append(path)
    return paths
