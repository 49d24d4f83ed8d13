"""Time the two-layer network of Figure 4: per step, and the full Vocal_Digits IL run.

    python benchmarks/bench_vocal_digits.py              # kernel steps, then the full run (about 30 s)
    python benchmarks/bench_vocal_digits.py --steps-only

Reads data/fsdd_spectrograms.npz when it exists (frames of the real training
set), else times the steps on random frames of the same shape and prints
the full run's cost as an estimate from the step times. Writes nothing.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from impression.config import resolve_params  # noqa: E402
from impression.progress import configure_logging  # noqa: E402
from impression.two_layer import TwoLayerNetwork  # noqa: E402
from impression.vocal_digits import dataset_path, load_spectrograms, run_vocal_digits  # noqa: E402

N_STEPS = 50_000  # steps per timed kernel call
N_TRAIN_FULL = 52_326  # training frames of the full FSDD set, for the estimate without the dataset
N_TEST_FULL = 5_713  # test frames of the full FSDD set


def time_steps(network, x, params, learn):
    """Return the seconds per step of one run over x (after a compiling call)."""
    rng = np.random.default_rng(0)
    network.run(x[:10], params, rng, learn=learn, switching=True)
    started = time.perf_counter()
    network.run(x, params, rng, learn=learn, switching=True)
    return (time.perf_counter() - started) / x.shape[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps-only", action="store_true", help="time the kernel steps, skip the full run")
    args = parser.parse_args()
    configure_logging()
    params = resolve_params("Vocal_Digits", 1)
    have_dataset = dataset_path(params).is_file()
    if have_dataset:
        x = load_spectrograms(params)["x_train"][:N_STEPS]
        source = f"real frames from {dataset_path(params)}"
    else:
        x = np.abs(np.random.default_rng(1).normal(1.8, 1.0, (N_STEPS, params["n_in"])))
        source = "random frames (no dataset found)"
    print(f"timing {x.shape[0]} steps of the 128-100-40 network on {source}")

    per_step = {}
    for name, algorithm, learn, eta in (
        ("IL training", "impression", True, params["eta"]),
        ("test (no learning)", "impression", False, params["eta"]),
        ("REINFORCE training", "reinforce", True, 1e-10),
    ):
        network = TwoLayerNetwork.initial(
            params["n_in"], params["n_neurons"], params["n_neurons_top"], 0.6, np.random.default_rng(2)
        )
        per_step[name] = time_steps(network, x, dict(params, algorithm=algorithm, eta=eta), learn)
        print(f"  {name:20s} {1e6 * per_step[name]:7.2f} us/step")

    train_steps = N_TRAIN_FULL * params["epoch_num"]
    test_steps = N_TEST_FULL * (params["n_snapshots"] + 4)  # snapshot tests, deep sleep twice, two sequences
    estimate = train_steps * per_step["IL training"] + test_steps * per_step["test (no learning)"]
    print(f"estimate of the full IL run ({train_steps} training, {test_steps} test steps): {estimate:.1f} s")

    if have_dataset and not args.steps_only:
        started = time.perf_counter()
        result = run_vocal_digits(params)
        wall = time.perf_counter() - started
        timing = result["timing"]
        print(
            f"full IL run, measured: {wall:.1f} s wall ({timing['train_seconds']:.1f} s training at "
            f"{timing['train_step_microseconds']:.2f} us/step, {timing['test_seconds']:.1f} s tests and sequences)"
        )


if __name__ == "__main__":
    main()
