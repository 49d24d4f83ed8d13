"""Time one seed of the SNR mode: training, 20 snapshot tests and 20 x 2 update comparisons.

Usage:

    python benchmarks/bench_snr.py                        # full scale: 10^6 repetitions per snapshot
    python benchmarks/bench_snr.py --epoch_num_snr=100000  # scaled down, 10x fewer repetitions
    NUMBA_NUM_THREADS=1 python benchmarks/bench_snr.py    # one core

Prints wall time and process CPU time of each phase and the time per
analysed step. Nothing is saved. The first run in a fresh checkout also
compiles the kernels (numba caches them on disk), so it reports a warm-up
call separately.
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numba  # noqa: E402
import numpy as np  # noqa: E402

from impression.config import resolve_params  # noqa: E402
from impression.simulation import simulate  # noqa: E402
from impression.snr import analyse_snapshots, compare_updates  # noqa: E402


def timed(function, *arguments):
    """Return (result, wall seconds, CPU seconds of this process) of function(*arguments)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function(*arguments)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epoch_num_snr", type=int, default=1_000_000, help="repetitions per snapshot and rule")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the run")
    arguments = parser.parse_args()
    params = resolve_params("SNR", 1, arguments.seed, {"epoch_num_snr": arguments.epoch_num_snr})

    # compile (or load from numba's cache) on a tiny case
    warm_params = dict(params, epoch_num_snr=10)
    weights = {"W_in": np.zeros((2, 4)), "W_out": np.zeros((4, 2)), "D": np.full(2, 0.6)}
    _, warm_seconds, _ = timed(compare_updates, weights, np.zeros((4, 4)), warm_params, 0)

    result, train_wall, train_cpu = timed(simulate, params)
    output, snr_wall, snr_cpu = timed(analyse_snapshots, result["snapshot_weights"], result["mixing_matrix"], params)
    n_snapshots = len(output["cosine"])
    steps = n_snapshots * params["epoch_num_snr"] * params["snr_steps"]

    print(f"machine: {os.cpu_count()} cores, numba threads {numba.config.NUMBA_NUM_THREADS}")
    print(f"warm-up (compile or cache load): {warm_seconds:.1f} s")
    print(f"training + snapshot tests + sequences: wall {train_wall:.1f} s, CPU {train_cpu:.1f} s")
    print(
        f"SNR analysis, {n_snapshots} snapshots x {params['epoch_num_snr']} repetitions x "
        f"{params['snr_steps']} steps (both rules per step): wall {snr_wall:.1f} s, CPU {snr_cpu:.1f} s, "
        f"{1e9 * snr_cpu / steps:.0f} ns CPU per step"
    )
    print(f"one seed: wall {train_wall + snr_wall:.1f} s, CPU {train_cpu + snr_cpu:.1f} s")
    for k in (0, n_snapshots // 2, n_snapshots - 1):
        print(
            f"snapshot {k}: mean SNR IL {output['impression']['mean_snr'][k]:.3g}, "
            f"REINFORCE {output['reinforce']['mean_snr'][k]:.3g}, cosine {output['cosine'][k]:.3f}"
        )


if __name__ == "__main__":
    main()
