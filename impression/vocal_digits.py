"""Protocol of the spoken-digit experiment (mode 'Vocal_Digits', Figure 4).

A two-latent-layer network (128 mel bands -> 100 -> 40) learns, online and
without labels, a generative model of the concatenated mel spectrogram
frames of the Free Spoken Digit Dataset:

1. Load the dataset that il_fsdd_preprocessing.py wrote and normalise each
   set on its own as (X - min X) / std X (min X <= 0, so this is
   (X + |min X|) / std X).
2. Train for epoch_num passes over the training frames, from rest at every
   epoch start, keeping n_snapshots copies of the network, evenly spaced,
   the first before any learning.
3. Test every snapshot on the test frames without learning, with phase
   switching on; its mean loss is one point of the loss-through-training
   curve.
4. Generative run: the final network in deep sleep for the length of the
   test set.
5. The final network on the test frames in wake only and with phase
   alternation, both with one noise seed.

The result contains the normalisation constants, so figures can show dB.
"""

import time
from pathlib import Path

import numpy as np

from impression.errors import UserError
from impression.fsdd import denormalise_spectrogram, load_dataset
from impression.progress import log, progress_bar
from impression.reinforce import variant_of
from impression.simulation import package_versions, snapshot_steps, spawn_seeds, test_snapshots
from impression.two_layer import TwoLayerNetwork

CHUNK_STEPS = 10_000  # training steps per compiled call; sets the progress and train-loss granularity
N_RECORD = 1_000  # frames of the test-length runs whose spectrograms and middle-layer activities are saved
N_BANDS_SHOWN = 85  # lowest mel bands shown in Figure 4 and used for its statistics
PREPROCESSING_COMMAND = "python il_fsdd_preprocessing.py <recordings folder>"


####################################################################
# data
####################################################################
def dataset_path(params):
    """Return the dataset file: params['dataset'], relative to data_dir unless absolute."""
    path = Path(params["dataset"]).expanduser()
    return path if path.is_absolute() else Path(params["data_dir"]) / path


# The parameter that limits the frames of each set, mapped to the set's name in messages.
FRAME_COUNT_PARAMETERS = {"n_train": "training", "n_test": "test"}


def _check_frame_count(params, key):
    """Raise UserError unless params[key] is 0 (all frames) or a positive integer."""
    n = params[key]
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise UserError(
            f"--{key}={n!r} is invalid: expected 0 for all {FRAME_COUNT_PARAMETERS[key]} frames "
            "or a positive number of frames"
        )


def _first_frames(array, params, key):
    """Return the first params[key] rows of array, or all rows when it is 0. Raise UserError for more rows."""
    _check_frame_count(params, key)
    n = params[key]
    if n > array.shape[0]:
        raise UserError(
            f"--{key}={n} requests more frames than the {FRAME_COUNT_PARAMETERS[key]} set of the dataset has "
            f"({array.shape[0]}); use at most {array.shape[0]}, or 0 for all of them"
        )
    return array[:n] if n else array


def _check_dataset_path(path):
    """Raise UserError unless path is an existing file; load_dataset checks its content."""
    if path.is_dir():
        raise UserError(
            f"--dataset={path} is a folder, but a dataset file path is expected, "
            f"for example --dataset={path / 'fsdd_spectrograms.npz'}"
        )
    if not path.exists():
        raise UserError(
            f"FSDD dataset not found: {path}; create it with {PREPROCESSING_COMMAND} "
            f"(add --output {path} to write it there), or set --dataset=PATH"
        )


def load_spectrograms(params):
    """Load the FSDD dataset; return the network inputs, the test set in dB and the normalisation."""
    path = dataset_path(params)
    # n_train and n_test are checked first, so a wrong value fails before the dataset is read.
    for key in FRAME_COUNT_PARAMETERS:
        _check_frame_count(params, key)
    _check_dataset_path(path)
    dataset = load_dataset(path)
    train, test = dataset["train"], dataset["test"]
    return {
        "path": str(path),
        "x_train": _first_frames(train["spectrogram_normalised"], params, "n_train"),
        "x_test": _first_frames(test["spectrogram_normalised"], params, "n_test"),
        "test_db": _first_frames(test["spectrogram_db"], params, "n_test"),
        "test_digit": _first_frames(test["digit"], params, "n_test"),
        "normalisation": {
            name: {"min_db": float(dataset[name]["min_db"]), "std_db": float(dataset[name]["std_db"])}
            for name in ("train", "test")
        },
        "sample_rate": int(dataset["sample_rate"]),
        "n_mels": int(dataset["n_mels"]),
        "hop_length": int(dataset["hop_length"]),
        "seed": int(dataset["seed"]),
    }


