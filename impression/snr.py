"""SNR mode (Figure 2a-c): signal-to-noise ratio of the W_in updates, IL against REINFORCE.

The run trains the 4-input, 2-latent network with impression learning
(``impression.simulation.simulate``: 20 snapshots, their tests, the
generative run and the test sequences). Then, for every snapshot, it draws
a fresh data sequence of snr_steps steps and runs the frozen network over
it epoch_num_snr times with phase switching on. Each repetition starts from
rest, with activities and phase reset, and traces reset unless the
REINFORCE variant keeps them (the authors' 'original' one). On every step
it computes, without applying them, the latent layer's W_in update of
impression learning and
of REINFORCE (trace decay gamma_snr) and accumulates the mean and variance
of each entry over all repetitions and steps. Outputs per snapshot and
rule: mean, variance and SNR = mean^2 / variance per entry, plus the cosine
similarity and the norms of the two mean updates. Updates are stated
without the learning rate (parameters move by eta times them).

Both rules' updates come from one pass: with frozen weights and one noise
seed the activities do not depend on the rule, so one pass equals the two
passes "in turn with the same noise seed" of the original code and costs
half. The snapshots run in parallel threads (the kernel releases the GIL),
as many as numba's thread count (NUMBA_NUM_THREADS, by default the number
of cores).
"""

import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from impression.data import draw_sequence
from impression.kernels import JIT_OPTIONS, PHASE_DELTA
from impression.progress import log, progress_bar
from impression.reinforce import (
    BASELINE_RATE,
    N_WORK_ROWS,
    ROW_GAIN,
    ROW_S,
    reinforce_step,
    sigma_vector,
    variant_of,
)
from impression.simulation import simulate

# Spawn keys of the SNR analysis's random streams, far from the run's own
# streams (impression.simulation.STREAMS are the children 0, 1, ... of the seed).
DATA_SPAWN_KEY = 1_000_001
NOISE_SPAWN_KEY = 1_000_002


####################################################################
# Moment accumulation (Welford)
####################################################################
@numba.njit(**JIT_OPTIONS)
def welford_update(mean, m2, index, value, inv_count):
    """Add value as the count-th sample of entry index (Welford's update), given inv_count = 1 / count."""
    deviation = value - mean[index]
    mean[index] += deviation * inv_count
    m2[index] += deviation * (value - mean[index])


@numba.njit(**JIT_OPTIONS)
def accumulate_moments(samples, mean, m2):
    """Accumulate the rows of samples (T, m) into mean and m2 (m,) from zero, and return T."""
    mean[:] = 0.0
    m2[:] = 0.0
    for t in range(samples.shape[0]):
        inv_count = 1.0 / (t + 1)
        for k in range(samples.shape[1]):
            welford_update(mean, m2, k, samples[t, k], inv_count)
    return samples.shape[0]


