"""Backpropagation control: the impression-learning network trained by SGD on its wake loss.

The network is the one-latent-layer network of the impression-learning (IL)
runs, in the wake phase only. At step t, with eps_s and eps_r standard
normal noise:

    s   = x_t + sigma_in eps_s                     stimulus-layer sample
    r   = tanh(W_in s) + sigma_rec eps_r           latent sample
    L_t = |s - W_out r|^2 / sigma_obs^2 + |r - d * r_{t-1}|^2 / sigma_gen^2
          - |s - x_t|^2 / sigma_in^2 - |r - tanh(W_in s)|^2 / sigma_rec^2

L_t is a one-sample estimate of 2 log q(s, r | x) / p(s, r | r_{t-1}) up to
a constant, and its last two terms are the recognition entropy terms. r is
a differentiable function of W_in (reparameterisation), and r_{t-1} enters
as a constant, so the gradient is not propagated back through time.
Autograd differentiates the first two terms only (wake_energy), because the
entropy terms have zero gradient (recognition_terms).

Randomness: one seed per run, split by numpy's SeedSequence into the streams
of impression.simulation (same order), so an IL run and a backprop run with
the same seed see the same mixing matrix, data and initial weights. All
noise is drawn with numpy in chunks and fed to torch.
"""

import contextlib
import math
import platform
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from impression.config import load_param_module, parse_value, resolve_params
from impression.data import LatentProcess, draw_mixing_matrix, draw_sequence
from impression.errors import ConfigError, DivergenceError
from impression.progress import log, progress_bar
from impression.simulation import spawn_seeds
from impression.storage import run_result_path, save_result

PARAM_MODULE = "il_exp_params_bp"
CHUNK_STEPS = 10_000  # training steps whose data and noise are drawn at once
DTYPE = torch.float64


####################################################################
# Parameters
####################################################################
def resolve_backprop_params(mode=None, array_num=None, seed=None, overrides=None):
    """Return the complete, checked parameter dict of one backprop run.

    mode None takes ``mode`` from il_exp_params_bp.py. overrides maps keys
    to command-line strings or to values of the right type. lr_D None (the
    default) becomes lr * sigma_gen^2 / sigma_rec^2 after the overrides, so
    it follows an overridden lr or sigma.
    """
    module = load_param_module(PARAM_MODULE)
    mode = mode or module.mode
    if mode not in module.PARAMS:
        raise ConfigError(
            f"unknown mode {mode!r} for the backprop control; expected one of {', '.join(module.PARAMS)} "
            "(set mode in il_exp_params_bp.py or pass --mode NAME)"
        )

    # lr_D defaults to None, which the shared parser cannot type, so a
    # command-line value is parsed here as a number.
    overrides = dict(overrides or {})
    if isinstance(overrides.get("lr_D"), str):
        overrides["lr_D"] = parse_value("lr_D", overrides["lr_D"], 0.0)

    params = resolve_params(mode, array_num, seed, overrides, module)
    if params["lr_D"] is None:
        params["lr_D"] = params["lr"] * params["sigma_gen"] ** 2 / params["sigma_rec"] ** 2
    check_params(params)
    return params


def check_params(params):
    """Raise ConfigError naming the first parameter whose value cannot run."""
    for key in ("n_in", "n_latent", "n_neurons", "n_train", "n_test"):
        if params[key] < 1:
            raise ConfigError(f"--{key}={params[key]}: invalid value, expected a positive integer")
    if not 2 <= params["n_snapshots"] <= params["n_train"] + 1:
        raise ConfigError(
            f"--n_snapshots={params['n_snapshots']}: invalid value, "
            f"expected 2 to n_train + 1 = {params['n_train'] + 1} "
            "(the first test is before learning, the last after the last step)"
        )
    for key in ("dt", "sigma_in", "sigma_obs", "sigma_rec", "sigma_gen"):
        if not (math.isfinite(params[key]) and params[key] > 0):
            raise ConfigError(f"--{key}={params[key]}: invalid value, expected a positive number")
    for key in ("lr", "lr_D", "D_init"):
        if not math.isfinite(params[key]):
            raise ConfigError(f"--{key}={params[key]}: invalid value, expected a finite number")
    for key in ("lr", "lr_D"):
        if params[key] < 0:
            raise ConfigError(f"--{key}={params[key]}: invalid value, expected a learning rate >= 0")
    if params["seed"] < 0:
        raise ConfigError(f"--seed {params['seed']}: invalid value, expected an integer >= 0")


