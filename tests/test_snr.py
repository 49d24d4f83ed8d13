"""SNR analysis: moment accumulation, update statistics against a numpy reference, and end-to-end runs."""

import logging
import math

import numpy as np
import pytest
from test_reinforce import SIGMAS, ReferenceREINFORCE, tiny_network

from impression import snr
from impression.config import resolve_params
from impression.figures import fig2
from impression.reinforce import variant_of
from impression.simulation import simulate
from impression.storage import load_result, run_result_path, save_result


####################################################################
# Moment accumulator
####################################################################
def test_accumulator_matches_exact_sums():
    # 4 million terms near 1e-4 with a spread of 1e-10: a naive sum of squares loses the variance
    rng = np.random.default_rng(0)
    samples = 1e-4 + 1e-10 * rng.standard_normal((4_000_000, 2))
    samples[:, 1] += 3e-4
    mean, m2 = np.empty(2), np.empty(2)
    count = snr.accumulate_moments(samples, mean, m2)
    assert count == samples.shape[0]

    for k in range(2):
        column = samples[:, k]
        exact_mean = math.fsum(column) / column.size
        centred = column.astype(np.longdouble) - np.longdouble(exact_mean)
        exact_variance = float(np.sum(centred * centred) / column.size)
        naive_variance = np.mean(column * column) - np.mean(column) ** 2
        assert mean[k] == pytest.approx(exact_mean, rel=1e-12), f"mean, column {k}"
        assert m2[k] / count == pytest.approx(exact_variance, rel=1e-6), f"variance, column {k}"
        assert abs(naive_variance - exact_variance) > 1e-4 * exact_variance  # the data is a hard case


def test_update_statistics_definition():
    mean = np.array([[2.0, 0.0]])
    m2 = np.array([[8.0, 0.0]])
    statistics = snr.update_statistics(mean, m2, 4)
    np.testing.assert_array_equal(statistics["variance"], [[2.0, 0.0]])
    assert statistics["snr"][0, 0] == 2.0
    assert np.isnan(statistics["snr"][0, 1])  # 0 / 0: an entry that never changes


