"""Range checks of a run's resolved parameters, so an invalid value stops the run before any work.

Each check names the parameter as its command-line override (``--key=value``)
and what a valid value is. Keys a mode does not have are not checked.
"""

import math

from impression.errors import ConfigError

# Sizes and counts that must be at least 1.
POSITIVE_INTEGERS = (
    "n_in",
    "n_latent",
    "n_neurons",
    "n_neurons_top",
    "epoch_num",
    "n_snapshots",
    "epoch_num_snr",
    "snr_steps",
)
# Keys whose value must be finite and at least 0 (learning rates).
NON_NEGATIVE_NUMBERS = ("eta", "eta_reinforce", "eta_reinforce_original")
# Trace decays, which must lie in [0, 1].
DECAYS = ("gamma", "gamma_snr")
# Folder and file parameters, which must not be empty.
PATHS = ("data_dir", "figures_dir", "dataset")


def invalid(key, value, expected):
    return ConfigError(f"--{key}={value}: invalid value, expected {expected}")


def check_params(params):
    """Raise ConfigError naming the first parameter of params whose value cannot run."""
    for key in POSITIVE_INTEGERS:
        if key in params and params[key] < 1:
            raise invalid(key, params[key], "a positive integer")
    check_step_counts(params)
    if "switch_period" in params and params["switch_period"] < 0:
        expected = "an integer >= 0 (each phase lasts switch_period + 1 steps)"
        raise invalid("switch_period", params["switch_period"], expected)

    for key in sorted(params):
        if (key.startswith("sigma_") or key == "dt") and not (math.isfinite(params[key]) and params[key] > 0):
            raise invalid(key, params[key], "a positive number")
    for key in NON_NEGATIVE_NUMBERS:
        if key in params and not (math.isfinite(params[key]) and params[key] >= 0):
            raise invalid(key, params[key], "a finite learning rate >= 0")
    for key in DECAYS:
        if key in params and not (math.isfinite(params[key]) and 0 <= params[key] <= 1):
            raise invalid(key, params[key], "a trace decay between 0 and 1")
    if "D_init" in params and not math.isfinite(params["D_init"]):
        raise invalid("D_init", params["D_init"], "a finite number")

    if params.get("seed") is not None and params["seed"] < 0:
        raise invalid("seed", params["seed"], "an integer >= 0")
    for key in PATHS:
        if key in params and not str(params[key]).strip():
            raise invalid(key, repr(params[key]), "a path; it is empty")


def check_step_counts(params):
    """Check n_train and n_test: at least 1 step each, and at least one training step per snapshot.

    A mode with a dataset (Vocal_Digits) takes 0 as 'all frames', and its
    frame count is known only once the dataset is read.
    """
    from_dataset = "dataset" in params
    smallest = 0 if from_dataset else 1
    for key in ("n_train", "n_test"):
        if key in params and params[key] < smallest:
            expected = "0 (all frames) or a positive number of frames" if from_dataset else "a positive integer"
            raise invalid(key, params[key], expected)
    if from_dataset or not {"n_train", "n_snapshots"} <= set(params):
        return
    total = params["n_train"] * params.get("epoch_num", 1)
    if total < params["n_snapshots"]:
        raise invalid(
            "n_train",
            params["n_train"],
            f"at least n_snapshots = {params['n_snapshots']} training steps in all, one per snapshot",
        )
