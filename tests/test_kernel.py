"""The compiled loop against independent references: autograd gradients, a plain step, the phase schedule."""

import numba
import numpy as np
import pytest
import torch

from impression import kernels
from impression.network import OneLayerNetwork

SIGMAS = dict(sigma_in=0.01, sigma_rec=0.02, sigma_gen=0.15, sigma_obs=0.03)


def random_network(rng, n_in=6, n=3):
    return OneLayerNetwork(
        W_in=rng.normal(0, 0.5, (n, n_in)),
        W_out=rng.normal(0, 0.5, (n_in, n)),
        d=rng.uniform(0.5, 0.99, n),
        r_previous=rng.normal(0, 0.5, n),
        phase=np.zeros(3, dtype=np.int64),
    )


def one_step(network, x_t, wake, just_woke=False, eta=1e-7):
    """Run one learning step in a fixed phase; return (weight changes / eta, records, previous r, old weights)."""
    network.phase[:] = [1 if wake else 0, 0, 1 if just_woke else 0]
    before = network.weights()
    r_previous = network.r_previous.copy()
    params = dict(SIGMAS, eta=eta, switch_period=1)
    _, records, _ = network.run(
        x_t[np.newaxis, :], params, np.random.default_rng(3), learn=True, switching=False, record=("r", "s")
    )
    after = network.weights()
    changes = {name: (after[name] - before[name]) / eta for name in before}
    return changes, records, r_previous, before


def test_sleep_update_is_scaled_gradient_of_recognition_error():
    rng = np.random.default_rng(0)
    network = random_network(rng)
    x_t = rng.normal(0, 0.5, 6)
    changes, records, _, before = one_step(network, x_t, wake=False)
    s, r = records["s"][0], records["r"][0]

    # -sigma_rec^2 / 2 times the gradient of ||h - tanh(W_in a)||^2 / sigma_rec^2 at the old weights
    W_in = torch.tensor(before["W_in"], requires_grad=True)
    error = torch.sum((torch.tensor(r) - torch.tanh(W_in @ torch.tensor(s))) ** 2) / SIGMAS["sigma_rec"] ** 2
    error.backward()
    expected = -(SIGMAS["sigma_rec"] ** 2) / 2 * W_in.grad.numpy()

    np.testing.assert_allclose(changes["W_in"], expected, rtol=1e-6, atol=1e-9)
    assert np.all(changes["W_out"] == 0)
    assert np.all(changes["D"] == 0)


