"""REINFORCE rule: what its reward term estimates, and its steps against a numpy reference."""

import numpy as np
import pytest

from impression import reinforce
from impression.config import resolve_params
from impression.errors import ConfigError
from impression.network import OneLayerNetwork
from impression.reinforce import ReinforceNetwork, variant_of
from impression.simulation import make_network
from impression.snr import accumulate_update_moments
from impression.storage import run_result_path

SIGMA_IN = SIGMA_REC = SIGMA_OBS = 0.01
SIGMA_GEN = 0.5 * np.sqrt(0.1)
SIGMAS = np.array([SIGMA_IN, SIGMA_REC, SIGMA_GEN, SIGMA_OBS])
N_DRAWS = 200_000  # noise draws of the reward-term estimate


def tiny_network():
    """Return (W_in, W_out, d, x) of a 4-input, 2-latent network and one input datum."""
    rng = np.random.default_rng(20211206)
    W_in = rng.normal(0.0, 0.5, size=(2, 4))
    W_out = rng.normal(0.0, 0.5, size=(4, 2))
    d = np.full(2, 0.6)
    # a small datum keeps the prediction error x - W_out tanh(W_in x) near 0.05, so the
    # loss varies little across draws and the reward-term estimate converges fast
    x = rng.normal(0.0, 0.05, size=4)
    return W_in, W_out, d, x


####################################################################
# Independent numpy side: the mean wake loss of one step from rest
####################################################################
def wake_losses_from_rest(W_in, W_out, x, noise_in, noise_rec, noise_gen):
    """Return the wake loss of every noise draw (rows) for one step from rest (r_{t-1} = 0)."""
    s = x + SIGMA_IN * noise_in
    mu = np.tanh(s @ W_in.T)
    r = mu + SIGMA_REC * noise_rec
    prediction = r @ W_out.T
    stimulus = ((s - prediction) ** 2).sum(1) / SIGMA_OBS**2 - ((s - x) ** 2).sum(1) / SIGMA_IN**2
    latent = (r**2).sum(1) / SIGMA_GEN**2 - ((r - mu) ** 2).sum(1) / SIGMA_REC**2
    del noise_gen  # the generative stream does not enter the wake loss
    return stimulus + latent


def finite_difference_gradient(W_in, W_out, x, n_draws=N_DRAWS, step=1e-5, seed=7):
    """Return d E[L] / d W_in by central differences with common random numbers."""
    rng = np.random.default_rng(seed)
    noise_in = rng.standard_normal((n_draws, W_in.shape[1]))
    noise_rec = rng.standard_normal((n_draws, W_in.shape[0]))
    gradient = np.zeros_like(W_in)
    for index in np.ndindex(*W_in.shape):
        plus, minus = W_in.copy(), W_in.copy()
        plus[index] += step
        minus[index] -= step
        difference = wake_losses_from_rest(plus, W_out, x, noise_in, noise_rec, None) - wake_losses_from_rest(
            minus, W_out, x, noise_in, noise_rec, None
        )
        gradient[index] = difference.mean() / (2 * step)
    return gradient


def mean_tanh_derivative_outer(W_in, x, n_draws=N_DRAWS, seed=8):
    """Return E[tanh'(W_in s) s^T] over s = x + sigma_in noise."""
    s = x + SIGMA_IN * np.random.default_rng(seed).standard_normal((n_draws, x.size))
    derivative = 1.0 - np.tanh(s @ W_in.T) ** 2
    return derivative.T @ s / n_draws