def snapshot_steps(n_train, n_snapshots):
    """Return the training steps after which the network is tested: 0 (before learning) to n_train."""
    return [k * n_train // (n_snapshots - 1) for k in range(n_snapshots)]


####################################################################
# Model
####################################################################
def initial_weights(n_in, n_neurons, D_init, rng):
    """Draw W_in ~ N(0, (1/n_in)^2) and W_out ~ N(0, (1/n_neurons)^2); d = D_init.

    The draws come in the order of impression.network.OneLayerNetwork.initial,
    so the same generator gives the IL network's initial weights.
    """
    W_in = rng.normal(0.0, 1.0 / n_in, size=(n_neurons, n_in))
    W_out = rng.normal(0.0, 1.0 / n_neurons, size=(n_in, n_neurons))
    d = np.full(n_neurons, float(D_init))
    return {"W_in": W_in, "W_out": W_out, "D": d}


def weight_tensors(weights):
    """Return (W_in, W_out, d) as float64 leaf tensors that require gradients (copies)."""
    return tuple(torch.tensor(weights[name], dtype=DTYPE, requires_grad=True) for name in ("W_in", "W_out", "D"))


def wake_energy(W_in, W_out, d, s, latent_noise, r_previous, sigma_obs, sigma_gen):
    """Return (energy, r) of one step: the weight-dependent terms of the wake loss and the latent sample.

    s (n_in,) is the stimulus-layer sample, latent_noise (n,) is sigma_rec
    eps_r and r_previous (n,) the previous latent sample, a constant.
    energy = |s - W_out r|^2 / sigma_obs^2 + |r - d * r_previous|^2 / sigma_gen^2.
    """
    r = torch.tanh(torch.mv(W_in, s)) + latent_noise

    # Linear generative prediction, the same model as the IL network. The
    # authors' il_backprop.py (github.com/colinbredenberg/Impression-Learning-Camera-Ready)
    # applies tanh to W_out r here.
    prediction = torch.mv(W_out, r)

    observation_error = s - prediction
    prior_error = r - d * r_previous
    energy = observation_error.dot(observation_error) / sigma_obs**2 + prior_error.dot(prior_error) / sigma_gen**2
    return energy, r


def recognition_terms(x, s, latent_noise, sigma_in, sigma_rec):
    """Return |s - x_t|^2 / sigma_in^2 + |r - tanh(W_in s)|^2 / sigma_rec^2 per row, the entropy terms.

    r - tanh(W_in s) is latent_noise exactly, so these terms depend on the
    noise only and have zero gradient with respect to every weight. They are
    therefore computed outside autograd. The stimulus term is divided by
    sigma_in, the stimulus-layer noise s.d., where the authors' il_backprop.py
    divides it by the latent-layer sigma_rec.
    """
    stimulus = torch.linalg.vecdot(s - x, s - x) / sigma_in**2
    latent = torch.linalg.vecdot(latent_noise, latent_noise) / sigma_rec**2
    return stimulus + latent


@dataclass
class NoisySequence:
    """Data and noise of a stretch of steps, with the samples that do not depend on the weights."""

    x: torch.Tensor  # (steps, n_in) data
    s: torch.Tensor  # (steps, n_in) stimulus-layer samples x + sigma_in eps_s
    latent_noise: torch.Tensor  # (steps, n) sigma_rec eps_r
    recognition: np.ndarray  # (steps,) entropy terms of the wake loss


def add_noise(x, stimulus_rng, latent_rng, n_neurons, params):
    """Return the NoisySequence of data x (numpy) with noise from the two generators.

    Each generator yields one row per step, so drawing a sequence in one
    chunk or several gives the same noise.
    """
    steps = x.shape[0]
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    eps_s = torch.from_numpy(stimulus_rng.standard_normal((steps, x.shape[1])))
    eps_r = torch.from_numpy(latent_rng.standard_normal((steps, n_neurons)))
    s = x + params["sigma_in"] * eps_s
    latent_noise = params["sigma_rec"] * eps_r
    recognition = recognition_terms(x, s, latent_noise, params["sigma_in"], params["sigma_rec"])
    return NoisySequence(x, s, latent_noise, recognition.numpy())


def mean_test_loss(W_in, W_out, d, test, sigma_obs, sigma_gen):
    """Return the mean wake loss over the test sequence, without learning, starting from r = 0.

    Without learning the latent samples r_t do not depend on r_{t-1}, so all
    steps are computed at once; r_{t-1} enters only the prior term.
    """
    with torch.no_grad():
        r = torch.tanh(test.s @ W_in.T) + test.latent_noise
        r_previous = torch.cat([torch.zeros_like(r[:1]), r[:-1]])
        observation_error = test.s - r @ W_out.T
        prior_error = r - d * r_previous
        energy = (
            torch.linalg.vecdot(observation_error, observation_error) / sigma_obs**2
            + torch.linalg.vecdot(prior_error, prior_error) / sigma_gen**2
        )
        return float(energy.mean()) - float(test.recognition.mean())


####################################################################
# Training
####################################################################
@dataclass
class TrainingRecord:
    """Results of a training run, up to the first non-finite value when it diverged."""

    snapshot_steps: list = field(default_factory=list)  # steps of the tests done
    test_loss: list = field(default_factory=list)  # mean test wake loss at each of them
    snapshot_weights: list = field(default_factory=list)  # weight dicts at each of them
    trace_steps: list = field(default_factory=list)  # last step of each training chunk
    trace_loss: list = field(default_factory=list)  # mean training wake loss of each chunk
    weights: dict = None  # weights when training stopped, non-finite ones included
    divergence: dict = None  # {'step', 'cause'} of the first non-finite value, or None
    steps_done: int = 0  # SGD updates applied
    train_seconds: float = 0.0  # time in the training loop, data and noise drawing included
    test_seconds: float = 0.0


def copy_weights(W_in, W_out, d):
    """Return the weights as numpy copies, the diagonal d under the key "D"."""
    return {name: tensor.detach().numpy().copy() for name, tensor in (("W_in", W_in), ("W_out", W_out), ("D", d))}


def train_chunk(parameters, chunk, r_previous, params, losses):
    """Run one SGD step per row of chunk; return (r of the last step, index of a non-finite loss or -1).

    losses receives the wake loss of every step run.
    """
    W_in, W_out, d = parameters
    sigma_obs, sigma_gen = params["sigma_obs"], params["sigma_gen"]
    lr, lr_D = params["lr"], params["lr_D"]

    for i, (s, latent_noise) in enumerate(zip(chunk.s.unbind(0), chunk.latent_noise.unbind(0), strict=True)):
        # forward: latent sample and wake loss
        energy, r = wake_energy(W_in, W_out, d, s, latent_noise, r_previous, sigma_obs, sigma_gen)
        loss = energy.item() - chunk.recognition[i]

        # a non-finite loss stops the run before its update
        if not math.isfinite(loss):
            return r_previous, i
        losses[i] = loss

        # backward: gradients of the energy; the entropy terms have none
        grad_W_in, grad_W_out, grad_d = torch.autograd.grad(energy, parameters)

        # plain SGD update without momentum; manual in-place updates cost
        # less per step than torch.optim.SGD at these sizes
        with torch.no_grad():
            W_in.sub_(grad_W_in, alpha=lr)
            W_out.sub_(grad_W_out, alpha=lr)
            d.sub_(grad_d, alpha=lr_D)

        # the next prior mean uses this sample as a constant (no backpropagation through time)
        r_previous = r.detach()

    return r_previous, -1


class OnlineTrainer:
    """SGD training state of one run: weights, data and noise streams, previous latent sample, record."""

    def __init__(self, weights, mixing_matrix, params, seeds):
        self.params = params
        self.parameters = weight_tensors(weights)
        self.process = LatentProcess(mixing_matrix, params["dt"], np.random.default_rng(seeds["train_data"]))
        stimulus_seed, latent_seed = seeds["train_noise"].spawn(2)
        self.stimulus_rng = np.random.default_rng(stimulus_seed)
        self.latent_rng = np.random.default_rng(latent_seed)
        self.r_previous = torch.zeros(params["n_neurons"], dtype=DTYPE)
        self.losses = np.empty(CHUNK_STEPS)
        self.record = TrainingRecord()

    def train_until(self, stop, bar=None):
        """Train up to step stop, one chunk of data and noise at a time; return False if it diverged."""
        record = self.record
        while record.steps_done < stop:
            started = time.perf_counter()
            n_steps = min(CHUNK_STEPS, stop - record.steps_done)
            x, _ = self.process.next_chunk(n_steps)
            chunk = add_noise(x, self.stimulus_rng, self.latent_rng, self.params["n_neurons"], self.params)
            self.r_previous, bad = train_chunk(self.parameters, chunk, self.r_previous, self.params, self.losses)
            done = bad if bad >= 0 else n_steps
            record.train_seconds += time.perf_counter() - started

            if done > 0:
                record.trace_steps.append(record.steps_done + done)
                record.trace_loss.append(float(self.losses[:done].mean()))
            record.steps_done += done
            if bar is not None:
                bar.update(done)

            # step indices count from 0, so the loss of step k follows k updates
            if bad >= 0:
                record.divergence = {"step": record.steps_done, "cause": "non-finite training loss"}
                return False
            if not all(bool(torch.isfinite(p).all()) for p in self.parameters):
                record.divergence = {"step": record.steps_done - 1, "cause": "non-finite weights"}
                return False
        return True

    def test(self, test):
        """Record the mean test wake loss of the current weights and a copy of them; return False if non-finite."""
        record = self.record
        started = time.perf_counter()
        loss = mean_test_loss(*self.parameters, test, self.params["sigma_obs"], self.params["sigma_gen"])
        record.test_seconds += time.perf_counter() - started
        record.snapshot_steps.append(record.steps_done)
        record.test_loss.append(loss)
        record.snapshot_weights.append(copy_weights(*self.parameters))
        if not math.isfinite(loss):
            record.divergence = {"step": record.steps_done, "cause": "non-finite test loss"}
            return False
        return True


def train(weights, mixing_matrix, test, params, seeds, progress=True):
    """Train from the initial weights (numpy dict), testing at the snapshot steps; return a TrainingRecord."""
    trainer = OnlineTrainer(weights, mixing_matrix, params, seeds)
    steps = snapshot_steps(params["n_train"], params["n_snapshots"])
    train_bar = progress_bar(params["n_train"], "training", unit="step") if progress else None
    test_bar = progress_bar(len(steps) * params["n_test"], "testing snapshots", unit="step") if progress else None
    try:
        for stop in steps:
            if not trainer.train_until(stop, train_bar):
                break

            # test without learning on the whole test sequence
            finite = trainer.test(test)
            if test_bar is not None:
                test_bar.update(params["n_test"])
                train_bar.set_postfix(test_loss=f"{trainer.record.test_loss[-1]:.4g}")
            if not finite:
                break
    finally:
        if train_bar is not None:
            train_bar.close()
            test_bar.close()
    trainer.record.weights = copy_weights(*trainer.parameters)
    return trainer.record


####################################################################
# Protocol and results
####################################################################
@contextlib.contextmanager
def torch_threads(count):
    """Run the block with count intra-op threads, then restore the previous number."""
    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def package_versions():
    return {"python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__}


def simulate(params, progress=True):
    """Run one backprop run for params; return the result dict (plain data).

    A diverged run returns what it computed before the first non-finite
    value, with status 'diverged'; the caller saves it and reports.
    """
    started = time.perf_counter()
    seeds = spawn_seeds(params["seed"])
    mixing_matrix = draw_mixing_matrix(
        params["n_in"], params["n_latent"], np.random.default_rng(seeds["mixing_matrix"])
    )
    x_test, z_test = draw_sequence(
        mixing_matrix, params["dt"], params["n_test"], np.random.default_rng(seeds["test_data"])
    )
    stimulus_seed, latent_seed = seeds["test_noise"].spawn(2)
    test = add_noise(
        x_test,
        np.random.default_rng(stimulus_seed),
        np.random.default_rng(latent_seed),
        params["n_neurons"],
        params,
    )
    weights = initial_weights(
        params["n_in"], params["n_neurons"], params["D_init"], np.random.default_rng(seeds["weights"])
    )

    log.info(
        "mode %s, array %d, seed %d: backprop, %d steps (%d inputs, %d latents, %d neurons, lr %g, lr_D %g)",
        params["mode"],
        params["array_num"],
        params["seed"],
        params["n_train"],
        params["n_in"],
        params["n_latent"],
        params["n_neurons"],
        params["lr"],
        params["lr_D"],
    )
    # One thread: at these sizes every operation is far too small to gain
    # from intra-op parallelism, and extra threads only add overhead.
    with torch_threads(1):
        record = train(weights, mixing_matrix, test, params, seeds, progress)

    step_microseconds = 1e6 * record.train_seconds / max(record.steps_done, 1)
    log.info("trained %d steps, %.1f us per step", record.steps_done, step_microseconds)
    result = {
        "status": "complete" if record.divergence is None else "diverged",
        "algorithm": "backprop",
        "mode": params["mode"],
        "array_num": params["array_num"],
        "seed": params["seed"],
        "params": dict(params),
        "dimensions": {key: params[key] for key in ("n_in", "n_latent", "n_neurons")},
        "versions": package_versions(),
        "snapshot_steps": np.array(record.snapshot_steps, dtype=np.int64),
        "test_loss": np.array(record.test_loss, dtype=np.float64),
        "train_loss": {
            "step": np.array(record.trace_steps, dtype=np.int64),
            "mean": np.array(record.trace_loss, dtype=np.float64),
        },
        "snapshot_weights": {
            name: np.array([w[name] for w in record.snapshot_weights]) for name in ("W_in", "W_out", "D")
        },
        "mixing_matrix": mixing_matrix,
        "test": {"x": x_test, "z": z_test},
        "weights": record.weights,
        "steps_done": record.steps_done,
    }
    if record.divergence is not None:
        result["divergence"] = record.divergence
    result["timing"] = {
        "train_seconds": record.train_seconds,
        "train_step_microseconds": step_microseconds,
        "test_seconds": record.test_seconds,
        "wall_seconds": time.perf_counter() - started,
        "torch_threads": 1,
    }
    return result


def run_and_save(params, progress=True):
    """Run, save the result file and return its path; raise DivergenceError after saving a diverged run."""
    result = simulate(params, progress)
    path = save_result(run_result_path(params), result)
    log.info("saved %s (%.1f s)", path, result["timing"]["wall_seconds"])
    if result["status"] == "diverged":
        step = result["divergence"]["step"]
        raise DivergenceError(
            f"training diverged at step {step} with lr={params['lr']:g}, lr_D={params['lr_D']:g}: "
            f"{result['divergence']['cause']}. Lower the learning rate, e.g. --lr={params['lr'] / 10:g}. "
            f"The tests done before that step are saved in {path}"
        )
    return path
