"""Simulation protocol of one run of the synthetic-data network.

1. Draw the mixing matrix and the test sequence; the training sequence is
   drawn chunk by chunk during training (2,000,000 x 100 steps would be
   1.6 GB in float64).
2. Train for epoch_num passes, keeping n_snapshots copies of the network,
   evenly spaced, the first before any learning.
3. Test every snapshot on the test sequence without learning; its mean loss
   is one point of the loss-through-training curve.
4. Generative run: the final network in deep sleep (never switches) for the
   length of the test sequence.
5. The final network on the test sequence in wake only and with phase
   alternation, both with one noise seed.
"""

import platform
import time

import numpy as np

from impression.data import LatentProcess, draw_mixing_matrix, draw_sequence
from impression.network import OneLayerNetwork
from impression.progress import log, progress_bar

# Independent random streams of a run, spawned from its seed in this order.
# NOTE: append new names at the end; reordering changes every seed's numbers.
STREAMS = (
    "mixing_matrix",
    "train_data",
    "test_data",
    "weights",
    "train_noise",
    "test_noise",
    "generative_noise",
    "sequence_noise",
)
CHUNK_STEPS = 10_000  # training steps per compiled call; bounds memory and sets the progress granularity
N_RECORD = 5_000  # steps of the test sequence whose predictions and generated stimuli are saved


def make_network(params, rng):
    """Return the initial network of the run's learning rule (params['algorithm'])."""
    if params["algorithm"] == "impression":
        return OneLayerNetwork.initial(params["n_in"], params["n_neurons"], params["D_init"], rng)
    if params["algorithm"] == "reinforce":
        from impression.reinforce import ReinforceNetwork

        return ReinforceNetwork.initial(
            params["n_in"], params["n_neurons"], params["D_init"], rng, variant=params["reinforce_variant"]
        )
    raise ValueError(f"no one-layer network for algorithm {params['algorithm']!r}")


