"""Benchmark of the standard mode at paper scale (2,000,000 steps, 100 inputs, 20 latents).

Prints, measured in this one run:
- the time per training step of the compiled loop (data drawn in chunks, as in a run);
- the time per step of a straightforward per-step numpy version of the same step
  (both streams computed and gated by the phase, as the model is written down),
  timed on a shorter stretch, and the ratio of the two;
- wall time and peak memory of the whole standard mode as a fresh process
  (training, 20 snapshot tests, generative run, two test sequences), first
  with an empty numba cache, so that compile time is included, then again
  with the kernels cached; the time per training step in a run comes from
  the second.

    python benchmarks/bench_standard.py [--numpy-steps 20000]

Targets: at most 2.5 us per training step, at least 30x faster than numpy,
the whole mode in at most 30 s, peak memory at most 1 GB.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from impression.config import resolve_params  # noqa: E402
from impression.data import LatentProcess, draw_mixing_matrix  # noqa: E402
from impression.network import OneLayerNetwork  # noqa: E402
from impression.simulation import CHUNK_STEPS  # noqa: E402


def numpy_step(W_in, W_out, D, r_prev, phase, x_t, p, rng):
    """One training step as the model reads, in numpy on whole vectors, with no compiler.

    Both streams of both layers are computed, mixed by the gate delta, and
    each update is gated by the phase, as the model is written down.
    """
    delta, just_woke = phase[0], phase[2]
    n_in, n = W_out.shape

    # recognition pass, bottom-up
    s_rec = x_t + p["sigma_in"] * rng.standard_normal(n_in)
    mu_rec = np.tanh(W_in @ s_rec)
    r_rec = mu_rec + p["sigma_rec"] * rng.standard_normal(n)

    # generative pass, top-down; identity dynamics on the first step after sleep
    dynamics = np.eye(n) if just_woke else D
    mu_top = dynamics @ r_prev
    r_gen = mu_top + p["sigma_gen"] * rng.standard_normal(n)
    mu_stim = W_out @ r_gen
    s_gen = mu_stim + p["sigma_obs"] * rng.standard_normal(n_in)

    # mixing
    s = delta * s_rec + (1 - delta) * s_gen
    r = delta * r_rec + (1 - delta) * r_gen

    # loss: wake and sleep forms, gated
    var_in, var_rec, var_gen, var_obs = (p[k] ** 2 for k in ("sigma_in", "sigma_rec", "sigma_gen", "sigma_obs"))
    prediction_gen = W_out @ r_rec
    prediction_rec = np.tanh(W_in @ s_gen)
    wake_loss = (
        np.sum((s - prediction_gen) ** 2) / var_obs
        - np.sum((s - x_t) ** 2) / var_in
        + np.sum((r - mu_top) ** 2) / var_gen
        - np.sum((r - mu_rec) ** 2) / var_rec
    )
    sleep_loss = (
        np.sum((s - x_t) ** 2) / var_in
        - np.sum((s - mu_stim) ** 2) / var_obs
        + np.sum((r - prediction_rec) ** 2) / var_rec
        - np.sum((r - mu_top) ** 2) / var_gen
    )
    loss = delta * wake_loss + (1 - delta) * sleep_loss

    # impression-learning updates, gated by the phase
    u = (1 - prediction_rec**2) * (r - prediction_rec)
    W_in += p["eta"] * (1 - delta) * np.outer(u, s)
    W_out += p["eta"] * delta * np.outer(x_t - prediction_gen, r)
    D += p["eta"] * delta * (1 - just_woke) * np.diag((r - D @ r_prev) * r_prev)

    # phase counter
    phase[2] = 0
    phase[1] += 1
    if phase[1] > p["switch_period"]:
        phase[1] = 0
        phase[0] = 1 - phase[0]
        phase[2] = phase[0]
    return r, loss


def time_compiled(params, n_steps):
    rng = np.random.default_rng(0)
    mixing = draw_mixing_matrix(params["n_in"], params["n_latent"], rng)
    network = OneLayerNetwork.initial(params["n_in"], params["n_neurons"], params["D_init"], rng)
    process = LatentProcess(mixing, params["dt"], np.random.default_rng(1))
    network.run(process.next_chunk(10)[0], params, rng, learn=True, switching=True)  # compile or load
    started = time.perf_counter()
    done = 0
    while done < n_steps:
        x, _ = process.next_chunk(min(CHUNK_STEPS, n_steps - done))
        network.run(x, params, rng, learn=True, switching=True)
        done += x.shape[0]
    return (time.perf_counter() - started) / n_steps


def time_numpy(params, n_steps):
    rng = np.random.default_rng(0)
    mixing = draw_mixing_matrix(params["n_in"], params["n_latent"], rng)
    network = OneLayerNetwork.initial(params["n_in"], params["n_neurons"], params["D_init"], rng)
    x, _ = LatentProcess(mixing, params["dt"], np.random.default_rng(1)).next_chunk(n_steps)
    D = np.diag(network.d)
    r_prev = np.zeros(params["n_neurons"])
    phase = np.array([1, 0, 0])
    started = time.perf_counter()
    for t in range(n_steps):
        r_prev, _ = numpy_step(network.W_in, network.W_out, D, r_prev, phase, x[t], params, rng)
    return (time.perf_counter() - started) / n_steps


def time_whole_mode(cache_dir):
    """Run the standard mode as a fresh process with numba's cache in cache_dir; return (seconds, peak MB, result)."""
    with tempfile.TemporaryDirectory() as folder:
        environment = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir), MPLBACKEND="Agg")
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(ROOT / "impression_learning.py"), "--mode", "standard", f"--data_dir={folder}"],
            check=True, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        # ru_maxrss of the children is the largest of any child so far, in KiB on Linux
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        from impression.storage import load_result

        result = load_result(Path(folder) / "standard_array1_seed1.npz")
    return seconds, peak_mb, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numpy-steps", type=int, default=20_000, help="steps timed for the numpy version")
    parser.add_argument("--compiled-steps", type=int, default=2_000_000, help="steps timed for the compiled loop")
    args = parser.parse_args()
    params = resolve_params("standard", 1)

    compiled = time_compiled(params, args.compiled_steps)
    plain = time_numpy(params, args.numpy_steps)
    with tempfile.TemporaryDirectory() as cache_dir:
        cold_seconds, peak_mb, _ = time_whole_mode(cache_dir)
        warm_seconds, _, result = time_whole_mode(cache_dir)

    print(f"compiled loop:            {compiled * 1e6:7.2f} us per training step ({args.compiled_steps:,} steps,")
    print("                                  synthetic data drawn in chunks as in a run)")
    print(f"numpy per-step version:   {plain * 1e6:7.2f} us per training step ({args.numpy_steps:,} steps)")
    print(f"speed-up:                 {plain / compiled:7.1f}x  (target at least 30x)")
    print(f"training in a run:        {result['timing']['train_step_microseconds']:7.2f} us per step (target 2.5)")
    print(f"whole standard mode:      {cold_seconds:7.1f} s wall with an empty numba cache (target 30 s)")
    print(f"                          {warm_seconds:7.1f} s wall with the kernels cached")
    print(f"peak memory:              {peak_mb:7.0f} MB resident (target 1024 MB)")
    first, last = result["test_loss"][0], result["test_loss"][-1]
    print(f"test loss:                {first:.4g} at the first snapshot, {last:.4g} at the last")


if __name__ == "__main__":
    main()
