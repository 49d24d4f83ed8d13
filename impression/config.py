"""Resolve a run's parameters: mode, array index, seed and command-line overrides.

The order, last one wins: COMMON, the mode's block, the array index's
values (``array_params``), then ``--key=value`` overrides. Every override
must name a key the mode has and parse as that key's type.
"""

import argparse
import importlib
import os
import traceback
from pathlib import Path

from impression import PROJECT_ROOT
from impression.errors import ConfigError
from impression.validation import check_params

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}
_ALGORITHM_ALIASES = {"wake_sleep": "impression"}


# Names that every parameter file defines.
PARAM_FILE_NAMES = ("mode", "COMMON", "PARAMS", "CHOICES", "ARRAY_RANGE", "array_params")


def load_param_module(module_name="il_exp_params"):
    """Import (or re-import) the parameter file, so edits made in an IDE session take effect.

    An error in the file (a syntax error, an undefined name, a missing
    definition or a mode that is not a string) raises ConfigError naming
    the file and, where Python reports one, the line.
    """
    try:
        module = importlib.reload(importlib.import_module(module_name))
    except Exception as error:  # any error raised while executing the user's file
        raise ConfigError(f"{module_name}.py failed to load: {describe_error(error)}; fix that line") from None
    missing = [name for name in PARAM_FILE_NAMES if not hasattr(module, name)]
    if missing:
        raise ConfigError(f"{module_name}.py does not define {', '.join(missing)}; restore it from git")
    if not isinstance(module.mode, str):
        raise ConfigError(
            f"mode = {module.mode!r} in {module_name}.py is not a string; "
            f"set it to one of {', '.join(map(repr, module.PARAMS))}"
        )
    return module


def describe_error(error):
    """Return 'line N: Type: message' for an exception raised while a file was executed."""
    if isinstance(error, SyntaxError):
        return f"line {error.lineno}: SyntaxError: {error.msg}"
    frames = traceback.extract_tb(error.__traceback__)
    line = f"line {frames[-1].lineno}: " if frames else ""
    return f"{line}{type(error).__name__}: {error}"


def array_num_from_environment(explicit=None):
    """Return the array index: explicit value, else SLURM_ARRAY_TASK_ID, else 1."""
    if explicit is not None:
        return explicit
    value = os.environ.get("SLURM_ARRAY_TASK_ID")
    if value is None or value == "":
        return 1
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"SLURM_ARRAY_TASK_ID={value!r} is not an integer; unset it or pass --array-num N") from None


def parse_value(key, text, default, choices=None):
    """Convert the command-line text of key to the type of its default value."""
    if isinstance(default, bool):
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"--{key}={text}: expected a boolean (true or false)")
    if isinstance(default, int) or (default is None and key == "seed"):
        if default is None and text.lower() == "none":
            return None
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"--{key}={text}: expected an integer, for example --{key}=1000") from None
        if not number.is_integer():
            raise ConfigError(f"--{key}={text}: expected an integer, got a fraction")
        return int(number)
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ConfigError(f"--{key}={text}: expected a number, for example --{key}=1e-3") from None
    if isinstance(default, str):
        if choices is not None and text not in choices:
            raise ConfigError(f"--{key}={text}: invalid choice; expected one of {', '.join(choices)}")
        return text
    raise ConfigError(f"--{key} cannot be set from the command line")


def split_overrides(tokens):
    """Turn ['--key=value', ...] into {'key': 'value'}; reject any other token and a key given twice."""
    overrides = {}
    for token in tokens:
        if not token.startswith("--") or "=" not in token:
            raise ConfigError(
                f"unrecognised argument {token!r}; parameters are set as --key=value, for example --n_train=100000"
            )
        key, text = token[2:].split("=", 1)
        key = key.replace("-", "_")
        if key in overrides:
            raise ConfigError(f"--{key} is given twice ({overrides[key]} and {text}); pass it once")
        overrides[key] = text
    return overrides