def mean_reward_update(W_in, W_out, d, x, reward_sign, square, from_recognition, reset=True):
    """Return the kernel's mean REINFORCE W_in update over N_DRAWS single wake steps from rest, Lbar = 0."""
    shape = W_in.shape
    il_mean, il_m2, rf_mean, rf_m2 = (np.empty(shape) for _ in range(4))
    # baseline rate 0 keeps Lbar at 0, so the order of its update does not matter
    count = accumulate_update_moments(
        x[np.newaxis, :], W_in, W_out, d, SIGMAS, 1, 1.0, 0.0, reward_sign, square, from_recognition, False,
        reset, N_DRAWS, np.random.default_rng(11), il_mean, il_m2, rf_mean, rf_m2,
    )  # fmt: skip
    assert count == N_DRAWS
    assert np.all(il_mean == 0.0)  # IL leaves W_in alone in wake
    return rf_mean


def cosine(a, b):
    return float(np.ravel(a) @ np.ravel(b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def gradient_setup():
    W_in, W_out, d, x = tiny_network()
    return W_in, W_out, d, x, finite_difference_gradient(W_in, W_out, x)


def test_reward_term_descends_loss(gradient_setup):
    W_in, W_out, d, x, gradient = gradient_setup
    update = mean_reward_update(W_in, W_out, d, x, -1.0, True, False)
    expected = -(SIGMA_REC**2) * gradient
    assert cosine(update, expected) > 0.99
    assert np.linalg.norm(update) / np.linalg.norm(expected) == pytest.approx(1.0, abs=0.05)


def test_plus_sign_climbs_loss(gradient_setup):
    W_in, W_out, d, x, gradient = gradient_setup
    update = mean_reward_update(W_in, W_out, d, x, 1.0, True, False)
    assert cosine(update, -(SIGMA_REC**2) * gradient) < -0.99


def test_original_variant_is_biased(gradient_setup):
    # +E[L' u] with the unsquared term: sigma^2 grad E[L] - E[tanh'(W_in s) s^T]. The traces
    # are reset here: carried over 200,000 repetitions they add variance, not bias.
    W_in, W_out, d, x, gradient = gradient_setup
    original = variant_of("original")
    update = mean_reward_update(
        W_in, W_out, d, x, original.reward_sign, original.square_latent_wake_term,
        original.generative_score_from_recognition, reset=True,
    )  # fmt: skip
    expected = SIGMA_REC**2 * gradient - mean_tanh_derivative_outer(W_in, x)
    assert cosine(update, expected) > 0.99
    assert np.linalg.norm(update) / np.linalg.norm(expected) == pytest.approx(1.0, abs=0.05)
    assert cosine(update, -(SIGMA_REC**2) * gradient) < 0.9


####################################################################
# Step-by-step numpy reference
####################################################################
class ReferenceREINFORCE:
    """Plain numpy REINFORCE network written from the rule's equations, one step at a time."""

    def __init__(self, W_in, W_out, d, variant, gamma, switch_period):
        self.W_in, self.W_out, self.d = W_in.copy(), W_out.copy(), d.copy()
        self.variant, self.gamma, self.switch_period = variant, gamma, switch_period
        n, n_in = W_in.shape
        self.r_previous = np.zeros(n)
        self.wake, self.counter, self.just_woke = True, 0, False
        self.e_in, self.e_out, self.e_d = np.zeros((n, n_in)), np.zeros((n_in, n)), np.zeros(n)
        self.baseline = 0.0

    def reset(self):
        """Set the activities to 0 and start in wake; zero the traces if the variant resets them."""
        self.r_previous = np.zeros_like(self.r_previous)
        self.wake, self.counter, self.just_woke = True, 0, False
        if self.variant.reset_traces:
            self.e_in, self.e_out, self.e_d = (np.zeros_like(e) for e in (self.e_in, self.e_out, self.e_d))

    def step(self, x, rng, eta):
        n, n_in = self.W_in.shape
        noise_in, noise_rec = rng.standard_normal(n_in), rng.standard_normal(n)
        noise_gen, noise_obs = rng.standard_normal(n), rng.standard_normal(n_in)
        delta = 1.0 if self.wake else 0.0
        mu_top = self.r_previous if self.just_woke else self.d * self.r_previous

        s_rec = x + SIGMA_IN * noise_in
        r_rec = np.tanh(self.W_in @ s_rec) + SIGMA_REC * noise_rec
        r_gen = mu_top + SIGMA_GEN * noise_gen
        s_gen = self.W_out @ r_gen + SIGMA_OBS * noise_obs
        s = s_rec if self.wake else s_gen
        r = r_rec if self.wake else r_gen

        mu_latent = np.tanh(self.W_in @ s)
        prediction = self.W_out @ r
        stimulus_gen = np.sum((s - prediction) ** 2) / SIGMA_OBS**2
        stimulus_rec = np.sum((s - x) ** 2) / SIGMA_IN**2
        latent_gen = np.sum((r - mu_top) ** 2) / SIGMA_GEN**2
        latent_rec = np.sum((r - mu_latent) ** 2) / SIGMA_REC**2
        if self.wake:
            loss = stimulus_gen - stimulus_rec + latent_gen - latent_rec
            reward_loss = loss
            if not self.variant.square_latent_wake_term:
                reward_loss = stimulus_gen - stimulus_rec + latent_gen - np.sum(r - mu_latent) / SIGMA_REC**2
        else:
            loss = stimulus_rec - stimulus_gen + latent_rec - latent_gen
            reward_loss = loss

        u_rec = np.outer((1 - mu_latent**2) * (r - mu_latent), s)
        if self.variant.generative_score_from_recognition:
            u_out = np.outer(x - self.W_out @ r_rec, r_rec)
        else:
            u_out = np.outer(s - prediction, r)
        u_d = np.zeros(n) if self.just_woke else (r - self.d * self.r_previous) * self.r_previous
        il_out = np.outer(x - self.W_out @ r_rec, r_rec)

        if self.variant.baseline_updated_first:
            self.baseline = 0.99 * self.baseline + 0.01 * reward_loss
            reward = self.variant.reward_sign * (reward_loss - self.baseline)
        else:
            reward = self.variant.reward_sign * (reward_loss - self.baseline)
            self.baseline = 0.99 * self.baseline + 0.01 * reward_loss
        self.e_in = delta * u_rec + self.gamma * self.e_in
        self.e_out = (1 - delta) * u_out + self.gamma * self.e_out
        self.e_d = (1 - delta) * u_d + self.gamma * self.e_d
        self.il_update_W_in = (1 - delta) * u_rec
        self.update_W_in = (1 - delta) * u_rec + reward * self.e_in
        self.W_in = self.W_in + eta * self.update_W_in
        self.W_out = self.W_out + eta * (delta * il_out + reward * self.e_out)
        self.d = self.d + eta * (delta * u_d + reward * self.e_d)

        self.r_previous = r
        self.just_woke = False
        self.counter += 1
        if self.counter > self.switch_period:
            self.counter = 0
            self.wake = not self.wake
            self.just_woke = self.wake
        return loss


STEP_PARAMS = dict(
    sigma_in=SIGMA_IN, sigma_rec=SIGMA_REC, sigma_gen=SIGMA_GEN, sigma_obs=SIGMA_OBS, eta=1e-7, gamma=0.5,
    switch_period=1,
)  # fmt: skip


@pytest.mark.parametrize("variant_name", ["corrected", "original"])
def test_steps_match_numpy_reference(variant_name):
    W_in, W_out, d, _ = tiny_network()
    network = ReinforceNetwork.from_network(
        OneLayerNetwork(W_in.copy(), W_out.copy(), d.copy(), np.zeros(2), np.array([1, 0, 0])), variant_name
    )
    reference = ReferenceREINFORCE(W_in, W_out, d, variant_of(variant_name), 0.5, 1)
    data = np.random.default_rng(3).normal(0.0, 0.3, size=(9, 4))
    kernel_rng, reference_rng = np.random.default_rng(5), np.random.default_rng(5)

    # 9 steps: wake, wake, sleep, sleep, wake (just woke), wake, sleep, sleep, wake
    for t in range(data.shape[0]):
        losses, _, bad = network.run(data[t : t + 1], STEP_PARAMS, kernel_rng, learn=True, switching=True)
        expected_loss = reference.step(data[t], reference_rng, STEP_PARAMS["eta"])
        assert bad == -1
        assert losses[0] == pytest.approx(expected_loss, rel=1e-9), f"loss, step {t}"
        np.testing.assert_allclose(network.trace_W_in, reference.e_in, rtol=1e-9, atol=1e-14, err_msg=f"step {t}")
        np.testing.assert_allclose(network.trace_W_out, reference.e_out, rtol=1e-9, atol=1e-14, err_msg=f"step {t}")
        np.testing.assert_allclose(network.trace_d, reference.e_d, rtol=1e-9, atol=1e-14, err_msg=f"step {t}")
        assert network.baseline[0] == pytest.approx(reference.baseline, rel=1e-9), f"baseline, step {t}"
        np.testing.assert_allclose(network.W_in, reference.W_in, rtol=1e-12, atol=1e-15, err_msg=f"step {t}")
        np.testing.assert_allclose(network.W_out, reference.W_out, rtol=1e-12, atol=1e-15, err_msg=f"step {t}")
        np.testing.assert_allclose(network.d, reference.d, rtol=1e-12, atol=1e-15, err_msg=f"step {t}")
        np.testing.assert_allclose(network.r_previous, reference.r_previous, rtol=1e-12, err_msg=f"step {t}")


def test_phase_gating_of_traces():
    # gamma = 0: e_rec contains only the current wake score, e_gen only the current sleep score
    W_in, W_out, d, _ = tiny_network()
    network = ReinforceNetwork.initial(4, 2, 0.6, np.random.default_rng(0))
    network.W_in[:], network.W_out[:] = W_in, W_out
    params = dict(STEP_PARAMS, gamma=0.0)
    data = np.random.default_rng(4).normal(0.0, 0.3, size=(4, 4))
    rng = np.random.default_rng(9)
    for t, wake in enumerate([True, True, False, False]):
        network.run(data[t : t + 1], params, rng, learn=False, switching=True)
        if wake:
            assert np.any(network.trace_W_in != 0.0), f"step {t}"
            assert np.all(network.trace_W_out == 0.0), f"step {t}"
            assert np.all(network.trace_d == 0.0), f"step {t}"
        else:
            assert np.all(network.trace_W_in == 0.0), f"step {t}"
            assert np.any(network.trace_W_out != 0.0), f"step {t}"
            assert np.any(network.trace_d != 0.0), f"step {t}"


@pytest.mark.parametrize("variant_name, cleared", [("corrected", True), ("original", False)])
def test_reset_state_and_traces(variant_name, cleared):
    network = ReinforceNetwork.initial(4, 2, 0.6, np.random.default_rng(0), variant=variant_name)
    data = np.random.default_rng(4).normal(0.0, 0.3, size=(6, 4))
    network.run(data, STEP_PARAMS, np.random.default_rng(1), learn=True, switching=True)
    baseline = network.baseline.copy()
    assert np.any(network.trace_W_in != 0.0)
    network.reset_state()
    assert np.all(network.r_previous == 0.0)
    assert network.phase.tolist() == [1, 0, 0]
    for trace in (network.trace_W_in, network.trace_W_out, network.trace_d):
        assert np.all(trace == 0.0) == cleared
    assert network.baseline[0] == baseline[0] != 0.0  # the baseline runs on across resets


def test_copy_is_independent():
    network = ReinforceNetwork.initial(4, 2, 0.6, np.random.default_rng(0))
    network.run(np.ones((3, 4)), STEP_PARAMS, np.random.default_rng(1), learn=True, switching=True)
    twin = network.copy()
    for name in ("W_in", "W_out", "d", "r_previous", "phase", "trace_W_in", "trace_W_out", "trace_d", "baseline"):
        assert np.array_equal(getattr(twin, name), getattr(network, name)), name
        assert getattr(twin, name) is not getattr(network, name), name
    assert twin.variant == network.variant


####################################################################
# Interface with the simulation protocol
####################################################################
def test_same_activities_as_impression_network():
    params = resolve_params("dimensionality", 7, overrides={"n_train": 100})
    il_network = make_network(dict(params, algorithm="impression"), np.random.default_rng(3))
    rf_network = make_network(params, np.random.default_rng(3))
    assert isinstance(rf_network, ReinforceNetwork)
    assert np.array_equal(rf_network.W_in, il_network.W_in)
    x = np.random.default_rng(0).normal(0.0, 0.3, size=(200, params["n_in"]))
    il_losses, il_records, _ = il_network.run(
        x, params, np.random.default_rng(5), learn=False, switching=True, record=("r", "s", "prediction")
    )
    rf_losses, rf_records, _ = rf_network.run(
        x, params, np.random.default_rng(5), learn=False, switching=True, record=("r", "s", "prediction")
    )
    np.testing.assert_allclose(rf_losses, il_losses, rtol=1e-9)
    for name in ("r", "s", "prediction"):
        np.testing.assert_allclose(rf_records[name], il_records[name], rtol=1e-12, atol=1e-14, err_msg=name)


def test_variant_reaches_network():
    params = resolve_params("dimensionality", 6, overrides={"reinforce_variant": "original"})
    assert make_network(params, np.random.default_rng(0)).variant == "original"


def test_divergence_reported():
    network = ReinforceNetwork.initial(4, 2, 0.6, np.random.default_rng(0))
    x = np.random.default_rng(0).normal(0.0, 0.3, size=(5000, 4))
    _, _, bad = network.run(x, dict(STEP_PARAMS, eta=1.0), np.random.default_rng(1), learn=True, switching=True)
    assert 0 <= bad < 5000


def test_reinforce_learning_rate_by_variant():
    corrected = resolve_params("dimensionality", 6)
    original = resolve_params("dimensionality", 6, overrides={"reinforce_variant": "original"})
    impression = resolve_params("dimensionality", 1)
    assert corrected["eta"] == corrected["eta_reinforce"]
    assert original["eta"] == 10**-9.5
    assert impression["eta"] == 10**-2.5
    grid = resolve_params("lr_optim", 35)
    assert grid["algorithm"] == "reinforce"
    assert grid["eta"] == pytest.approx(10**-9.5)


def test_eta_override_on_reinforce_run_rejected():
    with pytest.raises(ConfigError, match="--eta_reinforce="):
        resolve_params("dimensionality", 6, overrides={"eta": "1e-3"})
    with pytest.raises(ConfigError, match="--eta_reinforce_original="):
        resolve_params("dimensionality", 7, overrides={"eta": "1e-3", "reinforce_variant": "original"})
    assert resolve_params("dimensionality", 6, overrides={"eta_reinforce": "1e-5"})["eta"] == 1e-5
    assert resolve_params("dimensionality", 1, overrides={"eta": "1e-3"})["eta"] == 1e-3


def test_result_path_tag_by_variant():
    def name(mode, array_num, **overrides):
        return run_result_path(resolve_params(mode, array_num, overrides=overrides)).name

    assert name("dimensionality", 6) == "dimensionality_array6_seed1.npz"
    assert name("dimensionality", 6, reinforce_variant="original") == "dimensionality_original_array6_seed1.npz"
    assert name("dimensionality", 1, reinforce_variant="original") == "dimensionality_array1_seed1.npz"
    assert name("SNR", 1, reinforce_variant="original") == "SNR_original_array1_seed1.npz"


def test_unknown_variant_rejected():
    with pytest.raises(ValueError, match="reinforce_variant"):
        ReinforceNetwork.initial(4, 2, 0.6, np.random.default_rng(0), variant="typo")
    assert set(reinforce.VARIANTS) == {"corrected", "original"}