def to_db(x_normalised, statistics):
    """Return network-scale values in dB with one set's normalisation constants."""
    return denormalise_spectrogram(x_normalised, statistics["min_db"], statistics["std_db"])


####################################################################
# training
####################################################################
def make_network(params, rng):
    return TwoLayerNetwork.initial(params["n_in"], params["n_neurons"], params["n_neurons_top"], params["D_init"], rng)


def traces_reset_each_epoch(params):
    """Return whether the REINFORCE traces restart at every epoch (False for the authors' variant)."""
    return params["algorithm"] != "reinforce" or variant_of(params["reinforce_variant"]).reset_traces


def train(network, x_train, params, seeds):
    """Train in place; return (snapshots, train-loss trace, divergence dict or None)."""
    n_train = x_train.shape[0]
    total_steps = n_train * params["epoch_num"]
    pending = snapshot_steps(total_steps, params["n_snapshots"])
    snapshots = []
    trace_steps, trace_loss = [], []
    noise_rng = np.random.default_rng(seeds["train_noise"])
    reset_traces = traces_reset_each_epoch(params)
    step = 0
    bar = progress_bar(total_steps, "training")
    for epoch in range(params["epoch_num"]):
        network.reset_state(reset_traces=reset_traces)
        epoch_step = 0
        while epoch_step < n_train:
            if pending and pending[0] == step:
                snapshots.append(network.copy())
                pending.pop(0)

            # run up to the next snapshot, the end of the epoch or a full chunk
            next_stop = pending[0] if pending else total_steps
            n_steps = min(CHUNK_STEPS, n_train - epoch_step, next_stop - step)
            x = x_train[epoch_step : epoch_step + n_steps]
            losses, _, bad = network.run(x, params, noise_rng, learn=True, switching=True)

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


####################################################################
# analysis of the final network
####################################################################
def deep_sleep(network, x_test, params, seeds):
    """Sample the generative model of network freely for len(x_test) steps; return (losses, records)."""
    dreamer = network.copy()
    dreamer.reset_state(wake=False)
    rng = np.random.default_rng(seeds["generative_noise"])
    losses, records, _ = dreamer.run(x_test, params, rng, learn=False, switching=False, record=("s", "r1", "r2"))
    return losses, records


def run_sequences(network, x_test, params, seeds):
    """Return the deep-sleep generative run and the wake-only and alternating test runs (full length)."""
    runs = {}

    # deep sleep: the generative model sampled freely; x enters only the loss
    losses, records = deep_sleep(network, x_test, params, seeds)
    runs["generative"] = dict(records, loss=losses)

    # wake only and alternating phases, with the same noise in both
    for name, switching in (("wake_sequence", False), ("wake_sleep_sequence", True)):
        runner = network.copy()
        runner.reset_state()
        rng = np.random.default_rng(seeds["sequence_noise"])
        losses, records, _ = runner.run(
            x_test, params, rng, learn=False, switching=switching, record=("r1", "r2", "prediction")
        )
        runs[name] = dict(records, loss=losses)
    return runs


