"""Figure modules: result files checked against the figure, parameter warnings, labels and panel layout."""

import logging
import shutil

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from impression import snr  # noqa: E402
from impression.config import resolve_params  # noqa: E402
from impression.errors import UserError  # noqa: E402
from impression.figures import common, fig1, fig2, fig3, fig4  # noqa: E402
from impression.progress import plural  # noqa: E402
from impression.simulation import simulate  # noqa: E402
from impression.storage import run_result_path, save_result  # noqa: E402

TINY = dict(n_train=2000, n_test=400)
SWITCH_PERIOD_RANGE = (1, 11)


def run_and_save(mode, array_num, data_dir, **overrides):
    """Run one tiny task in-process, save it under its own file name and return the path."""
    params = resolve_params(mode, array_num, overrides=dict(overrides, data_dir=str(data_dir)))
    result = snr.run_snr(params) if mode == "SNR" else simulate(params)
    return save_result(run_result_path(params), result)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Paths of tiny real runs: two standard seeds, one switch_period index and one SNR seed."""
    data_dir = tmp_path_factory.mktemp("figure_runs")
    return {
        "standard": run_and_save("standard", 1, data_dir, **TINY),
        "standard_seed2": run_and_save("standard", 2, data_dir, **TINY),
        "switch_period": run_and_save("switch_period", 1, data_dir, **TINY),
        "SNR": run_and_save("SNR", 1, data_dir, epoch_num_snr=20, **TINY),
    }


def copy_as(source, folder, name):
    folder.mkdir(parents=True, exist_ok=True)
    return shutil.copy(source, folder / name)


def save_stub(folder, name, **fields):
    """Save a result with only the fields that the figures check before drawing."""
    return save_result(folder / name, fields)


####################################################################
# plural
####################################################################
@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (0, "seed", "0 seeds"),
        (1, "seed", "1 seed"),
        (2, "seed", "2 seeds"),
        (1, "learning rate", "1 learning rate"),
        (20, "learning rate", "20 learning rates"),
        (1, "step", "1 step"),
    ],
)
def test_plural_counts(count, noun, expected):
    assert plural(count, noun) == expected


def test_plural_irregular_form():
    assert plural(2, "matrix", "matrices") == "2 matrices"
    assert plural(1, "matrix", "matrices") == "1 matrix"


####################################################################
# A result of another mode under a figure's file name
####################################################################
@pytest.mark.parametrize("source", ["switch_period", "SNR"])
def test_figure1_rejects_other_mode(runs, tmp_path, source):
    copy_as(runs["standard"], tmp_path, "standard_array1_seed1.npz")
    renamed = copy_as(runs[source], tmp_path, "standard_array8_seed8.npz")
    with pytest.raises(UserError) as caught:
        fig1.draw(tmp_path, tmp_path / "figures")
    message = str(caught.value)
    assert str(renamed) in message
    assert f"mode {source!r}" in message
    assert "mode 'standard'" in message
    assert not (tmp_path / "figures" / "figure1.png").exists()


def test_figure1_rejects_vocal_digits_without_traceback(tmp_path):
    stub = save_stub(
        tmp_path, "standard_array1_seed1.npz", mode="Vocal_Digits", algorithm="impression", status="complete"
    )
    with pytest.raises(UserError, match="mode 'Vocal_Digits'") as caught:
        fig1.draw(tmp_path, tmp_path / "figures")
    assert str(stub) in str(caught.value)


def test_figure3_rejects_standard_run(runs, tmp_path):
    renamed = copy_as(runs["standard"], tmp_path, "switch_period_array1_seed1.npz")
    with pytest.raises(UserError) as caught:
        fig3.draw(tmp_path, tmp_path / "figures", SWITCH_PERIOD_RANGE)
    assert str(renamed) in str(caught.value)
    assert "mode 'standard'" in str(caught.value)
    assert "rename it to standard_array1_seed1.npz" in str(caught.value)


def test_renamed_file_logs_index_mismatch(runs, tmp_path, caplog):
    copy_as(runs["standard"], tmp_path, "standard_array5_seed5.npz")
    with caplog.at_level(logging.WARNING, logger="impression"):
        results = common.load_results(tmp_path, "standard")
    assert results[0]["source_file"] == "standard_array5_seed5.npz"
    assert "the file name gives array index 5, but the run inside has array index 1" in caplog.text
    assert "the file name gives seed 5, but the run inside has seed 1" in caplog.text


def test_figure2_rejects_reinforce_at_il_index(tmp_path):
    stub = save_stub(
        tmp_path,
        "dimensionality_array2_seed1.npz",
        mode="dimensionality",
        algorithm="reinforce",
        status="complete",
        params={"reinforce_variant": "corrected"},
    )
    with pytest.raises(UserError, match="expects a 'impression' run") as caught:
        fig2.draw(tmp_path, tmp_path / "figures", "corrected")
    assert str(stub) in str(caught.value)


def test_figure2_rejects_corrected_run_tagged_original(tmp_path):
    stub = save_stub(
        tmp_path,
        "lr_optim_original_array30_seed1.npz",
        mode="lr_optim",
        algorithm="reinforce",
        status="complete",
        params={"reinforce_variant": "corrected"},
    )
    with pytest.raises(UserError, match="reinforce_variant 'corrected'") as caught:
        fig2.draw(tmp_path, tmp_path / "figures", "original")
    assert str(stub) in str(caught.value)
    assert "expects 'original'" in str(caught.value)


def test_figure2_rejects_snr_of_other_variant(runs, tmp_path):
    renamed = copy_as(runs["SNR"], tmp_path, "SNR_original_array1_seed1.npz")
    with pytest.raises(UserError, match="expects 'original'") as caught:
        fig2.draw(tmp_path, tmp_path / "figures", "original")
    assert str(renamed) in str(caught.value)


def test_figure4_rejects_variant_mismatch(tmp_path):
    stub = save_stub(
        tmp_path,
        "Vocal_Digits_original_array10_seed10.npz",
        mode="Vocal_Digits",
        algorithm="reinforce",
        status="complete",
        params={"reinforce_variant": "corrected"},
    )
    with pytest.raises(UserError, match="expects 'original'") as caught:
        fig4.load_vocal_digits_results(tmp_path)
    assert str(stub) in str(caught.value)


def test_figure4_rejects_other_mode(runs, tmp_path):
    renamed = copy_as(runs["standard"], tmp_path, "Vocal_Digits_array1_seed1.npz")
    with pytest.raises(UserError, match="mode 'standard'") as caught:
        fig4.load_vocal_digits_results(tmp_path)
    assert str(renamed) in str(caught.value)


####################################################################
# Parameters that differ between results drawn together
####################################################################
def test_figure1_rejects_averaging_differing_n_train(runs, tmp_path):
    copy_as(runs["standard"], tmp_path, "standard_array1_seed1.npz")
    run_and_save("standard", 2, tmp_path, n_train=1000, n_test=400)
    with pytest.raises(UserError) as caught:
        fig1.draw(tmp_path, tmp_path / "figures")
    assert "averaged together differ in 1 parameter" in str(caught.value)
    assert "n_train = 2000 in (standard_array1_seed1.npz)" in str(caught.value)
    assert "1000 in (standard_array2_seed2.npz)" in str(caught.value)
    assert not (tmp_path / "figures" / "figure1.png").exists()


def test_figure1_seeds_alone_raise_no_warning(runs, tmp_path, caplog):
    copy_as(runs["standard"], tmp_path, "standard_array1_seed1.npz")
    copy_as(runs["standard_seed2"], tmp_path, "standard_array2_seed2.npz")
    with caplog.at_level(logging.WARNING, logger="impression"):
        fig1.draw(tmp_path, tmp_path / "figures")
    assert "differ in" not in caplog.text


def stub_result(name, **params):
    return {"source_file": name, "mode": "dimensionality", "algorithm": "impression", "params": params}


def test_differing_params_skip_identity_and_sweep_keys(caplog):
    results = [
        stub_result("a.npz", seed=1, array_num=1, data_dir="/x", figures_dir="/f", n_neurons=2, eta=0.1),
        stub_result("b.npz", seed=2, array_num=2, data_dir="/y", figures_dir="/g", n_neurons=4, eta=0.1),
    ]
    with caplog.at_level(logging.WARNING, logger="impression"):
        differing = common.report_differing_params(results, "test", sweep_keys=("n_neurons",))
    assert differing == {}
    assert caplog.text == ""


def test_differing_params_name_keys_and_values(caplog):
    results = [
        stub_result("a.npz", n_neurons=2, eta=0.1, n_test=30),
        stub_result("b.npz", n_neurons=4, eta=0.2, n_test=30),
    ]
    with caplog.at_level(logging.WARNING, logger="impression"):
        differing = common.report_differing_params(results, "panel x", sweep_keys=("n_neurons",))
    assert set(differing) == {"eta"}
    assert "panel x" in caplog.text
    assert "eta = 0.1 in (a.npz), 0.2 in (b.npz)" in caplog.text
    assert "n_neurons" not in caplog.text


def test_differing_params_ignore_reinforce_keys_of_il_runs():
    results = [stub_result("a.npz", gamma=0.9), stub_result("b.npz", gamma=0.5)]
    assert common.report_differing_params(results, "test") == {}
    for result in results:
        result["algorithm"] = "reinforce"
    assert set(common.report_differing_params(results, "test")) == {"gamma"}


def test_differing_params_cap_listed_files(caplog):
    results = [stub_result(f"{i}.npz", eta=0.1) for i in range(7)] + [stub_result("odd.npz", eta=0.2)]
    with caplog.at_level(logging.WARNING, logger="impression"):
        common.report_differing_params(results, "test")
    assert "0.npz, 1.npz, 2.npz, 3.npz and 3 others" in caplog.text
    assert "4.npz" not in caplog.text


def test_figure2_panel_warning_between_rules(caplog):
    groups = {
        "impression": [stub_result("il.npz", n_neurons=2, eta=0.1, n_train=100)],
        "reinforce": [
            dict(stub_result("rf.npz", n_neurons=4, eta=1e-6, n_train=200, gamma=0.9), algorithm="reinforce")
        ],
    }
    with caplog.at_level(logging.WARNING, logger="impression"):
        fig2.warn_panel_params(groups, "panel e", fig2.DIMENSION_KEYS)
    assert "between IL and REINFORCE" in caplog.text
    assert "n_train = 100 in (il.npz), 200 in (rf.npz)" in caplog.text
    assert "eta =" not in caplog.text
    assert "gamma" not in caplog.text


####################################################################
# Panels and labels
####################################################################
def test_figure1_labels_name_array_indices(runs):
    result = common.read_result(runs["standard"])
    figure, axes = plt.subplots(1, 4)
    fig1.draw_prediction_panels(axes[0], axes[1], result)
    fig1.draw_autocorrelation_panel(axes[2], result)
    fig1.draw_alternation_panel(axes[3], result)
    assert axes[0].get_ylabel() == "input x[1]"
    legend = [text.get_text() for text in axes[2].get_legend().get_texts()]
    assert legend == ["inferred r[0] (wake)", "true latent z[0]", "generated r[0] (deep sleep)"]
    assert axes[3].get_ylabel() == "latent unit r[1]"
    assert "phases of 2 steps" in axes[3].get_legend().get_texts()[1].get_text()
    plt.close(figure)


def test_figure1_single_seed_label(runs):
    result = common.read_result(runs["standard"])
    figure, axis = plt.subplots()
    fig1.draw_loss_panel(axis, [result, result])
    assert axis.get_legend().get_texts()[0].get_text() == "mean ± SEM, 2 seeds"
    plt.close(figure)


def test_figure2_snr_title_singular_for_one_seed(runs):
    result = common.read_result(runs["SNR"])
    figure, axes = plt.subplots(1, 4)
    fig2.draw_snr_panels(axes, [result], "corrected")
    assert axes[0].get_title() == "(a) loss through training (SNR mode), 1 seed"
    plt.close(figure)


def test_figure2_missing_snr_panels_keep_titles(tmp_path):
    figure, axes = plt.subplots(1, 4)
    fig2.draw_snr_panels(axes, [], "original")
    for axis in axes:
        assert axis.get_title().startswith("(")
        assert axis.get_xlabel() == "training step"
        assert axis.get_ylabel()
        notes = [text.get_text() for text in axis.texts]
        assert len(notes) == 1
        assert "no SNR results of the original REINFORCE rule" in notes[0]
        assert "--reinforce_variant=original" in notes[0]
    plt.close(figure)


def loss_run(eta, losses, status="complete"):
    return {"params": {"eta": eta, "n_neurons": 2}, "test_loss": np.asarray(losses, dtype=float), "status": status}


def test_figure2_diverged_mark_on_top_edge():
    figure, axis = plt.subplots()
    completed = {"impression": {3: [loss_run(1e-3, [50.0] * 4)]}, "reinforce": {30: [loss_run(1e-7, [900.0] * 4)]}}
    failed = {"impression": {}, "reinforce": {21: [loss_run(1e-2, [1e3], status="diverged")]}}
    fig2.draw_learning_rate_panel(axis, completed, failed)
    figure.canvas.draw()
    marks = [line for line in axis.get_lines() if "diverged" in line.get_label()]
    assert len(marks) == 1
    top_in_pixels = axis.transAxes.transform((0.0, 1.0))[1]
    mark_in_pixels = marks[0].get_transform().transform((1e-2, marks[0].get_ydata()[0]))[1]
    assert mark_in_pixels == pytest.approx(top_in_pixels)
    highest_loss = axis.transData.transform((1e-7, 900.0))[1]
    assert top_in_pixels - highest_loss > 5  # headroom: the mark does not sit on a data point
    assert "REINFORCE diverged (top edge)" in [text.get_text() for text in axis.get_legend().get_texts()]
    plt.close(figure)


def test_figure2_dimension_panel_log_axis():
    figure, axis = plt.subplots()
    runs = {
        "impression": {1: [loss_run(1e-3, [200.0] * 4)]},
        "reinforce": {6: [loss_run(1e-7, [1.4e4] * 4)]},
        "backprop": {1: [loss_run(1e-6, [400.0] * 4)]},
    }
    fig2.draw_dimension_panel(axis, runs)
    assert axis.get_yscale() == "log"
    plt.close(figure)


def test_figure2_dimension_panel_symlog_for_negative_loss():
    figure, axis = plt.subplots()
    runs = {"impression": {1: [loss_run(1e-3, [-5.0] * 4)]}, "reinforce": {}, "backprop": {}}
    fig2.draw_dimension_panel(axis, runs)
    assert axis.get_yscale() == "symlog"
    plt.close(figure)


def test_figure2_names_missing_rule_commands():
    figure, axis = plt.subplots()
    runs = {"impression": {1: [loss_run(1e-3, [200.0] * 4)]}, "reinforce": {}, "backprop": {}}
    fig2.draw_dimension_panel(axis, runs, "original")
    notes = "\n".join(text.get_text() for text in axis.texts)
    assert "missing REINFORCE" in notes
    assert "--reinforce_variant=original" in notes
    assert "il_backprop.py --array 1-5" in notes
    plt.close(figure)