####################################################################
# Compiled analysis of one snapshot
####################################################################
@numba.njit(nogil=True, **JIT_OPTIONS)
def accumulate_update_moments(
    x,  # (T, n_in) the data sequence, replayed every repetition
    W_in,  # (n, n_in) frozen weights
    W_out,  # (n_in, n)
    d,  # (n,)
    sigmas,  # (4,) noise s.d.: sigma_in, sigma_rec, sigma_gen, sigma_obs
    switch_period,  # phase length minus one
    gamma,  # REINFORCE trace decay
    baseline_rate,  # weight of the newest loss in the baseline (0 keeps it at 0)
    reward_sign,  # see impression.reinforce.ReinforceVariant
    square_latent_wake_term,
    generative_score_from_recognition,
    baseline_updated_first,
    reset_traces,
    n_repetitions,  # passes over x, each from rest and in wake
    rng,  # numpy Generator for the network noise
    il_mean,  # (n, n_in) outputs: mean and sum of squared deviations of IL's W_in update
    il_m2,
    reinforce_mean,  # (n, n_in) outputs: the same for REINFORCE
    reinforce_m2,
):
    """Accumulate the moments of both rules' W_in updates over every step, and return the step count."""
    n, n_in = W_in.shape
    r_previous = np.zeros(n)
    phase = np.zeros(3, dtype=np.int64)
    trace_W_in = np.zeros((n, n_in))
    trace_W_out = np.zeros((n_in, n))
    trace_d = np.zeros(n)
    baseline = np.zeros(1)
    work = np.zeros((N_WORK_ROWS, max(n, n_in)))
    update_W_in = np.zeros((n, n_in))
    update_W_out = np.zeros((n_in, n))
    update_d = np.zeros(n)
    il_flat_mean = il_mean.reshape(n * n_in)
    il_flat_m2 = il_m2.reshape(n * n_in)
    rf_flat_mean = reinforce_mean.reshape(n * n_in)
    rf_flat_m2 = reinforce_m2.reshape(n * n_in)
    il_flat_mean[:] = 0.0
    il_flat_m2[:] = 0.0
    rf_flat_mean[:] = 0.0
    rf_flat_m2[:] = 0.0

    count = 0
    for _ in range(n_repetitions):
        # every repetition starts from rest, in wake; the corrected rule also resets the traces
        r_previous[:] = 0.0
        phase[:] = 0
        phase[PHASE_DELTA] = 1
        if reset_traces:
            trace_W_in[:] = 0.0
            trace_W_out[:] = 0.0
            trace_d[:] = 0.0

        for t in range(x.shape[0]):
            sleep = 1.0 if phase[PHASE_DELTA] == 0 else 0.0
            reinforce_step(
                x[t], W_in, W_out, d, r_previous, phase, trace_W_in, trace_W_out, trace_d, baseline,
                sigmas, gamma, baseline_rate, reward_sign, square_latent_wake_term,
                generative_score_from_recognition, baseline_updated_first, switch_period, True, rng, work,
                update_W_in, update_W_out, update_d,
            )  # fmt: skip
            count += 1
            inv_count = 1.0 / count
            for j in range(n):
                for i in range(n_in):
                    index = j * n_in + i
                    # IL changes W_in in sleep only: (1 - delta) tanh'(.) (r - tanh(.)) s^T
                    il_value = sleep * work[ROW_GAIN, j] * work[ROW_S, i]
                    welford_update(il_flat_mean, il_flat_m2, index, il_value, inv_count)
                    welford_update(rf_flat_mean, rf_flat_m2, index, update_W_in[j, i], inv_count)
    return count


####################################################################
# Python side
####################################################################
def compare_updates(weights, x, params, noise_seed):
    """Return the update statistics of IL and REINFORCE for one frozen network and data sequence."""
    variant = variant_of(params["reinforce_variant"])
    W_in = np.ascontiguousarray(weights["W_in"], dtype=float)
    n, n_in = W_in.shape
    il_mean, il_m2 = np.empty((n, n_in)), np.empty((n, n_in))
    rf_mean, rf_m2 = np.empty((n, n_in)), np.empty((n, n_in))
    count = accumulate_update_moments(
        np.ascontiguousarray(x, dtype=float),
        W_in,
        np.ascontiguousarray(weights["W_out"], dtype=float),
        np.ascontiguousarray(weights["D"], dtype=float),
        sigma_vector(params),
        int(params["switch_period"]),
        float(params["gamma_snr"]),
        BASELINE_RATE,
        variant.reward_sign,
        variant.square_latent_wake_term,
        variant.generative_score_from_recognition,
        variant.baseline_updated_first,
        variant.reset_traces,
        int(params["epoch_num_snr"]),
        np.random.default_rng(noise_seed),
        il_mean, il_m2, rf_mean, rf_m2,
    )  # fmt: skip
    return {
        "impression": update_statistics(il_mean, il_m2, count),
        "reinforce": update_statistics(rf_mean, rf_m2, count),
    }


def update_statistics(mean, m2, count):
    """Return mean, variance (over count samples, ddof 0) and SNR = mean^2 / variance per entry."""
    variance = m2 / count
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = mean**2 / variance
    return {"mean": mean, "variance": variance, "snr": snr}


