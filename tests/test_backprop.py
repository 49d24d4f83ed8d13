"""Backprop control: autograd gradients against closed forms, learning, seeding and the entry point."""

import math

import numpy as np
import pytest
import torch
from conftest import run_script

from impression import backprop
from impression.errors import ConfigError, DivergenceError
from impression.storage import load_result, result_path

SIGMA_IN = SIGMA_OBS = SIGMA_REC = 0.01
SIGMA_GEN = 0.5 * math.sqrt(0.1)


def small_params(tmp_path, seed=None, **overrides):
    """Return resolved params of array index 1 (4 inputs, 2 latents) writing into tmp_path."""
    values = {"n_train": 500, "n_test": 300, "n_snapshots": 3, "data_dir": str(tmp_path)}
    values.update(overrides)
    return backprop.resolve_backprop_params("dimensionality", 1, seed, values)


def random_state(rng, n_in, n):
    """Return weights, stimulus sample, latent noise and previous latent sample of one random step."""
    return {
        "W_in": rng.normal(0.0, 1.0, (n, n_in)),
        "W_out": rng.normal(0.0, 1.0 / n, (n_in, n)),
        "d": rng.uniform(0.3, 1.0, n),
        "x": rng.normal(0.0, 0.5, n_in),
        "eps_s": rng.normal(size=n_in),
        "eps_r": rng.normal(size=n),
        "r_previous": rng.normal(0.0, 0.5, n),
    }


def closed_form_gradients(state):
    """Return dL/dW_in, dL/dW_out, dL/dd of the wake loss, derived by hand (numpy).

    With u = W_in s, h = tanh(u), r = h + sigma_rec eps_r,
    e_obs = s - W_out r and e_prior = r - d * r_previous:
      dL/dW_out = -2 / sigma_obs^2 e_obs r^T
      dL/dd     = -2 / sigma_gen^2 e_prior * r_previous
      dL/dr     = -2 / sigma_obs^2 W_out^T e_obs + 2 / sigma_gen^2 e_prior
      dL/dW_in  = (dL/dr * (1 - h^2)) s^T
    The entropy term -|r - h|^2 / sigma_rec^2 contributes -2 (r - h) / sigma_rec^2
    through r and +2 (r - h) / sigma_rec^2 through h, which cancel, and
    -|s - x|^2 / sigma_in^2 contains no weight.
    """
    s = state["x"] + SIGMA_IN * state["eps_s"]
    h = np.tanh(state["W_in"] @ s)
    r = h + SIGMA_REC * state["eps_r"]
    e_obs = s - state["W_out"] @ r
    e_prior = r - state["d"] * state["r_previous"]
    grad_W_out = -2.0 / SIGMA_OBS**2 * np.outer(e_obs, r)
    grad_d = -2.0 / SIGMA_GEN**2 * e_prior * state["r_previous"]
    grad_r = -2.0 / SIGMA_OBS**2 * state["W_out"].T @ e_obs + 2.0 / SIGMA_GEN**2 * e_prior
    grad_W_in = np.outer(grad_r * (1.0 - h**2), s)
    return grad_W_in, grad_W_out, grad_d


def full_wake_loss(W_in, W_out, d, x, eps_s, eps_r, r_previous):
    """Return the four-term wake loss with every term inside the autograd graph."""
    s = x + SIGMA_IN * eps_s
    h = torch.tanh(W_in @ s)
    r = h + SIGMA_REC * eps_r
    return (
        torch.sum((s - W_out @ r) ** 2) / SIGMA_OBS**2
        + torch.sum((r - d * r_previous) ** 2) / SIGMA_GEN**2
        - torch.sum((s - x) ** 2) / SIGMA_IN**2
        - torch.sum((r - h) ** 2) / SIGMA_REC**2
    )


def relative_error(actual, expected):
    return np.max(np.abs(actual - expected)) / np.max(np.abs(expected))


