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

from impression.config import build_parser, load_param_module, resolve_params, split_overrides  # noqa: E402
from impression.errors import ConfigError, DivergenceError, UserError  # noqa: E402
from impression.progress import configure_logging, log  # noqa: E402
from impression.storage import run_result_path, save_result  # noqa: E402
from impression.sweep import add_sweep_arguments, parse_array_spec, run_sweep  # noqa: E402


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
    result = runner(params)
    path = save_result(run_result_path(params), result)
    log.info("saved %s (%.1f s)", path, result["timing"]["wall_seconds"])
    if result["status"] == "diverged":
        raise DivergenceError(
            f"training diverged at step {result['divergence']['step']} with eta={params['eta']:g}: "
            f"the loss or the weights became non-finite. Lower the learning rate, e.g. "
            f"--eta={params['eta'] / 10:g}. The snapshots tested before that step are saved in {path}"
        )
    return path


def main(argv=None):
    configure_logging()
    parser = build_parser("Run one impression-learning experiment, or a sweep of array indices, under data/.")
    add_sweep_arguments(parser)
    args, rest = parser.parse_known_args(argv)
    try:
        module = load_param_module()
        mode = args.mode or module.mode
        overrides = split_overrides(rest)
        if args.array is not None:
            if args.array_num is not None:
                raise ConfigError("--array-num selects one run and --array a sweep; pass only one of them")
            indices = parse_array_spec(args.array, mode, module)
            return run_sweep(mode, indices, args.jobs, args.overwrite, rest, seed=args.seed, module=module)
        params = resolve_params(mode, args.array_num, args.seed, overrides, module)
        run_and_save(params)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
