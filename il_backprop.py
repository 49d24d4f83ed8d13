"""Run the backpropagation control of the impression-learning experiments and save its results.

Bredenberg, Lyo, Simoncelli & Savin, "Impression learning: Online
representation learning with synaptic plasticity", NeurIPS 2021.

This is the backprop curve of Figure 2e (asymptotic wake test loss against
dimension): the impression-learning network, with its linear generative
prediction, trained online by SGD on the wake loss with PyTorch autograd.
The array index k = 1..5 sets n_latent = 2^k, n_in = 2^(k+1) and
n_neurons = 2^k. Parameters are in il_exp_params_bp.py. Examples:

    python il_backprop.py --array-num 3
    python il_backprop.py --array-num 1 --n_train=20000 --lr=1e-5
    python il_backprop.py --array 1-5 --jobs 2      # all five sizes, two at a time

In Spyder, edit il_exp_params_bp.py and Run this file (array index 1, or
SLURM_ARRAY_TASK_ID when set). On a SLURM cluster the array index comes
from SLURM_ARRAY_TASK_ID.

Writes one result file, ``data/<mode>_bp_array<i>_seed<s>.npz``, for
example ``data/dimensionality_bp_array3_seed3.npz`` (plain data, read with
``impression.storage.load_result``). A run whose loss or weights become
non-finite saves what it computed, with status 'diverged', and exits 2.
"""

import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from impression.config import build_parser, load_param_module, split_overrides  # noqa: E402
from impression.errors import run_reporting_errors  # noqa: E402
from impression.progress import configure_logging  # noqa: E402
from impression.sweep import (  # noqa: E402
    add_sweep_arguments,
    check_sweep_arguments,
    parse_array_spec,
    resolve_backprop,
    run_sweep,
)


def main(argv=None):
    configure_logging()
    parser = build_parser(
        "Run the backprop control, or a sweep of array indices, and save the results under data/.",
        "il_exp_params_bp.py",
    )
    add_sweep_arguments(parser)
    args, rest = parser.parse_known_args(argv)
    return run_reporting_errors(lambda: run_command(args, rest))


def run_command(args, rest):
    """Run the sweep or the single run that the parsed command line requests; return a sweep's exit status."""
    check_sweep_arguments(args)
    if args.array is not None:
        module = load_param_module("il_exp_params_bp")
        mode = args.mode or module.mode
        indices = parse_array_spec(args.array, mode, module)
        return run_sweep(
            mode, indices, args.jobs, args.overwrite, rest, args.seed, Path(__file__).resolve(), module,
            resolve_backprop,
        )  # fmt: skip

    # imported here so that --help returns without importing torch
    from impression.backprop import resolve_backprop_params, run_and_save

    params = resolve_backprop_params(args.mode, args.array_num, args.seed, split_overrides(rest))
    run_and_save(params)
    return None


if __name__ == "__main__":
    sys.exit(main())