def cosine_similarity(a, b):
    """Return the cosine of the angle between a and b (flattened), or NaN if either is zero."""
    a, b = np.ravel(a), np.ravel(b)
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / norm) if norm > 0 else float("nan")


def snapshot_seeds(seed, n_snapshots):
    """Return the (data, noise) SeedSequences of every snapshot's comparison."""
    return [
        (
            np.random.SeedSequence(seed, spawn_key=(DATA_SPAWN_KEY, k)),
            np.random.SeedSequence(seed, spawn_key=(NOISE_SPAWN_KEY, k)),
        )
        for k in range(n_snapshots)
    ]


def analyse_snapshots(snapshot_weights, mixing_matrix, params):
    """Compare the two rules on every snapshot in parallel threads, and return the stacked SNR outputs."""
    n_snapshots = snapshot_weights["W_in"].shape[0]
    seeds = snapshot_seeds(params["seed"], n_snapshots)
    sequences = [
        draw_sequence(mixing_matrix, params["dt"], params["snr_steps"], np.random.default_rng(data_seed))[0]
        for data_seed, _ in seeds
    ]

    def compare(k):
        weights = {name: snapshot_weights[name][k] for name in ("W_in", "W_out", "D")}
        return compare_updates(weights, sequences[k], params, seeds[k][1])

    n_workers = max(1, min(n_snapshots, numba.config.NUMBA_NUM_THREADS))
    bar = progress_bar(n_snapshots, "SNR comparisons", unit="snapshot")
    comparisons = []
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        for comparison in pool.map(compare, range(n_snapshots)):
            comparisons.append(comparison)
            bar.update(1)
    bar.close()
    return stack_comparisons(comparisons, np.stack(sequences), params)


def stack_comparisons(comparisons, sequences, params):
    """Return the per-snapshot outputs stacked along a leading snapshot axis, with summaries."""
    output = {"x": sequences, "reinforce_variant": params["reinforce_variant"]}
    for rule in ("impression", "reinforce"):
        output[rule] = {
            name: np.stack([comparison[rule][name] for comparison in comparisons])
            for name in ("mean", "variance", "snr")
        }
        output[rule]["mean_snr"] = output[rule]["snr"].reshape(len(comparisons), -1).mean(axis=1)
        output[rule]["norm"] = np.linalg.norm(output[rule]["mean"].reshape(len(comparisons), -1), axis=1)
    output["cosine"] = np.array(
        [cosine_similarity(c["impression"]["mean"], c["reinforce"]["mean"]) for c in comparisons]
    )
    return output


def run_snr(params):
    """Run the SNR mode for params, and return the result dict of simulate with an 'snr' entry added."""
    result = simulate(params)
    if result["status"] != "complete":
        log.warning("SNR analysis skipped: training %s", result["status"])
        return result

    started = time.perf_counter()
    n_snapshots = result["snapshot_weights"]["W_in"].shape[0]
    log.info(
        "SNR analysis: %d snapshots x %d repetitions of %d steps, REINFORCE variant %s, gamma %g",
        n_snapshots, params["epoch_num_snr"], params["snr_steps"], params["reinforce_variant"], params["gamma_snr"],
    )  # fmt: skip
    result["snr"] = analyse_snapshots(result["snapshot_weights"], result["mixing_matrix"], params)
    snr_seconds = time.perf_counter() - started
    result["timing"]["snr_seconds"] = snr_seconds
    result["timing"]["wall_seconds"] += snr_seconds

    summary = result["snr"]
    for k in (0, n_snapshots // 2, n_snapshots - 1):
        log.info(
            "snapshot %d: mean SNR IL %.3g, REINFORCE %.3g; cosine %.3f",
            k, summary["impression"]["mean_snr"][k], summary["reinforce"]["mean_snr"][k], summary["cosine"][k],
        )  # fmt: skip
    return result
