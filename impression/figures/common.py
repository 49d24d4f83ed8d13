"""Helpers shared by the figure modules: finding and checking results, statistics across seeds, saving."""

import re
from pathlib import Path

import numpy as np

from impression.errors import UserError
from impression.progress import log, plural
from impression.storage import load_result, run_result_path

# <mode>[_<tag>]_array<i>_seed<s>.npz, as impression.storage.result_path names result files.
RESULT_FILE_NAME = re.compile(r"^(?P<prefix>.+)_array(?P<array>\d+)_seed(?P<seed>-?\d+)\.npz$")

# Parameters that may differ between results drawn together: they name the
# run and where it wrote, not what it computed.
RUN_IDENTITY_PARAMS = ("seed", "array_num", "data_dir", "figures_dir")
MAX_FILES_NAMED = 4  # file names listed per parameter value in the message of report_differing_params
# Parameters that only the REINFORCE rule reads; impression-learning training runs ignore them.
REINFORCE_ONLY_PARAMS = ("reinforce_variant", "gamma", "eta_reinforce", "eta_reinforce_original")


def find_results(data_dir, mode, tag=""):
    """Return {(array_num, seed): path} of the result files of mode (and tag) in data_dir."""
    prefix = f"{mode}_{tag}" if tag else mode
    found = {}
    for path in sorted(Path(data_dir).glob(f"{prefix}_array*_seed*.npz")):
        match = RESULT_FILE_NAME.match(path.name)
        if match and match["prefix"] == prefix:
            found[(int(match["array"]), int(match["seed"]))] = path
    return found


def read_result(path):
    """Load the result file at path and record its name under 'source_file' for messages.

    Logs a warning when the array index or seed stored in the file differs
    from the one in its name, which happens when a file was renamed.
    """
    path = Path(path)
    result = load_result(path)
    log.info("read %s", path)
    result["source_file"] = path.name
    match = RESULT_FILE_NAME.match(path.name)
    if match:
        for group, key, name in (("array", "array_num", "array index"), ("seed", "seed", "seed")):
            stored = result.get(key)
            if stored is not None and stored != int(match[group]):
                log.warning(
                    "%s: the file name gives %s %s, but the run inside has %s %s",
                    path,
                    name,
                    match[group],
                    name,
                    stored,
                )
    return result


def check_result(result, path, mode, algorithm=None, variant=None):
    """Raise UserError unless the result read from path is of mode, algorithm and REINFORCE variant.

    algorithm and variant are checked only when given. The variant is the
    stored parameter reinforce_variant ('corrected' or 'original').
    """
    stored_mode = result.get("mode")
    if stored_mode != mode:
        raise UserError(
            f"{path} contains a result of mode {stored_mode!r}, but its name puts it in the figure of mode {mode!r}; "
            f"move it out of {Path(path).parent} or rename it to {own_file_name(result)}"
        )
    stored_algorithm = result.get("algorithm")
    if algorithm is not None and stored_algorithm != algorithm:
        raise UserError(
            f"{path} contains a {stored_algorithm!r} run of mode {mode!r}, but the figure expects a {algorithm!r} run "
            "under this name; move it out of the folder or rerun that array index"
        )
    stored_variant = result.get("params", {}).get("reinforce_variant")
    if variant is not None and stored_variant != variant:
        raise UserError(
            f"{path} contains a run of mode {mode!r} with reinforce_variant {stored_variant!r}, but the figure "
            f"expects {variant!r} under this name (files of the authors' rule carry the tag 'original'); "
            "move it out of the folder or rerun that array index"
        )


def own_file_name(result):
    """Return the file name that the run in result was saved under, or a pattern when its parameters are missing."""
    params = result.get("params")
    if not isinstance(params, dict) or not {"mode", "array_num", "seed"} <= params.keys():
        return f"{result.get('mode')}_array<N>_seed<S>.npz"
    return run_result_path(dict(params, data_dir=".")).name


def report_differing_params(results, context, sweep_keys=(), averaged=False):
    """Log one warning naming every parameter whose value differs between results drawn together.

    With averaged=True the results are averaged into one curve, where such
    a difference makes the figure wrong, so it raises UserError instead.

    Parameters in RUN_IDENTITY_PARAMS and sweep_keys (those the array index
    of a sweep sets) may differ and are skipped, and so are REINFORCE_ONLY_PARAMS
    when every result is an impression-learning training run outside the SNR
    mode. Returns {key: {value: [file names]}} of the differing parameters.
    """
    skipped = set(RUN_IDENTITY_PARAMS) | set(sweep_keys)
    if all(result.get("algorithm") == "impression" and result.get("mode") != "SNR" for result in results):
        skipped |= set(REINFORCE_ONLY_PARAMS)
    keys = sorted({key for result in results for key in result.get("params", {})} - skipped)
    differing = {}
    for key in keys:
        files_by_value = {}
        for result in results:
            value = repr(result.get("params", {}).get(key, "<absent>"))
            files_by_value.setdefault(value, []).append(result.get("source_file", "<unnamed result>"))
        if len(files_by_value) > 1:
            differing[key] = files_by_value
    if differing:
        details = "; ".join(
            f"{key} = " + ", ".join(f"{value} in ({name_files(files)})" for value, files in files_by_value.items())
            for key, files_by_value in differing.items()
        )
        if averaged:
            raise UserError(
                f"{context}: the results averaged together differ in {plural(len(differing), 'parameter')} "
                f"({details}); rerun them with equal parameters or move the odd ones out of the folder"
            )
        log.warning(
            "%s: the results drawn together differ in %s (%s); rerun them with equal parameters "
            "or move the odd ones out of the folder",
            context,
            plural(len(differing), "parameter"),
            details,
        )
    return differing


def name_files(files):
    """Return the first MAX_FILES_NAMED file names, joined, with a count of the others."""
    named = ", ".join(files[:MAX_FILES_NAMED])
    if len(files) > MAX_FILES_NAMED:
        named += f" and {plural(len(files) - MAX_FILES_NAMED, 'other')}"
    return named


def load_results(data_dir, mode, tag="", required=True, algorithm=None, variant=None):
    """Load every result file of mode; return a list of results sorted by array index and seed.

    Raises UserError naming the command that makes them when none exist
    and required is True, and naming the file when one contains a result of
    another mode, algorithm or variant (see check_result).
    """
    found = find_results(data_dir, mode, tag)
    if not found and required:
        command = "il_backprop.py" if tag == "bp" else "impression_learning.py"
        raise UserError(f"no result files of mode {mode!r} in {data_dir}; run python {command} --mode {mode} first")
    results = []
    for key in sorted(found):
        result = read_result(found[key])
        check_result(result, found[key], mode, algorithm, variant)
        results.append(result)
    return results


def load_sweep(data_dir, mode, array_range, tag=""):
    """Load the results of a sweep over array indices; log which indices are missing.

    Returns {array_num: result} with the lowest seed of each index present.
    Raises UserError when none is present, or naming the file when one
    contains a result of another mode.
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
            path = found[(array_num, seed)]
            by_index[array_num] = read_result(path)
            check_result(by_index[array_num], path, mode)
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
    smallest = max(1.0, float(nonzero.min())) if nonzero.size else 1.0
    # a power of ten at or above the smallest magnitude, so the tick labels 0 and +-linthresh
    # sit a decade apart instead of on top of each other
    axis.set_yscale("symlog", linthresh=10.0 ** np.ceil(np.log10(smallest)))


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
