"""The two-layer compiled loop against independent references: autograd gradients and a plain numpy step."""

import numpy as np
import pytest
import torch

from impression.reinforce import BASELINE_RATE, VARIANTS
from impression.two_layer import WEIGHT_NAMES, TwoLayerNetwork

# Distinct values, so a swapped noise level shows up in the comparisons.
PARAMS = dict(
    sigma_in=0.011,
    sigma_rec_middle=0.017,
    sigma_rec=0.023,
    sigma_gen=0.13,
    sigma_gen_middle=0.031,
    sigma_obs=0.019,
    switch_period=1,
    algorithm="impression",
    reinforce_variant="corrected",
    gamma=0.9,
)
N_IN, N_MIDDLE, N_TOP = 7, 5, 3


def random_network(rng):
    network = TwoLayerNetwork.from_weights(
        dict(
            W_in1=rng.normal(0, 0.5, (N_MIDDLE, N_IN)),
            b=rng.normal(0, 0.3, N_MIDDLE),
            W_in2=rng.normal(0, 0.5, (N_TOP, N_MIDDLE)),
            W_out0=rng.normal(0, 0.5, (N_IN, N_MIDDLE)),
            W_out1=rng.normal(0, 0.5, (N_MIDDLE, N_TOP)),
            b_gen=rng.normal(0, 0.3, N_MIDDLE),
            D=rng.uniform(0.5, 0.99, N_TOP),
        )
    )
    network.r2_previous[:] = rng.normal(0, 0.5, N_TOP)
    return network


def one_step(network, x_t, wake, just_woke=False, eta=1e-7):
    """Run one IL step in a fixed phase; return (weight changes / eta, records, previous r2, old weights)."""
    network.phase[:] = [1 if wake else 0, 0, 1 if just_woke else 0]
    before = network.weights()
    r2_previous = network.r2_previous.copy()
    _, records, _ = network.run(
        x_t[np.newaxis, :],
        dict(PARAMS, eta=eta),
        np.random.default_rng(3),
        learn=True,
        switching=False,
        record=("s", "r1", "r2"),
    )
    after = network.weights()
    changes = {name: (after[name] - before[name]) / eta for name in before}
    records = {name: torch.tensor(array[0]) for name, array in records.items()}
    return changes, records, r2_previous, before


def scaled_gradients(error_of, weights, sigma):
    """Return -sigma^2 / 2 times the gradient of error_of(*weights) / sigma^2 for each tensor in weights."""
    leaves = [torch.tensor(weight, requires_grad=True) for weight in weights]
    error = error_of(*leaves) / sigma**2
    error.backward()
    return [-(sigma**2) / 2 * leaf.grad.numpy() for leaf in leaves]