def resolve_params(mode, array_num=None, seed=None, overrides=None, module=None):
    """Return the complete parameter dict of one run.

    overrides maps keys to command-line strings (parsed here) or to values
    of the right type already (from Python callers, such as tests).
    """
    module = module or load_param_module()
    if not isinstance(mode, str) or mode not in module.PARAMS:
        raise ConfigError(
            f"unknown mode {mode!r}; expected one of {', '.join(module.PARAMS)} "
            f"(set mode in {module.__name__}.py or pass --mode NAME)"
        )
    from_environment = array_num is None and bool(os.environ.get("SLURM_ARRAY_TASK_ID"))
    array_num = array_num_from_environment(array_num)
    low, high = module.ARRAY_RANGE[mode]
    if not low <= array_num <= high:
        origin = " (from SLURM_ARRAY_TASK_ID)" if from_environment else ""
        raise ConfigError(f"array index {array_num}{origin} is out of range for mode {mode!r}; valid: {low}-{high}")

    params = dict(module.COMMON)
    params.update(module.PARAMS[mode])
    try:
        params.update(module.array_params(mode, array_num))
    except ValueError as error:
        raise ConfigError(str(error)) from None

    for key, value in (overrides or {}).items():
        if key not in params:
            raise ConfigError(f"unknown parameter {key!r} for mode {mode!r}; valid keys: {', '.join(sorted(params))}")
        if isinstance(value, str):
            value = parse_value(key, value, params[key], module.CHOICES.get(key))
        params[key] = value

    if seed is not None:
        params["seed"] = seed
    if params["seed"] is None:
        params["seed"] = array_num
    params["algorithm"] = _ALGORITHM_ALIASES.get(params["algorithm"], params["algorithm"])
    params["mode"] = mode
    params["array_num"] = array_num
    apply_reinforce_learning_rate(params, overrides or {})
    check_params(params)
    for key in ("data_dir", "figures_dir"):
        params[key] = str(absolute_path(params[key]))
    return params


def apply_reinforce_learning_rate(params, overrides):
    """Set eta of a REINFORCE run from eta_reinforce or eta_reinforce_original, in modes that have them.

    In such modes (dimensionality) 'eta' is the impression-learning rate and
    each REINFORCE variant has its own rate. An explicit --eta, or the other
    variant's rate, on a REINFORCE run would be ignored, so it raises
    ConfigError instead.
    """
    if params.get("algorithm") != "reinforce" or "eta_reinforce" not in params:
        return
    key = learning_rate_key(params)
    other = "eta_reinforce" if key == "eta_reinforce_original" else "eta_reinforce_original"
    for ignored in ("eta", other):
        if ignored in overrides:
            raise ConfigError(
                f"--{ignored} does not set the rate of array index {params['array_num']} of mode "
                f"{params['mode']!r}, which runs the {params['reinforce_variant']} REINFORCE rule; "
                f"set its rate with --{key}=VALUE"
            )
    params["eta"] = float(params[key])


def learning_rate_key(params):
    """Return the parameter that sets the learning rate of the run that params describe.

    'eta' unless the mode gives REINFORCE runs their own rate
    (eta_reinforce, or eta_reinforce_original for the authors' rule).
    """
    if params.get("algorithm") != "reinforce" or "eta_reinforce" not in params:
        return "eta"
    return "eta_reinforce_original" if params.get("reinforce_variant") == "original" else "eta_reinforce"


def absolute_path(path):
    """Return path, taken relative to the project folder unless it is absolute."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


class StoreOnce(argparse.Action):
    """argparse action that stores a value like 'store' but rejects the option given twice."""

    def __call__(self, parser, namespace, values, option_string=None):
        marker = f"_{self.dest}_given"
        if getattr(namespace, marker, False):
            parser.error(f"{option_string} is given twice; pass it once")
        setattr(namespace, marker, True)
        setattr(namespace, self.dest, values)


def build_parser(description, param_file="il_exp_params.py"):
    """Return the argument parser shared by the entry points; --key=value tokens are left over."""
    parser = argparse.ArgumentParser(
        description=description,
        epilog=f"Any parameter of {param_file} can be set as --key=value, for example --n_train=100000.",
        allow_abbrev=False,
    )
    parser.add_argument("--mode", action=StoreOnce, help=f"experiment to run; default: mode in {param_file}")
    parser.add_argument("--seed", type=int, action=StoreOnce, help="random seed; default: the array index")
    parser.add_argument(
        "--array-num",
        type=int,
        action=StoreOnce,
        help="array index; default: SLURM_ARRAY_TASK_ID, else 1",
    )
    return parser