def band_correlation(spectrogram):
    """Return the correlation matrix across the columns (mel bands); NaN where a band is constant."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.corrcoef(np.asarray(spectrogram, dtype=np.float64), rowvar=False)


def off_diagonal_cosine(first, second):
    """Return the cosine similarity of two square matrices over their off-diagonal entries, skipping NaN."""
    mask = ~np.eye(first.shape[0], dtype=bool) & np.isfinite(first) & np.isfinite(second)
    a, b = first[mask], second[mask]
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def reconstruction_quality(truth_db, reconstruction_db):
    """Return the RMSE (dB), R^2 (against each band's mean) and Pearson r of a reconstruction."""
    error = reconstruction_db - truth_db
    total = truth_db - truth_db.mean(axis=0)
    return {
        "rmse_db": float(np.sqrt(np.mean(error**2))),
        "r_squared": float(1.0 - np.sum(error**2) / np.sum(total**2)),
        "pearson_r": float(np.corrcoef(truth_db.ravel(), reconstruction_db.ravel())[0, 1]),
        "bands": int(truth_db.shape[1]),
    }


def summarise_runs(runs, data, initial_generated):
    """Turn the full-length runs into the saved arrays and statistics of Figure 4.

    initial_generated is the deep-sleep stimulus of the untrained network,
    whose band correlations give a reference for the trained network's.
    """
    stats = data["normalisation"]
    test_db = data["test_db"]
    # The generated stimuli follow what the network learned, the normalised training set.
    generated_db = to_db(runs["generative"]["s"], stats["train"])
    wake_prediction_db = to_db(runs["wake_sequence"]["prediction"], stats["test"])
    shown = slice(0, N_BANDS_SHOWN)
    correlation_test = band_correlation(test_db[:, shown])
    correlation_generated = band_correlation(generated_db[:, shown])

    summary = {
        "reconstruction": reconstruction_quality(test_db[:, shown], wake_prediction_db[:, shown]),
        "correlation": {
            "bands": N_BANDS_SHOWN,
            "test": correlation_test,
            "generated": correlation_generated,
            "cosine_similarity": off_diagonal_cosine(correlation_test, correlation_generated),
            "cosine_similarity_initial": off_diagonal_cosine(
                correlation_test, band_correlation(to_db(initial_generated, stats["train"])[:, shown])
            ),
        },
        "generative": {
            "s_db": generated_db[:N_RECORD].astype(np.float32),
            "r1": runs["generative"]["r1"][:N_RECORD].astype(np.float32),
            "r2": runs["generative"]["r2"].astype(np.float32),
            "loss": runs["generative"]["loss"],
        },
    }
    for name in ("wake_sequence", "wake_sleep_sequence"):
        summary[name] = {
            "prediction_db": to_db(runs[name]["prediction"][:N_RECORD], stats["test"]).astype(np.float32),
            "r1": runs[name]["r1"][:N_RECORD].astype(np.float32),
            "r2": runs[name]["r2"].astype(np.float32),
            "loss": runs[name]["loss"],
        }
    return summary


####################################################################
# one run
####################################################################
def run_vocal_digits(params):
    """Run the protocol for params; return the result dict (plain data).

    A diverging run returns what it computed (the snapshots tested so far)
    with status 'diverged' and the step; the caller saves it and reports.
    """
    started = time.perf_counter()
    data = load_spectrograms(params)
    x_train, x_test = data["x_train"], data["x_test"]
    if x_train.shape[1] != params["n_in"]:
        raise UserError(f"the dataset has {x_train.shape[1]} mel bands but n_in is {params['n_in']}")
    seeds = spawn_seeds(params["seed"])
    network = make_network(params, np.random.default_rng(seeds["weights"]))
    total_steps = x_train.shape[0] * params["epoch_num"]

    log.info(
        "mode %s, array %d, seed %d: %s, training %d steps (%d frames x %d epochs, eta %g)",
        params["mode"], params["array_num"], params["seed"], params["algorithm"],
        total_steps, x_train.shape[0], params["epoch_num"], params["eta"],
    )  # fmt: skip
    train_started = time.perf_counter()
    snapshots, (trace_steps, trace_loss), divergence = train(network, x_train, params, seeds)
    train_seconds = time.perf_counter() - train_started

    test_started = time.perf_counter()
    test_loss = test_snapshots(snapshots, x_test, params, seeds)
    test_seconds = time.perf_counter() - test_started
    steps = snapshot_steps(total_steps, params["n_snapshots"])
    result = {
        "status": "complete" if divergence is None else "diverged",
        "mode": params["mode"],
        "array_num": params["array_num"],
        "seed": params["seed"],
        "algorithm": params["algorithm"],
        "reinforce_variant": params["reinforce_variant"] if params["algorithm"] == "reinforce" else None,
        "params": dict(params),
        "versions": package_versions(),
        "dataset": {key: data[key] for key in ("path", "sample_rate", "n_mels", "hop_length", "seed")},
        "normalisation": data["normalisation"],
        "n_train_frames": int(x_train.shape[0]),
        "n_test_frames": int(x_test.shape[0]),
        "snapshot_steps": np.array(steps[: len(snapshots)], dtype=np.int64),
        "test_loss": test_loss,
        "train_loss": {"step": np.array(trace_steps, dtype=np.int64), "mean": np.array(trace_loss)},
        "test": {
            "x_db": data["test_db"][:N_RECORD].astype(np.float32),
            "digit": np.asarray(data["test_digit"][:N_RECORD]),
        },
    }
    if divergence is not None:
        result["divergence"] = divergence
    else:
        result["weights"] = network.weights()
        sequences_started = time.perf_counter()
        _, initial_records = deep_sleep(snapshots[0], x_test, params, seeds)
        result.update(summarise_runs(run_sequences(network, x_test, params, seeds), data, initial_records["s"]))
        log.info(
            "final network: reconstruction RMSE %.2f dB (R^2 %.3f), band-correlation cosine similarity %.3f "
            "(untrained network %.3f)",
            result["reconstruction"]["rmse_db"],
            result["reconstruction"]["r_squared"],
            result["correlation"]["cosine_similarity"],
            result["correlation"]["cosine_similarity_initial"],
        )
        test_seconds += time.perf_counter() - sequences_started

    steps_trained = total_steps if divergence is None else divergence["step"] + 1
    result["timing"] = {
        "train_seconds": train_seconds,
        "train_step_microseconds": 1e6 * train_seconds / max(steps_trained, 1),
        "test_seconds": test_seconds,
        "wall_seconds": time.perf_counter() - started,
    }
    return result
