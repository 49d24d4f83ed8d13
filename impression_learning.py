"""Run one impression-learning experiment and save its results.

Bredenberg, Lyo, Simoncelli & Savin, "Impression learning: Online
representation learning with synaptic plasticity", NeurIPS 2021.

The experiment is ``mode`` in il_exp_params.py ('standard' for Figure 1),
or ``--mode``. Examples:

    python impression_learning.py                          # standard mode, array index 1
    python impression_learning.py --mode switch_period --array-num 4
    python impression_learning.py --seed 7 --n_train=200000 --eta=5e-4
    python impression_learning.py --mode switch_period --array 1-11 --jobs 2   # a sweep

In Spyder, edit ``mode`` in il_exp_params.py and Run this file. On a SLURM
cluster the array index comes from SLURM_ARRAY_TASK_ID (see
slurm/il_array.sbatch). A sweep (--array) runs each index as its own
process and skips indices whose result file exists, unless --overwrite.

Writes one result file, ``data/<mode>_array<i>_seed<s>.npz`` (plain data,
read with ``impression.storage.load_result``); il_plot_generator.py draws
the figures from it.
"""

import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from impression.config import (  # noqa: E402
    build_parser,
    learning_rate_key,
    load_param_module,
    resolve_params,
    split_overrides,
)
from impression.errors import ConfigError, DivergenceError, run_reporting_errors  # noqa: E402
from impression.progress import configure_logging, log  # noqa: E402
from impression.storage import check_output_folder, run_result_path, save_result_safely  # noqa: E402
from impression.sweep import add_sweep_arguments, check_sweep_arguments, parse_array_spec, run_sweep  # noqa: E402


def run_synthetic(params):
    from impression.simulation import simulate

    return simulate(params)


def run_snr(params):
    from impression.snr import run_snr as run

    return run(params)


def run_vocal_digits(params):
    from impression.vocal_digits import run_vocal_digits as run

    return run(params)


# Mode name -> function that takes the resolved params and returns the result dict.
RUNNERS = {
    "standard": run_synthetic,
    "SNR": run_snr,
    "dimensionality": run_synthetic,
    "lr_optim": run_synthetic,
    "switch_period": run_synthetic,
    "Vocal_Digits": run_vocal_digits,
}


def run_and_save(params):
    """Run one experiment, save its result file and return the file's path."""
    runner = RUNNERS.get(params["mode"])
    if runner is None:
        raise ConfigError(f"mode {params['mode']!r} has no runner; modes: {', '.join(RUNNERS)}")
    path = run_result_path(params)
    check_output_folder(path.parent, "data_dir")
    if path.is_file():
        log.warning("%s exists; this run replaces it and moves it to %s", path, path.parent / "replaced")

    result = runner(params)
    save_result_safely(path, result)
    log.info("saved %s (%.1f s)", path, result["timing"]["wall_seconds"])
    if result["status"] == "diverged":
        raise DivergenceError(divergence_message(params, result, path))
    return path


def divergence_message(params, result, path):
    """Return the error message of a diverged run: the step, the rate and what to change."""
    key = learning_rate_key(params)
    message = (
        f"training diverged at step {result['divergence']['step']} with {key}={params[key]:g}: "
        "the loss or the weights became non-finite. "
    )
    if params["mode"] == "lr_optim":
        advice = "The array index sets the rate of this learning-rate search; the result records the divergence."
    else:
        advice = f"Lower the learning rate, e.g. --{key}={params[key] / 10:g}."
    return f"{message}{advice} The snapshots tested before that step are saved in {path}"


def main(argv=None):
    configure_logging()
    parser = build_parser("Run one impression-learning experiment, or a sweep of array indices, under data/.")
    add_sweep_arguments(parser)
    args, rest = parser.parse_known_args(argv)
    return run_reporting_errors(lambda: run_command(args, rest))


def run_command(args, rest):
    """Run the sweep or the single run that the parsed command line requests; return a sweep's exit status."""
    module = load_param_module()
    mode = args.mode or module.mode
    overrides = split_overrides(rest)
    check_sweep_arguments(args)
    if args.array is not None:
        indices = parse_array_spec(args.array, mode, module)
        return run_sweep(mode, indices, args.jobs, args.overwrite, rest, seed=args.seed, module=module)
    run_and_save(resolve_params(mode, args.array_num, args.seed, overrides, module))
    return None


if __name__ == "__main__":
    sys.exit(main())