def test_sleep_updates_are_scaled_recognition_gradients():
    rng = np.random.default_rng(0)
    network = random_network(rng)
    changes, rec, _, before = one_step(network, rng.normal(0, 0.5, N_IN), wake=False)

    expected_W_in1, expected_b = scaled_gradients(
        lambda W, b: torch.sum((rec["r1"] - torch.tanh(W @ rec["s"] + b)) ** 2),
        [before["W_in1"], before["b"]],
        PARAMS["sigma_rec_middle"],
    )
    (expected_W_in2,) = scaled_gradients(
        lambda W: torch.sum((rec["r2"] - torch.tanh(W @ rec["r1"])) ** 2),
        [before["W_in2"]],
        PARAMS["sigma_rec"],
    )

    np.testing.assert_allclose(changes["W_in1"], expected_W_in1, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(changes["b"], expected_b, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(changes["W_in2"], expected_W_in2, rtol=1e-6, atol=1e-9)
    for name in ("W_out0", "W_out1", "b_gen", "D"):
        assert np.all(changes[name] == 0), name


def test_wake_updates_are_scaled_generative_gradients():
    rng = np.random.default_rng(1)
    network = random_network(rng)
    x_t = rng.normal(0, 0.5, N_IN)
    changes, rec, r2_previous, before = one_step(network, x_t, wake=True)

    (expected_W_out0,) = scaled_gradients(
        lambda W: torch.sum((torch.tensor(x_t) - W @ rec["r1"]) ** 2),
        [before["W_out0"]],
        PARAMS["sigma_obs"],
    )
    expected_W_out1, expected_b_gen = scaled_gradients(
        lambda W, b: torch.sum((rec["r1"] - torch.tanh(W @ rec["r2"] + b)) ** 2),
        [before["W_out1"], before["b_gen"]],
        PARAMS["sigma_gen_middle"],
    )
    # D is diagonal: the gradient with respect to the full matrix, restricted to its diagonal
    (expected_D_matrix,) = scaled_gradients(
        lambda D: torch.sum((rec["r2"] - D @ torch.tensor(r2_previous)) ** 2),
        [np.diag(before["D"])],
        PARAMS["sigma_gen"],
    )

    np.testing.assert_allclose(changes["W_out0"], expected_W_out0, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(changes["W_out1"], expected_W_out1, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(changes["b_gen"], expected_b_gen, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(changes["D"], np.diag(expected_D_matrix), rtol=1e-6, atol=1e-9)
    for name in ("W_in1", "b", "W_in2"):
        assert np.all(changes[name] == 0), name


def test_first_wake_step_skips_latent_generative_updates():
    rng = np.random.default_rng(2)
    network = random_network(rng)
    changes, _, _, _ = one_step(network, rng.normal(0, 0.5, N_IN), wake=True, just_woke=True)
    for name in ("W_out1", "b_gen", "D"):
        assert np.all(changes[name] == 0), name
    assert np.any(changes["W_out0"] != 0)


def test_first_wake_step_predicts_previous_activities():
    # eta = 0: the loss of the step after waking, against the closed form with the previous
    # activities as both latent layers' generative predictions
    rng = np.random.default_rng(12)
    network = random_network(rng)
    network.r1_previous[:] = rng.normal(0, 0.5, N_MIDDLE)
    r1_previous, r2_previous = network.r1_previous.copy(), network.r2_previous.copy()
    network.phase[:] = [1, 0, 1]
    x_t = rng.normal(0, 0.5, N_IN)
    losses, records, _ = network.run(
        x_t[np.newaxis, :], dict(PARAMS, eta=0.0), np.random.default_rng(3), learn=False, switching=False,
        record=("s", "r1", "r2"),
    )  # fmt: skip
    w = network.weights()
    s, r1, r2 = records["s"][0], records["r1"][0], records["r2"][0]
    expected = (
        np.sum((s - w["W_out0"] @ r1) ** 2) / PARAMS["sigma_obs"] ** 2
        - np.sum((s - x_t) ** 2) / PARAMS["sigma_in"] ** 2
        + np.sum((r1 - r1_previous) ** 2) / PARAMS["sigma_gen_middle"] ** 2
        - np.sum((r1 - np.tanh(w["W_in1"] @ s + w["b"])) ** 2) / PARAMS["sigma_rec_middle"] ** 2
        + np.sum((r2 - r2_previous) ** 2) / PARAMS["sigma_gen"] ** 2
        - np.sum((r2 - np.tanh(w["W_in2"] @ r1)) ** 2) / PARAMS["sigma_rec"] ** 2
    )
    assert losses[0] == pytest.approx(expected, rel=1e-9)


####################################################################
# plain numpy reference of the same steps
####################################################################
def tanh_error(h, mu):
    return (1 - mu**2) * (h - mu)


class ReferenceNetwork:
    """The two-layer network written step by step with numpy, without the compiled loop's structure."""

    def __init__(self, weights, params, eta, rule, variant):
        self.w = {name: np.array(value, dtype=float) for name, value in weights.items()}
        self.p = params
        self.eta = eta
        self.rule = rule
        self.variant = VARIANTS[variant]
        self.r1_previous = np.zeros(self.w["b"].size)
        self.r2_previous = np.zeros(self.w["D"].size)
        self.traces = {name: np.zeros_like(value) for name, value in self.w.items()}
        self.baseline = 0.0
        self.delta, self.counter, self.just_woke = 1, 0, False

    def step(self, x_t, rng):
        w, p = self.w, self.p
        n_in, n_middle, n_top = x_t.size, w["b"].size, w["D"].size
        xi_in = rng.standard_normal(n_in)
        xi_rec1 = rng.standard_normal(n_middle)
        xi_rec2 = rng.standard_normal(n_top)
        xi_gen2 = rng.standard_normal(n_top)
        xi_gen1 = rng.standard_normal(n_middle)
        xi_obs = rng.standard_normal(n_in)

        # the recognition and the generative stream of every layer, then the mix
        s_rec = x_t + p["sigma_in"] * xi_in
        r1_rec = np.tanh(w["W_in1"] @ s_rec + w["b"]) + p["sigma_rec_middle"] * xi_rec1
        r2_rec = np.tanh(w["W_in2"] @ r1_rec) + p["sigma_rec"] * xi_rec2
        top_mean = self.r2_previous if self.just_woke else w["D"] * self.r2_previous
        r2_gen = top_mean + p["sigma_gen"] * xi_gen2
        r1_gen = np.tanh(w["W_out1"] @ r2_gen + w["b_gen"]) + p["sigma_gen_middle"] * xi_gen1
        s_gen = w["W_out0"] @ r1_gen + p["sigma_obs"] * xi_obs
        delta = self.delta
        s = delta * s_rec + (1 - delta) * s_gen
        r1 = delta * r1_rec + (1 - delta) * r1_gen
        r2 = delta * r2_rec + (1 - delta) * r2_gen

        # means of both streams at the mixed activities; after waking the middle layer's
        # generative prediction is its previous activity
        mu_rec1 = np.tanh(w["W_in1"] @ s + w["b"])
        mu_rec2 = np.tanh(w["W_in2"] @ r1)
        mu_gen1 = self.r1_previous if self.just_woke else np.tanh(w["W_out1"] @ r2 + w["b_gen"])
        prediction = w["W_out0"] @ r1

        # loss of every layer
        stimulus = [np.sum((s - prediction) ** 2) / p["sigma_obs"] ** 2, np.sum((s - x_t) ** 2) / p["sigma_in"] ** 2]
        middle = [
            np.sum((r1 - mu_gen1) ** 2) / p["sigma_gen_middle"] ** 2,
            np.sum((r1 - mu_rec1) ** 2) / p["sigma_rec_middle"] ** 2,
        ]
        top = [np.sum((r2 - top_mean) ** 2) / p["sigma_gen"] ** 2, np.sum((r2 - mu_rec2) ** 2) / p["sigma_rec"] ** 2]
        sign = 1 if delta == 1 else -1
        loss = sum(sign * (generative - recognition) for generative, recognition in (stimulus, middle, top))

        # scores at the mixed activities
        u1, u2, g1 = tanh_error(r1, mu_rec1), tanh_error(r2, mu_rec2), tanh_error(r1, mu_gen1)
        scores = {
            "W_in1": np.outer(u1, s),
            "b": u1,
            "W_in2": np.outer(u2, r1),
            "W_out0": np.outer(s - prediction, r1),
            "W_out1": np.outer(g1, r2),
            "b_gen": g1,
            "D": (r2 - w["D"] * self.r2_previous) * self.r2_previous,
        }
        if self.variant.generative_score_from_recognition:
            scores["W_out0"] = np.outer(x_t - w["W_out0"] @ r1_rec, r1_rec)
            g1_rec = tanh_error(r1_rec, np.tanh(w["W_out1"] @ r2_rec + w["b_gen"]))
            scores["W_out1"] = np.outer(g1_rec, r2_rec)
            scores["b_gen"] = g1_rec
        il_wake = {name: scores[name] for name in ("W_out1", "b_gen", "D")}
        il_wake["W_out0"] = np.outer(x_t - prediction, r1)
        if self.just_woke:
            for name in ("W_out1", "b_gen", "D"):
                il_wake[name] = np.zeros_like(il_wake[name])
        il_sleep = {name: scores[name] for name in ("W_in1", "b", "W_in2")}

        if self.rule == "impression":
            for name, update in (il_wake if delta == 1 else il_sleep).items():
                w[name] += self.eta * update
        else:
            reward_loss = loss
            if delta == 1 and not self.variant.square_latent_wake_term:
                reward_loss = (
                    stimulus[0]
                    - stimulus[1]
                    + middle[0]
                    + top[0]
                    - np.sum(r1 - mu_rec1) / p["sigma_rec_middle"] ** 2
                    - np.sum(r2 - mu_rec2) / p["sigma_rec"] ** 2
                )
            if self.variant.baseline_updated_first:
                self.baseline = (1 - BASELINE_RATE) * self.baseline + BASELINE_RATE * reward_loss
                advantage = reward_loss - self.baseline
            else:
                advantage = reward_loss - self.baseline
                self.baseline = (1 - BASELINE_RATE) * self.baseline + BASELINE_RATE * reward_loss
            coefficient = self.variant.reward_sign * advantage
            for name in WEIGHT_NAMES:
                recognition = name in il_sleep
                in_trace = delta if recognition else 1 - delta
                self.traces[name] = in_trace * scores[name] + p["gamma"] * self.traces[name]
                direct = (1 - delta) * il_sleep[name] if recognition else delta * il_wake[name]
                w[name] += self.eta * (direct + coefficient * self.traces[name])

        # next step's state and phase
        self.r1_previous = r1
        self.r2_previous = r2
        self.just_woke = False
        self.counter += 1
        if self.counter > p["switch_period"]:
            self.counter = 0
            self.delta = 1 - self.delta
            self.just_woke = self.delta == 1
        return loss, s, r1, r2


@pytest.mark.parametrize(
    "rule, variant, eta",
    [("impression", "corrected", 1e-2), ("reinforce", "corrected", 1e-7), ("reinforce", "original", 1e-7)],
)
def test_kernel_matches_numpy_reference(rule, variant, eta):
    rng = np.random.default_rng(10)
    network = random_network(rng)
    network.reset_state()
    reference = ReferenceNetwork(network.weights(), PARAMS, eta, rule, variant)
    x = rng.normal(0, 0.5, (40, N_IN))
    params = dict(PARAMS, eta=eta, algorithm=rule, reinforce_variant=variant, switch_period=2)
    reference.p = params

    losses, records, bad = network.run(
        x, params, np.random.default_rng(5), learn=True, switching=True, record=("s", "r1", "r2")
    )
    noise_rng = np.random.default_rng(5)
    expected = [reference.step(x_t, noise_rng) for x_t in x]

    assert bad == -1
    np.testing.assert_allclose(losses, [step[0] for step in expected], rtol=1e-9)
    np.testing.assert_allclose(records["s"], [step[1] for step in expected], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(records["r1"], [step[2] for step in expected], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(records["r2"], [step[3] for step in expected], rtol=1e-9, atol=1e-12)
    weights = network.weights()
    for name in WEIGHT_NAMES:
        np.testing.assert_allclose(weights[name], reference.w[name], rtol=1e-9, atol=1e-12, err_msg=name)
    assert network.baseline[0] == pytest.approx(reference.baseline, rel=1e-9)


def test_reinforce_weights_change_in_both_phases():
    # With a large reward term every weight moves on every step, unlike IL.
    rng = np.random.default_rng(4)
    network = random_network(rng)
    params = dict(PARAMS, eta=1e-6, algorithm="reinforce")
    network.run(rng.normal(0, 0.5, (3, N_IN)), params, np.random.default_rng(0), learn=True, switching=True)
    before = network.weights()
    network.phase[:] = [1, 0, 0]
    network.run(rng.normal(0, 0.5, (1, N_IN)), params, np.random.default_rng(1), learn=True, switching=False)
    after = network.weights()
    for name in WEIGHT_NAMES:
        assert np.any(after[name] != before[name]), name


def test_reset_state_keeps_traces_when_asked():
    rng = np.random.default_rng(6)
    network = random_network(rng)
    params = dict(PARAMS, eta=1e-9, algorithm="reinforce")
    network.run(rng.normal(0, 0.5, (4, N_IN)), params, np.random.default_rng(0), learn=True, switching=True)
    assert np.any(network.traces[0] != 0)
    network.reset_state(reset_traces=False)
    assert np.any(network.traces[0] != 0)
    network.reset_state()
    assert all(np.all(trace == 0) for trace in network.traces)


def test_run_reports_first_nonfinite_step():
    rng = np.random.default_rng(7)
    network = random_network(rng)
    x = rng.normal(0, 0.5, (10, N_IN))
    x[4, 0] = np.nan
    _, _, bad = network.run(x, dict(PARAMS, eta=1e-3), np.random.default_rng(0), learn=True, switching=True)
    assert bad == 4


def test_same_seed_gives_same_run():
    rng = np.random.default_rng(8)
    first = random_network(rng)
    second = first.copy()
    x = rng.normal(0, 0.5, (50, N_IN))
    params = dict(PARAMS, eta=1e-3)
    losses_first, _, _ = first.run(x, params, np.random.default_rng(9), learn=True, switching=True)
    losses_second, _, _ = second.run(x, params, np.random.default_rng(9), learn=True, switching=True)
    np.testing.assert_array_equal(losses_first, losses_second)
    np.testing.assert_array_equal(first.W_in1, second.W_in1)


def finite_difference_gradient(weights, name, x, params, seed, step=1e-3):
    """Return d(mean loss)/d(weights[name]) by central differences with common random numbers."""
    gradient = np.zeros_like(weights[name])
    for index in np.ndindex(gradient.shape):
        means = []
        for sign in (1.0, -1.0):
            shifted = {key: value.copy() for key, value in weights.items()}
            shifted[name][index] += sign * step
            network = TwoLayerNetwork.from_weights(shifted)
            losses, _, _ = network.run(x, params, np.random.default_rng(seed), learn=False, switching=False)
            means.append(losses.mean())
        gradient[index] = (means[0] - means[1]) / (2 * step)
    return gradient


def test_reinforce_update_descends_mean_loss():
    # With D = 0 every wake step starts from rest, so the steps are independent draws; with
    # gamma = 0 the trace is the step's own score u_rec, and the mean of the corrected update
    # -(L - L_bar) u_rec must be -sigma_rec^2 times the gradient of the mean loss.
    rng = np.random.default_rng(11)
    sigma = 0.1
    weights = random_network(rng).weights()
    weights["D"][:] = 0.0
    params = dict(
        PARAMS, sigma_in=sigma, sigma_rec_middle=sigma, sigma_rec=sigma, sigma_gen=sigma, sigma_gen_middle=sigma,
        sigma_obs=sigma, algorithm="reinforce", gamma=0.0, eta=1e-12,
    )  # fmt: skip
    n_steps = 100_000
    x = np.tile(rng.normal(0, 0.5, N_IN), (n_steps, 1))
    network = TwoLayerNetwork.from_weights(weights)
    network.run(x, params, np.random.default_rng(1), learn=True, switching=False)

    for name, learned in (("W_in1", network.W_in1), ("W_in2", network.W_in2)):
        mean_update = (learned - weights[name]) / (params["eta"] * n_steps)
        expected = -(sigma**2) * finite_difference_gradient(weights, name, x, dict(params, algorithm="impression"), 1)
        cosine = np.sum(mean_update * expected) / (np.linalg.norm(mean_update) * np.linalg.norm(expected))
        assert cosine > 0.99, name
        assert np.linalg.norm(mean_update) / np.linalg.norm(expected) == pytest.approx(1.0, abs=0.05), name