def test_cosine_similarity():
    assert snr.cosine_similarity(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert snr.cosine_similarity(np.array([1.0, 0.0]), np.array([0.0, -3.0])) == pytest.approx(0.0)
    assert math.isnan(snr.cosine_similarity(np.zeros(2), np.ones(2)))


####################################################################
# Update statistics against the numpy reference network
####################################################################
@pytest.mark.parametrize("variant_name", ["corrected", "original"])
def test_compare_updates_matches_reference(variant_name):
    W_in, W_out, d, _ = tiny_network()
    x = np.random.default_rng(2).normal(0.0, 0.3, size=(4, 4))
    params = dict(
        sigma_in=SIGMAS[0], sigma_rec=SIGMAS[1], sigma_gen=SIGMAS[2], sigma_obs=SIGMAS[3], switch_period=1,
        gamma_snr=1.0, epoch_num_snr=300, reinforce_variant=variant_name,
    )  # fmt: skip
    statistics = snr.compare_updates({"W_in": W_in, "W_out": W_out, "D": d}, x, params, noise_seed=17)

    reference = ReferenceREINFORCE(W_in, W_out, d, variant_of(variant_name), 1.0, 1)
    rng = np.random.default_rng(17)
    il_updates, rf_updates = [], []
    for _ in range(params["epoch_num_snr"]):
        reference.reset()
        for t in range(x.shape[0]):
            reference.step(x[t], rng, eta=0.0)
            il_updates.append(reference.il_update_W_in)
            rf_updates.append(reference.update_W_in)

    for rule, updates in (("impression", il_updates), ("reinforce", rf_updates)):
        updates = np.array(updates)
        np.testing.assert_allclose(statistics[rule]["mean"], updates.mean(0), rtol=1e-7, atol=1e-12, err_msg=rule)
        np.testing.assert_allclose(statistics[rule]["variance"], updates.var(0), rtol=1e-7, atol=1e-20, err_msg=rule)


def test_one_pass_equals_rules_in_turn():
    # the IL moments do not depend on the REINFORCE variant: same noise, same activities
    W_in, W_out, d, _ = tiny_network()
    x = np.random.default_rng(2).normal(0.0, 0.3, size=(4, 4))
    params = dict(
        sigma_in=SIGMAS[0], sigma_rec=SIGMAS[1], sigma_gen=SIGMAS[2], sigma_obs=SIGMAS[3], switch_period=1,
        gamma_snr=1.0, epoch_num_snr=1000,
    )  # fmt: skip
    weights = {"W_in": W_in, "W_out": W_out, "D": d}
    corrected = snr.compare_updates(weights, x, dict(params, reinforce_variant="corrected"), 3)
    original = snr.compare_updates(weights, x, dict(params, reinforce_variant="original"), 3)
    np.testing.assert_array_equal(corrected["impression"]["mean"], original["impression"]["mean"])
    assert not np.allclose(corrected["reinforce"]["mean"], original["reinforce"]["mean"])


def test_snapshot_seeds_are_distinct_and_repeatable():
    first = [(a.generate_state(2).tolist(), b.generate_state(2).tolist()) for a, b in snr.snapshot_seeds(5, 3)]
    again = [(a.generate_state(2).tolist(), b.generate_state(2).tolist()) for a, b in snr.snapshot_seeds(5, 3)]
    assert first == again
    flat = [state for pair in first for state in pair]
    assert len({tuple(state) for state in flat}) == len(flat)


####################################################################
# End to end at tiny sizes
####################################################################
TINY_SNR = dict(n_train=2000, n_test=500, epoch_num_snr=200)
TINY_SWEEP = dict(n_train=3000, n_test=500)


def run_and_save(mode, array_num, data_dir, **overrides):
    """Run one task in-process as impression_learning.run_and_save does, and save it."""
    params = resolve_params(mode, array_num, overrides=dict(overrides, data_dir=str(data_dir)))
    result = snr.run_snr(params) if mode == "SNR" else simulate(params)
    path = save_result(run_result_path(params), result)
    return path, result


@pytest.fixture(scope="module")
def sweep_folder(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fig2") / "data"
    for variant in ("corrected", "original"):
        for seed_index in (1, 2):
            run_and_save("SNR", seed_index, data_dir, reinforce_variant=variant, **TINY_SNR)
    for array_num in (1, 2, 6, 7):  # k = 1, 2 of IL and REINFORCE
        run_and_save("dimensionality", array_num, data_dir, **TINY_SWEEP)
    run_and_save("dimensionality", 6, data_dir, reinforce_variant="original", **TINY_SWEEP)
    for array_num in (1, 10, 21, 30):  # the first index of each rule has the largest eta
        run_and_save("lr_optim", array_num, data_dir, **TINY_SWEEP)
    return data_dir


def test_snr_result_contents(sweep_folder):
    result = load_result(sweep_folder / "SNR_array1_seed1.npz")
    assert result["status"] == "complete"
    output = result["snr"]
    assert output["reinforce_variant"] == "corrected"
    assert output["x"].shape == (20, 4, 4)
    for rule in ("impression", "reinforce"):
        assert output[rule]["mean"].shape == (20, 2, 4)
        np.testing.assert_allclose(output[rule]["snr"], output[rule]["mean"] ** 2 / output[rule]["variance"])
        assert np.all(np.isfinite(output[rule]["mean_snr"]))
    assert np.all(np.abs(output["cosine"]) <= 1.0)
    assert result["timing"]["snr_seconds"] > 0
    original = load_result(sweep_folder / "SNR_original_array1_seed1.npz")
    assert original["snr"]["reinforce_variant"] == "original"
    np.testing.assert_array_equal(original["snr"]["impression"]["mean"], output["impression"]["mean"])


def test_snr_repeatable(sweep_folder, tmp_path):
    _, again = run_and_save("SNR", 1, tmp_path, **TINY_SNR)
    saved = load_result(sweep_folder / "SNR_array1_seed1.npz")
    np.testing.assert_array_equal(again["snr"]["reinforce"]["mean"], saved["snr"]["reinforce"]["mean"])


def test_dimensionality_reinforce_uses_its_rate(sweep_folder):
    corrected = load_result(sweep_folder / "dimensionality_array6_seed1.npz")
    original = load_result(sweep_folder / "dimensionality_original_array6_seed1.npz")
    assert corrected["algorithm"] == "reinforce"
    assert corrected["params"]["eta"] == corrected["params"]["eta_reinforce"]
    assert original["params"]["eta"] == 10**-9.5
    assert corrected["params"]["test_switching"] is False
    assert load_result(sweep_folder / "dimensionality_array1_seed1.npz")["params"]["eta"] == 10**-2.5


def test_figure2_drawn_for_both_variants(sweep_folder, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="impression"):
        for variant in ("corrected", "original"):
            paths = fig2.draw(sweep_folder, tmp_path, variant)
            assert [path.suffix for path in paths] == [".png", ".pdf"]
            for path in paths:
                assert path.stat().st_size > 10_000
    assert "dimensionality: no result files for array indices 3-5" in caplog.text
    assert "dimensionality_bp: no result files for array indices 1-5" in caplog.text


def test_figure2_counts_diverged_runs_as_failed(sweep_folder, tmp_path, caplog):
    diverged = load_result(sweep_folder / "lr_optim_array21_seed1.npz")
    diverged["status"] = "diverged"
    save_result(sweep_folder / "lr_optim_array22_seed1.npz", diverged)
    with caplog.at_level(logging.WARNING, logger="impression"):
        fig2.draw(sweep_folder, tmp_path, "corrected")
    assert "lr_optim_array22_seed1.npz: status 'diverged', left out of the curves" in caplog.text
    (sweep_folder / "lr_optim_array22_seed1.npz").unlink()


def test_figure2_without_results_raises(tmp_path):
    with pytest.raises(fig2.UserError, match="no SNR, dimensionality or lr_optim result files"):
        fig2.draw(tmp_path, tmp_path / "figures")