@pytest.mark.parametrize("trial", range(5))
def test_gradients_match_closed_form(trial):
    rng = np.random.default_rng(100 + trial)
    state = random_state(rng, n_in=6, n=3)
    expected = closed_form_gradients(state)
    tensors = {key: torch.tensor(value, dtype=torch.float64) for key, value in state.items()}
    weights = [tensors[key].clone().requires_grad_(True) for key in ("W_in", "W_out", "d")]

    # the module's loss: energy in autograd, entropy terms computed from the noise
    x = tensors["x"].unsqueeze(0)
    s = x + SIGMA_IN * tensors["eps_s"].unsqueeze(0)
    latent_noise = SIGMA_REC * tensors["eps_r"].unsqueeze(0)
    energy, _ = backprop.wake_energy(*weights, s[0], latent_noise[0], tensors["r_previous"], SIGMA_OBS, SIGMA_GEN)
    module_gradients = torch.autograd.grad(energy, weights)
    module_loss = energy.item() - backprop.recognition_terms(x, s, latent_noise, SIGMA_IN, SIGMA_REC).item()

    # the four-term loss with the entropy terms inside the graph
    full_loss = full_wake_loss(*weights, tensors["x"], tensors["eps_s"], tensors["eps_r"], tensors["r_previous"])
    full_gradients = torch.autograd.grad(full_loss, weights)

    for name, module_gradient, full_gradient, closed_form in zip(
        ("W_in", "W_out", "d"), module_gradients, full_gradients, expected, strict=True
    ):
        assert relative_error(module_gradient.numpy(), closed_form) < 1e-8, name
        assert relative_error(full_gradient.numpy(), closed_form) < 1e-8, name
    assert abs(module_loss - full_loss.item()) < 1e-8 * abs(full_loss.item())


def test_vectorised_test_loss_matches_loop():
    rng = np.random.default_rng(7)
    n_in, n, steps = 5, 3, 40
    weights = backprop.weight_tensors(
        {"W_in": rng.normal(0, 1, (n, n_in)), "W_out": rng.normal(0, 0.3, (n_in, n)), "D": rng.uniform(0, 1, n)}
    )
    params = {"sigma_in": SIGMA_IN, "sigma_rec": SIGMA_REC}
    test = backprop.add_noise(rng.normal(0, 0.5, (steps, n_in)), rng, rng, n, params)

    losses = []
    r_previous = torch.zeros(n, dtype=torch.float64)
    for t in range(steps):
        energy, r = backprop.wake_energy(*weights, test.s[t], test.latent_noise[t], r_previous, SIGMA_OBS, SIGMA_GEN)
        losses.append(energy.item() - test.recognition[t])
        r_previous = r.detach()

    vectorised = backprop.mean_test_loss(*weights, test, SIGMA_OBS, SIGMA_GEN)
    assert vectorised == pytest.approx(np.mean(losses), rel=1e-12)


def test_short_training_lowers_test_loss(tmp_path):
    # The default lr = 1e-6 is enough, because the initial loss is dominated
    # by the reconstruction error over sigma_obs^2 = 1e-4, which SGD removes
    # within the first thousand steps. At seed 1 the loss falls from 1.5e4 to
    # 290 in 3,000 steps, and seeds 1-8 all fall by a factor of 44 or more.
    params = small_params(tmp_path, n_train=3000, n_test=2000, n_snapshots=4)
    result = backprop.simulate(params, progress=False)
    test_loss = result["test_loss"]
    assert result["status"] == "complete"
    assert np.all(np.isfinite(test_loss))
    assert list(result["snapshot_steps"]) == [0, 1000, 2000, 3000]
    assert test_loss[-1] < test_loss[0] / 10


def test_same_seed_gives_identical_results(tmp_path):
    first = backprop.simulate(small_params(tmp_path), progress=False)
    second = backprop.simulate(small_params(tmp_path), progress=False)
    np.testing.assert_array_equal(first["test_loss"], second["test_loss"])
    for name in ("W_in", "W_out", "D"):
        np.testing.assert_array_equal(first["weights"][name], second["weights"][name])


def test_different_seeds_differ(tmp_path):
    first = backprop.simulate(small_params(tmp_path), progress=False)
    other = backprop.simulate(small_params(tmp_path, seed=2), progress=False)
    assert other["seed"] == 2
    assert not np.array_equal(first["mixing_matrix"], other["mixing_matrix"])
    assert not np.array_equal(first["weights"]["W_in"], other["weights"]["W_in"])
    assert not np.array_equal(first["test_loss"], other["test_loss"])


def test_chunking_does_not_change_training(tmp_path, monkeypatch):
    reference = backprop.simulate(small_params(tmp_path, n_snapshots=2), progress=False)
    monkeypatch.setattr(backprop, "CHUNK_STEPS", 37)
    chunked = backprop.simulate(small_params(tmp_path, n_snapshots=6), progress=False)
    for name in ("W_in", "W_out", "D"):
        np.testing.assert_allclose(chunked["weights"][name], reference["weights"][name], rtol=1e-12, atol=0)
    assert chunked["test_loss"][-1] == pytest.approx(reference["test_loss"][-1], rel=1e-12)


