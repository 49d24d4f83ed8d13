"""Time the PyTorch backprop control per training step, and show what bounds it.

    python benchmarks/bench_backprop.py [--steps 20000]

For each network size of the dimensionality sweep (k = 1..5), prints the
time per SGD step of the training loop (forward pass, autograd backward
and update, one sample at a time, one thread), the number of PyTorch
operator calls per step counted by torch.profiler, and the time per call.
The tensors have 4 to 64 entries, so the arithmetic of a step takes well
under a microsecond. A step costs about as much as its operator calls,
because each carries PyTorch's fixed dispatch and autograd cost.
"""

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from impression.backprop import (  # noqa: E402
    add_noise,
    initial_weights,
    resolve_backprop_params,
    torch_threads,
    train_chunk,
    weight_tensors,
)
from impression.data import LatentProcess, draw_mixing_matrix  # noqa: E402


def prepare(array_num, steps):
    """Return (params, weight tensors, a NoisySequence of steps) for one size."""
    params = resolve_backprop_params("dimensionality", array_num, None, {})
    rng = np.random.default_rng(0)
    mixing = draw_mixing_matrix(params["n_in"], params["n_latent"], rng)
    x, _ = LatentProcess(mixing, params["dt"], rng).next_chunk(steps)
    chunk = add_noise(x, rng, rng, params["n_neurons"], params)
    weights = weight_tensors(initial_weights(params["n_in"], params["n_neurons"], params["D_init"], rng))
    return params, weights, chunk


@contextlib.contextmanager
def silenced_stderr():
    """Send file descriptor 2 to /dev/null: the profiler's C++ backend prints a line at every start and stop."""
    saved = os.dup(2)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def operator_calls_per_step(params, weights, chunk, steps=200):
    """Return the number of aten operator calls per training step, counted by torch.profiler."""
    short = type(chunk)(chunk.x[:steps], chunk.s[:steps], chunk.latent_noise[:steps], chunk.recognition[:steps])
    with silenced_stderr(), torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        train_chunk(weights, short, torch.zeros(params["n_neurons"], dtype=torch.float64), params, np.empty(steps))
    calls = sum(event.count for event in profile.key_averages() if event.key.startswith("aten::"))
    return calls / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="training steps timed per size")
    args = parser.parse_args()

    print(f"torch {torch.__version__}, 1 thread; {args.steps} steps per size")
    print(" k  n_in  n  us/step  aten calls/step  us/call")
    with torch_threads(1):
        for k in range(1, 6):
            params, weights, chunk = prepare(k, args.steps)
            losses = np.empty(args.steps)
            train_chunk(weights, chunk, torch.zeros(params["n_neurons"], dtype=torch.float64), params, losses)
            params, weights, chunk = prepare(k, args.steps)
            started = time.perf_counter()
            train_chunk(weights, chunk, torch.zeros(params["n_neurons"], dtype=torch.float64), params, losses)
            per_step = (time.perf_counter() - started) / args.steps
            calls = operator_calls_per_step(params, weights, chunk)
            print(
                f"{k:2d} {params['n_in']:5d} {params['n_neurons']:2d} {1e6 * per_step:8.1f} "
                f"{calls:16.1f} {1e6 * per_step / calls:8.2f}"
            )
    print(
        "300,000 steps (one run of the sweep) at these rates: "
        f"{300_000 * per_step:.0f} s for k = 5, excluding the 20 snapshot tests"
    )


if __name__ == "__main__":
    main()