def spawn_seeds(seed):
    """Return {stream name: SeedSequence} of the run's independent random streams."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return dict(zip(STREAMS, children, strict=True))


def package_versions():
    import numba
    import scipy

    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "scipy": scipy.__version__,
    }


def snapshot_steps(total_steps, n_snapshots):
    """Return the global training steps at which snapshots are taken (before that step's update)."""
    return [k * total_steps // n_snapshots for k in range(n_snapshots)]


def train(network, mixing_matrix, params, seeds):
    """Train in place; return (snapshots, train-loss trace, divergence dict or None)."""
    n_train = params["n_train"]
    total_steps = n_train * params["epoch_num"]
    pending = snapshot_steps(total_steps, params["n_snapshots"])
    snapshots = []
    trace_steps, trace_loss = [], []
    noise_rng = np.random.default_rng(seeds["train_noise"])
    step = 0
    bar = progress_bar(total_steps, "training")
    for epoch in range(params["epoch_num"]):
        # every epoch replays the same training sequence from rest
        process = LatentProcess(mixing_matrix, params["dt"], np.random.default_rng(seeds["train_data"]))
        network.reset_state()
        epoch_step = 0
        while epoch_step < n_train:
            if pending and pending[0] == step:
                snapshots.append(network.copy())
                pending.pop(0)

            # run up to the next snapshot, the end of the epoch or a full chunk
            next_stop = pending[0] if pending else total_steps
            n_steps = min(CHUNK_STEPS, n_train - epoch_step, next_stop - step)
            x, _ = process.next_chunk(n_steps)
            losses, _, bad = network.run(x, params, noise_rng, learn=True, switching=True, draw_all_noise=False)

            if bad >= 0 or not network.weights_finite():
                bad_step = step + (bad if bad >= 0 else n_steps - 1)
                bar.close()
                return snapshots, (trace_steps, trace_loss), {"step": bad_step, "epoch": epoch}

            trace_steps.append(step + n_steps)
            trace_loss.append(float(losses.mean()))
            step += n_steps
            epoch_step += n_steps
            bar.update(n_steps)
            bar.set_postfix(loss=f"{trace_loss[-1]:.4g}", refresh=False)
    bar.close()
    return snapshots, (trace_steps, trace_loss), None


def test_snapshots(snapshots, x_test, params, seeds):
    """Return the mean test loss of every snapshot, each run from rest with the same noise."""
    test_loss = np.empty(len(snapshots))
    bar = progress_bar(len(snapshots) * x_test.shape[0], "testing snapshots")
    for k, snapshot in enumerate(snapshots):
        network = snapshot.copy()
        network.reset_state()
        rng = np.random.default_rng(seeds["test_noise"])
        losses, _, _ = network.run(x_test, params, rng, learn=False, switching=params["test_switching"])
        test_loss[k] = losses.mean()
        bar.update(x_test.shape[0])
    bar.close()
    return test_loss


def run_sequences(network, x_test, params, seeds):
    """Return the deep-sleep generative run and the wake and alternating test sequences."""
    trajectories = {}

    # deep sleep: the generative model sampled freely, x enters the loss only
    dreamer = network.copy()
    dreamer.reset_state(wake=False)
    rng = np.random.default_rng(seeds["generative_noise"])
    losses, records, _ = dreamer.run(x_test, params, rng, learn=False, switching=False, record=("r", "s"))
    trajectories["generative"] = {"r": records["r"], "s": records["s"][:N_RECORD], "loss": losses}

    # wake only and alternating phases, with the same noise in both
    for name, switching in (("wake_sequence", False), ("wake_sleep_sequence", True)):
        runner = network.copy()
        runner.reset_state()
        rng = np.random.default_rng(seeds["sequence_noise"])
        losses, records, _ = runner.run(
            x_test, params, rng, learn=False, switching=switching, record=("r", "prediction")
        )
        trajectories[name] = {
            "r": records["r"],
            "prediction": records["prediction"][:N_RECORD],
            "loss": losses,
        }
    return trajectories


def simulate(params):
    """Run the protocol for params; return the result dict (plain data).

    A diverging run returns what it computed (the snapshots tested so far)
    with status 'diverged' and the step; the caller saves it and reports.
    """
    started = time.perf_counter()
    seeds = spawn_seeds(params["seed"])
    mixing_matrix = draw_mixing_matrix(
        params["n_in"], params["n_latent"], np.random.default_rng(seeds["mixing_matrix"])
    )
    x_test, z_test = draw_sequence(
        mixing_matrix, params["dt"], params["n_test"], np.random.default_rng(seeds["test_data"])
    )
    network = make_network(params, np.random.default_rng(seeds["weights"]))

    log.info(
        "mode %s, array %d, seed %d: training %d steps (%d inputs, %d latents, eta %g)",
        params["mode"],
        params["array_num"],
        params["seed"],
        params["n_train"] * params["epoch_num"],
        params["n_in"],
        params["n_neurons"],
        params["eta"],
    )
    train_started = time.perf_counter()
    snapshots, (trace_steps, trace_loss), divergence = train(network, mixing_matrix, params, seeds)
    train_seconds = time.perf_counter() - train_started

    test_loss = test_snapshots(snapshots, x_test, params, seeds)
    steps = snapshot_steps(params["n_train"] * params["epoch_num"], params["n_snapshots"])
    result = {
        "status": "complete" if divergence is None else "diverged",
        "mode": params["mode"],
        "array_num": params["array_num"],
        "seed": params["seed"],
        "algorithm": params["algorithm"],
        "params": dict(params),
        "versions": package_versions(),
        "snapshot_steps": np.array(steps[: len(snapshots)], dtype=np.int64),
        "test_loss": test_loss,
        "train_loss": {"step": np.array(trace_steps, dtype=np.int64), "mean": np.array(trace_loss)},
        "snapshot_weights": {
            name: np.stack([snapshot.weights()[name] for snapshot in snapshots]) for name in ("W_in", "W_out", "D")
        },
        "mixing_matrix": mixing_matrix,
        "test": {"x": x_test, "z": z_test},
    }
    if divergence is not None:
        result["divergence"] = divergence
    else:
        result["weights"] = network.weights()
        result.update(run_sequences(network, x_test, params, seeds))

    total_steps = params["n_train"] * params["epoch_num"]
    result["timing"] = {
        "train_seconds": train_seconds,
        "train_step_microseconds": 1e6 * train_seconds / max(total_steps, 1),
        "wall_seconds": time.perf_counter() - started,
    }
    return result