def test_initial_weights_match_il_network():
    from impression.network import OneLayerNetwork

    ours = backprop.initial_weights(8, 4, 0.6, np.random.default_rng(3))
    theirs = OneLayerNetwork.initial(8, 4, 0.6, np.random.default_rng(3)).weights()
    for name in ("W_in", "W_out", "D"):
        np.testing.assert_array_equal(ours[name], theirs[name])


def test_divergence_saves_then_raises(tmp_path):
    params = small_params(tmp_path, lr=1.0)
    with pytest.raises(DivergenceError) as caught:
        backprop.run_and_save(params, progress=False)
    message = str(caught.value)
    path = result_path(tmp_path, "dimensionality", 1, 1, tag="bp")
    result = load_result(path)
    assert "lr=1" in message
    assert f"step {result['divergence']['step']}" in message
    assert result["status"] == "diverged"
    assert result["steps_done"] < params["n_train"]
    assert np.isfinite(result["test_loss"][0])


def test_params_defaults_and_derived_lr_D(tmp_path):
    params = backprop.resolve_backprop_params("dimensionality", 3, None, {})
    assert (params["n_latent"], params["n_in"], params["n_neurons"]) == (8, 16, 8)
    assert params["seed"] == 1  # the dimensionality mode's seed, shared by every array index
    assert params["n_train"] == 300_000
    assert params["lr_D"] == pytest.approx(1e-6 * SIGMA_GEN**2 / SIGMA_REC**2)

    scaled = backprop.resolve_backprop_params("dimensionality", 1, None, {"lr": "1e-5"})
    assert scaled["lr_D"] == pytest.approx(1e-5 * SIGMA_GEN**2 / SIGMA_REC**2)

    explicit = backprop.resolve_backprop_params("dimensionality", 1, None, {"lr_D": "3e-3"})
    assert explicit["lr_D"] == 3e-3


@pytest.mark.parametrize(
    "overrides, fragment",
    [
        ({"lr_D": "fast"}, "lr_D"),
        ({"n_snapshots": "1"}, "n_snapshots"),
        ({"sigma_obs": "0"}, "sigma_obs"),
        ({"lr": "-1e-6"}, "lr"),
    ],
)
def test_params_reject_invalid_values(overrides, fragment):
    with pytest.raises(ConfigError, match=fragment):
        backprop.resolve_backprop_params("dimensionality", 1, None, overrides)


def test_entry_point_writes_result(tmp_path):
    completed = run_script(
        "il_backprop.py", "--array-num", "1", "--n_train=2000", "--n_test=500", f"--data_dir={tmp_path}"
    )
    assert completed.returncode == 0, completed.stderr
    path = tmp_path / "dimensionality_bp_array1_seed1.npz"
    assert str(path) in completed.stderr
    result = load_result(path)
    assert result["status"] == "complete"
    assert result["algorithm"] == "backprop"
    assert result["test_loss"].shape == (20,)
    assert np.all(np.isfinite(result["test_loss"]))
    assert result["params"]["n_train"] == 2000


@pytest.mark.parametrize(
    "arguments, fragment",
    [
        (["--mode", "standard"], "standard"),
        (["--foo=1"], "foo"),
        (["--n_train=abc"], "abc"),
        (["--n_train=50", "--n_test=10", "--lr=1"], "diverged"),
    ],
)
def test_entry_point_rejects_bad_input(tmp_path, arguments, fragment):
    completed = run_script("il_backprop.py", "--array-num", "1", f"--data_dir={tmp_path}", *arguments)
    assert completed.returncode == 2
    assert fragment in completed.stderr
    assert "error:" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_entry_point_sweep_runs_then_skips(tmp_path):
    arguments = ("il_backprop.py", "--array", "1-2", "--jobs", "2", "--n_train=2000", "--n_test=500")
    completed = run_script(*arguments, f"--data_dir={tmp_path}")
    assert completed.returncode == 0, completed.stderr
    paths = [tmp_path / f"dimensionality_bp_array{k}_seed1.npz" for k in (1, 2)]
    sizes = [load_result(path)["params"]["n_in"] for path in paths]
    assert sizes == [4, 8]
    written = [path.stat().st_mtime_ns for path in paths]

    rerun = run_script(*arguments, f"--data_dir={tmp_path}")
    assert rerun.returncode == 0, rerun.stderr
    assert "0 done, 0 diverged, 2 skipped" in rerun.stderr
    assert [path.stat().st_mtime_ns for path in paths] == written