def test_wake_updates_are_scaled_gradients_of_generative_errors():
    rng = np.random.default_rng(1)
    network = random_network(rng)
    x_t = rng.normal(0, 0.5, 6)
    changes, records, r_previous, before = one_step(network, x_t, wake=True)
    r = records["r"][0]

    W_out = torch.tensor(before["W_out"], requires_grad=True)
    stimulus_error = torch.sum((torch.tensor(x_t) - W_out @ torch.tensor(r)) ** 2) / SIGMAS["sigma_obs"] ** 2
    stimulus_error.backward()
    expected_W_out = -(SIGMAS["sigma_obs"] ** 2) / 2 * W_out.grad.numpy()

    d = torch.tensor(before["D"], requires_grad=True)
    dynamics_error = torch.sum((torch.tensor(r) - d * torch.tensor(r_previous)) ** 2) / SIGMAS["sigma_gen"] ** 2
    dynamics_error.backward()
    expected_D = -(SIGMAS["sigma_gen"] ** 2) / 2 * d.grad.numpy()

    np.testing.assert_allclose(changes["W_out"], expected_W_out, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(changes["D"], expected_D, rtol=1e-6, atol=1e-9)
    assert np.all(changes["W_in"] == 0)


def test_first_wake_step_after_sleep_skips_dynamics_update():
    rng = np.random.default_rng(2)
    network = random_network(rng)
    changes, _, _, _ = one_step(network, rng.normal(0, 0.5, 6), wake=True, just_woke=True)
    assert np.all(changes["D"] == 0)
    assert np.any(changes["W_out"] != 0)


def phase_sequence(switch_period, n_steps):
    """Return (delta, just_woke) of each step from the compiled schedule, starting in wake."""
    phase = np.array([1, 0, 0], dtype=np.int64)
    sequence = []
    for _ in range(n_steps):
        sequence.append((int(phase[0]), int(phase[2])))
        kernels.advance_phase(phase, switch_period, True)
    return sequence


@pytest.mark.parametrize("switch_period", [1, 2, 4, 10])
def test_phases_last_switch_period_plus_one_steps(switch_period):
    length = switch_period + 1
    sequence = phase_sequence(switch_period, 6 * length)
    deltas = [delta for delta, _ in sequence]
    expected = [1 - (t // length) % 2 for t in range(6 * length)]
    assert deltas == expected
    # just_woke marks exactly the first step of each wake phase after a sleep phase
    first_wake_steps = [t for t, (_, woke) in enumerate(sequence) if woke]
    assert first_wake_steps == [2 * length, 4 * length]


def test_dynamics_update_pattern_over_a_run():
    rng = np.random.default_rng(4)
    network = random_network(rng)
    network.reset_state()
    network.r_previous[:] = rng.normal(0, 0.5, 3)
    params = dict(SIGMAS, eta=1e-6, switch_period=2)
    noise = np.random.default_rng(5)
    changed_D, changed_W_in = [], []
    for _ in range(12):
        before = network.weights()
        network.run(rng.normal(0, 0.5, (1, 6)), params, noise, learn=True, switching=True)
        changed_D.append(bool(np.any(network.d != before["D"])))
        changed_W_in.append(bool(np.any(network.W_in != before["W_in"])))
    # phases of 3 steps: wake 0-2, sleep 3-5, wake 6-8 (6 is the first after sleep), sleep 9-11
    assert changed_D == [True, True, True, False, False, False, False, True, True, False, False, False]
    assert changed_W_in == [False] * 3 + [True] * 3 + [False] * 3 + [True] * 3


def plain_step(state, x_t, params, rng, draw_all_noise):
    """One step of the network and the learning rule, written as plainly as possible in numpy."""
    W_in, W_out, d, r_prev, phase = state
    wake, just_woke = phase[0] == 1, phase[2] == 1
    noise_in = noise_rec = noise_gen = noise_obs = np.zeros(0)
    if wake or draw_all_noise:
        noise_in = rng.standard_normal(W_out.shape[0])
        noise_rec = rng.standard_normal(d.size)
    if not wake or draw_all_noise:
        noise_gen = rng.standard_normal(d.size)
        noise_obs = rng.standard_normal(W_out.shape[0])
    mu_top = r_prev if just_woke else d * r_prev
    var_in, var_rec = params["sigma_in"] ** 2, params["sigma_rec"] ** 2
    var_gen, var_obs = params["sigma_gen"] ** 2, params["sigma_obs"] ** 2
    eta = params["eta"]

    if wake:
        s_rec = x_t + params["sigma_in"] * noise_in
        r_rec = np.tanh(W_in @ s_rec) + params["sigma_rec"] * noise_rec
        s, r = s_rec, r_rec
    else:
        r = mu_top + params["sigma_gen"] * noise_gen
        s = W_out @ r + params["sigma_obs"] * noise_obs

    if wake:
        loss = (
            np.sum((s - W_out @ r) ** 2) / var_obs
            - np.sum((s - x_t) ** 2) / var_in
            + np.sum((r - mu_top) ** 2) / var_gen
            - np.sum((r - np.tanh(W_in @ s_rec)) ** 2) / var_rec
        )
        W_out = W_out + eta * np.outer(x_t - W_out @ r, r)
        if not just_woke:
            d = d + eta * (r - d * r_prev) * r_prev
    else:
        mu_rec = np.tanh(W_in @ s)
        loss = (
            np.sum((s - x_t) ** 2) / var_in
            - np.sum((s - W_out @ r) ** 2) / var_obs
            + np.sum((r - mu_rec) ** 2) / var_rec
            - np.sum((r - mu_top) ** 2) / var_gen
        )
        W_in = W_in + eta * np.outer((1 - mu_rec**2) * (r - mu_rec), s)

    phase = phase.copy()
    phase[2] = 0
    phase[1] += 1
    if phase[1] > params["switch_period"]:
        phase[1] = 0
        phase[0] = 1 - phase[0]
        phase[2] = phase[0]
    return (W_in, W_out, d, r, phase), loss


@pytest.mark.parametrize("draw_all_noise", [True, False])
def test_compiled_loop_matches_plain_step(draw_all_noise):
    rng = np.random.default_rng(6)
    n_in, n, n_steps = 8, 3, 300
    x = rng.normal(0, 0.3, (n_steps, n_in))
    network = random_network(rng, n_in, n)
    network.reset_state()
    params = dict(SIGMAS, eta=5e-3, switch_period=2)
    state = (
        network.W_in.copy(),
        network.W_out.copy(),
        network.d.copy(),
        network.r_previous.copy(),
        network.phase.copy(),
    )

    losses, _, bad = network.run(
        x, params, np.random.default_rng(7), learn=True, switching=True, draw_all_noise=draw_all_noise
    )
    reference_rng = np.random.default_rng(7)
    reference_losses = []
    for t in range(n_steps):
        state, loss = plain_step(state, x[t], params, reference_rng, draw_all_noise)
        reference_losses.append(loss)

    assert bad == -1
    np.testing.assert_allclose(losses, reference_losses, rtol=1e-9)
    np.testing.assert_allclose(network.W_in, state[0], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(network.W_out, state[1], rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(network.d, state[2], rtol=1e-10, atol=1e-13)


def test_kernel_stops_at_first_non_finite_loss():
    rng = np.random.default_rng(8)
    network = random_network(rng)
    network.reset_state()
    x = rng.normal(0, 0.3, (50, 6))
    x[17, 2] = np.inf
    losses, _, bad = network.run(x, dict(SIGMAS, eta=1e-3, switch_period=1), rng, learn=True, switching=True)
    assert bad == 17
    assert np.all(np.isfinite(losses[:17]))


def test_fast_tanh_within_four_ulp_of_libm():
    @numba.njit
    def apply(x, out):
        for i in range(x.shape[0]):
            out[i] = kernels.fast_tanh(x[i])

    grid = np.linspace(-25.0, 25.0, 200_001)
    tiny = np.logspace(-300, 1.5, 20_000)
    x = np.concatenate([grid, tiny, -tiny, [0.0, -0.0, 5e-324]])
    out = np.empty_like(x)
    apply(x, out)
    expected = np.tanh(x)
    ulps = np.abs(out - expected) / np.spacing(np.abs(expected))
    assert ulps.max() <= 4
    assert np.signbit(out[-2])

    special = np.array([np.inf, -np.inf, np.nan])
    out = np.empty(3)
    apply(special, out)
    assert out[0] == 1.0
    assert out[1] == -1.0
    assert np.isnan(out[2])
