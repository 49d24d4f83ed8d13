"""Time the full-scale sweeps with the commands the README documents, each as it would run on a workstation.

    python benchmarks/bench_sweeps.py                          # every sweep below, 2 parallel tasks
    python benchmarks/bench_sweeps.py --sweeps switch_period standard --jobs 2
    python benchmarks/bench_sweeps.py --data-dir data          # keep the results (reruns finished tasks)

Each sweep runs as one or more `--array` commands of impression_learning.py
and il_backprop.py, started as fresh processes, into an empty temporary
folder unless --data-dir is given (then with --overwrite, so every task
really runs). Prints the wall time of every sweep beside its target and
whether every task succeeded. The numba cache is left as it is: a fresh
checkout compiles the kernels in its first tasks, which is a few seconds.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Sweep name -> (commands as argument lists after the interpreter, target wall seconds on 2 cores).
SWEEPS = {
    "switch_period": ([["impression_learning.py", "--mode", "switch_period", "--array", "1-11"]], 120),
    "standard": ([["impression_learning.py", "--mode", "standard", "--array", "1-20"]], 360),
    "dimensionality": (
        [
            ["impression_learning.py", "--mode", "dimensionality", "--array", "1-10"],
            ["il_backprop.py", "--mode", "dimensionality", "--array", "1-5"],
        ],
        600,
    ),
    "SNR": ([["impression_learning.py", "--mode", "SNR", "--array", "1-20"]], 600),
    "lr_optim": ([["impression_learning.py", "--mode", "lr_optim", "--array", "1-40"]], None),
    "Vocal_Digits_reinforce": (
        [["impression_learning.py", "--mode", "Vocal_Digits", "--array", "3-12", "--dataset={dataset}"]],
        None,
    ),
}


def run_sweep(commands, jobs, data_dir, overwrite, dataset):
    """Run the commands one after another; return (wall seconds, list of exit statuses)."""
    statuses = []
    started = time.perf_counter()
    for command in commands:
        arguments = [argument.format(dataset=dataset) for argument in command]
        full = [sys.executable, str(ROOT / arguments[0]), *arguments[1:], "--jobs", str(jobs), f"--data_dir={data_dir}"]
        if overwrite:
            full.append("--overwrite")
        completed = subprocess.run(full, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        statuses.append(completed.returncode)
        if completed.returncode != 0:
            print(f"  {' '.join(arguments)} exited {completed.returncode}; last lines of its log:", file=sys.stderr)
            print("\n".join(completed.stderr.splitlines()[-5:]), file=sys.stderr)
    return time.perf_counter() - started, statuses


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweeps", nargs="+", choices=sorted(SWEEPS), default=list(SWEEPS), help="sweeps to time")
    parser.add_argument("--jobs", type=int, default=2, help="parallel tasks of every sweep (default 2)")
    parser.add_argument("--data-dir", type=Path, help="keep the results here; default: a temporary folder")
    parser.add_argument(
        "--dataset",
        type=Path,
        default=ROOT / "data" / "fsdd_spectrograms.npz",
        help="FSDD dataset of the Vocal_Digits sweep (il_fsdd_preprocessing.py writes it)",
    )
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs; {args.jobs} tasks at a time")
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir.resolve() if args.data_dir else Path(scratch)
        for name in args.sweeps:
            commands, target = SWEEPS[name]
            if name.startswith("Vocal_Digits") and not args.dataset.is_file():
                print(f"{name:24s} skipped: no dataset at {args.dataset}")
                continue
            seconds, statuses = run_sweep(commands, args.jobs, data_dir, args.data_dir is not None, args.dataset)
            outcome = "all tasks succeeded" if not any(statuses) else f"exit statuses {statuses}"
            target_text = f"target {target} s" if target else "no target"
            print(f"{name:24s} {seconds:7.1f} s wall ({target_text}); {outcome}")


if __name__ == "__main__":
    main()
