"""Statistics of the synthetic latent process against their closed forms."""

import numpy as np

from impression.data import LatentProcess, draw_mixing_matrix, draw_sequence, latent_noise_sd

DT = 0.1
A_COEFFICIENT = 1 - latent_noise_sd(DT) ** 2  # 0.975
STATIONARY_VARIANCE = latent_noise_sd(DT) ** 2 / (1 - A_COEFFICIENT**2)  # 0.506


def test_closed_form_constants():
    assert abs(latent_noise_sd(DT) - 0.158114) < 1e-6
    assert abs(A_COEFFICIENT - 0.975) < 1e-12
    assert abs(STATIONARY_VARIANCE - 0.50633) < 1e-4


def long_latents():
    """Return z of 20 independent latents over 200,000 steps, with the first 2,000 (50 correlation times) dropped."""
    mixing = draw_mixing_matrix(20, 20, np.random.default_rng(0))
    _, z = draw_sequence(mixing, DT, 202_000, np.random.default_rng(1))
    return z[2_000:]


def test_lag_one_autocorrelation():
    z = long_latents()
    estimate = np.mean([np.corrcoef(unit[:-1], unit[1:])[0, 1] for unit in z.T])
    # standard error of one unit's estimate is sqrt((1 - a^2) / n) = 5e-4; the mean
    # of 20 independent units has 1.1e-4, so 5e-4 is about 4.5 standard errors
    assert abs(estimate - A_COEFFICIENT) < 5e-4


def test_stationary_variance():
    z = long_latents()
    estimate = z.var(axis=0).mean()
    # the sample variance of an AR(1) series of n steps has relative s.d.
    # sqrt(2 (1 + a^2) / ((1 - a^2) n)) = 2% per unit, 0.45% for the mean of 20 units
    assert abs(estimate / STATIONARY_VARIANCE - 1) < 0.02


def test_first_state_has_innovation_variance():
    mixing = draw_mixing_matrix(3, 3, np.random.default_rng(2))
    # 20,000 independent processes of 3 latents, one generator shared between them
    rng = np.random.default_rng(4)
    first = np.array([LatentProcess(mixing, DT, rng).next_chunk(1)[1][0] for _ in range(20_000)])
    # relative s.d. of a sample variance from 60,000 normal values is sqrt(2 / 60,000) = 0.6%
    assert abs(first.var() / latent_noise_sd(DT) ** 2 - 1) < 0.03


def test_observations_are_mixed_latents():
    mixing = draw_mixing_matrix(10, 4, np.random.default_rng(5))
    x, z = draw_sequence(mixing, DT, 1_000, np.random.default_rng(6))
    np.testing.assert_allclose(x, z @ mixing.T, rtol=1e-12)


def test_mixing_matrix_spread():
    mixing = draw_mixing_matrix(100, 20, np.random.default_rng(7))
    assert mixing.shape == (100, 20)
    # 2,000 entries: the s.d. estimate has relative s.e. 1 / sqrt(2 * 2000) = 1.6%
    assert abs(mixing.std() * 20 - 1) < 0.06
    assert abs(mixing.mean()) < 4 * (1 / 20) / np.sqrt(2000)


def test_chunks_give_the_same_sequence():
    mixing = draw_mixing_matrix(5, 2, np.random.default_rng(8))
    whole_x, whole_z = draw_sequence(mixing, DT, 1_000, np.random.default_rng(9))
    process = LatentProcess(mixing, DT, np.random.default_rng(9))
    parts = [process.next_chunk(n) for n in (1, 299, 700)]
    np.testing.assert_array_equal(np.vstack([part[1] for part in parts]), whole_z)
    # x = z A^T comes from BLAS, whose rounding may depend on the block shape
    np.testing.assert_allclose(np.vstack([part[0] for part in parts]), whole_x, rtol=1e-13, atol=1e-15)


def test_latents_follow_recursion_with_numpy_innovations():
    mixing = draw_mixing_matrix(5, 3, np.random.default_rng(10))
    _, z = draw_sequence(mixing, DT, 500, np.random.default_rng(11))
    innovations = np.random.default_rng(11).normal(0.0, latent_noise_sd(DT), size=(500, 3))
    expected = np.empty_like(innovations)
    previous = np.zeros(3)
    for t in range(500):
        previous = A_COEFFICIENT * previous + innovations[t]
        expected[t] = previous
    np.testing.assert_allclose(z, expected, rtol=1e-12, atol=1e-15)
