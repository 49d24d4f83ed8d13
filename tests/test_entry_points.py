"""The entry points end to end as subprocesses, and their handling of bad input."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import PROJECT_ROOT, run_script

from impression.storage import load_result

TINY = ("--n_train=4000", "--n_test=1000")


@pytest.fixture(scope="module")
def tiny_standard_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("standard")
    data_dir, figures_dir = folder / "data", folder / "figures"
    completed = run_script("impression_learning.py", "--mode", "standard", *TINY, f"--data_dir={data_dir}")
    return completed, data_dir, figures_dir


def test_standard_run_writes_result(tiny_standard_run):
    completed, data_dir, _ = tiny_standard_run
    assert completed.returncode == 0, completed.stderr
    path = data_dir / "standard_array1_seed1.npz"
    assert str(path) in completed.stderr
    result = load_result(path)
    assert result["status"] == "complete"
    assert result["test_loss"].shape == (20,)
    assert np.all(np.isfinite(result["test_loss"]))
    assert result["params"]["n_train"] == 4000
    assert "numpy" in result["versions"]


def test_plot_generator_draws_figure1(tiny_standard_run):
    _, data_dir, figures_dir = tiny_standard_run
    completed = run_script(
        "il_plot_generator.py", "--mode", "standard", f"--data_dir={data_dir}", f"--figures_dir={figures_dir}"
    )
    assert completed.returncode == 0, completed.stderr
    for suffix in ("png", "pdf"):
        assert (figures_dir / f"figure1.{suffix}").stat().st_size > 10_000


def test_plot_generator_rejects_result_of_other_mode(tiny_standard_run, tmp_path):
    _, data_dir, _ = tiny_standard_run
    renamed = tmp_path / "switch_period_array1_seed1.npz"
    renamed.write_bytes((data_dir / "standard_array1_seed1.npz").read_bytes())
    completed = run_script(
        "il_plot_generator.py", "--mode", "switch_period", f"--data_dir={tmp_path}", f"--figures_dir={tmp_path}"
    )
    assert_user_error(completed, str(renamed), "mode 'standard'", "mode 'switch_period'")
    assert not (tmp_path / "figure3.png").exists()


def test_array_index_from_slurm_environment(tmp_path):
    completed = run_script(
        "impression_learning.py",
        "--mode",
        "switch_period",
        *TINY,
        f"--data_dir={tmp_path}",
        env={"SLURM_ARRAY_TASK_ID": "3"},
    )
    assert completed.returncode == 0, completed.stderr
    result = load_result(tmp_path / "switch_period_array3_seed1.npz")
    assert result["params"]["switch_period"] == 7
    assert result["params"]["test_switching"] is False


def assert_user_error(completed, *fragments):
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    for fragment in fragments:
        assert fragment in completed.stderr


def test_unknown_mode_is_rejected():
    completed = run_script("impression_learning.py", "--mode", "standrad")
    assert_user_error(completed, "standrad", "standard", "switch_period")


def test_unknown_parameter_is_rejected():
    completed = run_script("impression_learning.py", "--etta=1e-3")
    assert_user_error(completed, "etta", "eta")


def test_wrong_type_is_rejected():
    completed = run_script("impression_learning.py", "--n_train=lots")
    assert_user_error(completed, "n_train", "lots", "integer")


def test_invalid_choice_is_rejected():
    completed = run_script("impression_learning.py", "--reinforce_variant=newest")
    assert_user_error(completed, "reinforce_variant", "newest", "corrected", "original")


def test_array_index_out_of_range_is_rejected():
    completed = run_script("impression_learning.py", "--mode", "switch_period", "--array-num", "12")
    assert_user_error(completed, "12", "1-11")


def test_vocal_digits_without_dataset_names_command(tmp_path):
    completed = run_script("impression_learning.py", "--mode", "Vocal_Digits", f"--data_dir={tmp_path}")
    assert_user_error(completed, "fsdd_spectrograms.npz", "il_fsdd_preprocessing.py")


def test_eta_on_reinforce_index_is_rejected(tmp_path):
    completed = run_script(
        "impression_learning.py", "--mode", "dimensionality", "--array-num", "6", "--eta=1e-3", f"--data_dir={tmp_path}"
    )
    assert_user_error(completed, "--eta_reinforce=")
    assert not list(tmp_path.glob("*.npz"))


def test_corrupt_result_file_is_reported_by_path(tmp_path):
    corrupt = tmp_path / "standard_array1_seed1.npz"
    corrupt.write_bytes(b"not an archive at all")
    completed = run_script("il_plot_generator.py", f"--data_dir={tmp_path}", f"--figures_dir={tmp_path}")
    assert_user_error(completed, str(corrupt), "corrupt")


def test_missing_results_name_the_command(tmp_path):
    completed = run_script("il_plot_generator.py", f"--data_dir={tmp_path}", f"--figures_dir={tmp_path}")
    assert_user_error(completed, "impression_learning.py")


def test_diverging_run_reports_step_and_saves(tmp_path):
    completed = run_script("impression_learning.py", *TINY, "--eta=1e3", f"--data_dir={tmp_path}")
    assert_user_error(completed, "diverged at step", "eta=1000")
    result = load_result(tmp_path / "standard_array1_seed1.npz")
    assert result["status"] == "diverged"
    assert 0 <= result["divergence"]["step"] < 4000
    assert len(result["test_loss"]) >= 1
    assert np.all(np.isfinite(result["test_loss"]))


@pytest.fixture(scope="module")
def figure2_runs(tmp_path_factory):
    """Tiny SNR, dimensionality (IL and REINFORCE) and lr_optim runs, and backprop runs, as subprocesses."""
    folder = tmp_path_factory.mktemp("figure2")
    data_dir = folder / "data"
    runs = [
        ("impression_learning.py", "--mode", "SNR", "--n_train=3000", "--n_test=500", "--epoch_num_snr=300"),
        ("impression_learning.py", "--mode", "SNR", "--n_train=3000", "--n_test=500", "--epoch_num_snr=300",
         "--reinforce_variant=original"),
        ("impression_learning.py", "--mode", "dimensionality", "--array-num", "1", *TINY),
        ("impression_learning.py", "--mode", "dimensionality", "--array-num", "6", *TINY),
        ("impression_learning.py", "--mode", "lr_optim", "--array-num", "3", *TINY),
        ("impression_learning.py", "--mode", "lr_optim", "--array-num", "30", *TINY),
        ("il_backprop.py", "--array-num", "1", "--n_train=3000", "--n_test=500"),
    ]  # fmt: skip
    completed = [run_script(*run, f"--data_dir={data_dir}") for run in runs]
    return completed, data_dir, folder / "figures"


def test_figure2_entry_points_write_results(figure2_runs):
    completed, data_dir, _ = figure2_runs
    for process in completed:
        assert process.returncode == 0, process.stderr
    names = sorted(path.name for path in data_dir.glob("*.npz"))
    assert names == [
        "SNR_array1_seed1.npz",
        "SNR_original_array1_seed1.npz",
        "dimensionality_array1_seed1.npz",
        "dimensionality_array6_seed1.npz",
        "dimensionality_bp_array1_seed1.npz",
        "lr_optim_array30_seed1.npz",
        "lr_optim_array3_seed1.npz",
    ]
    reinforce_run = load_result(data_dir / "dimensionality_array6_seed1.npz")
    assert reinforce_run["algorithm"] == "reinforce"
    assert reinforce_run["params"]["eta"] == reinforce_run["params"]["eta_reinforce"]
    grid_run = load_result(data_dir / "lr_optim_array30_seed1.npz")
    assert grid_run["algorithm"] == "reinforce"
    assert grid_run["params"]["eta"] == pytest.approx(1e-7)
    snr_run = load_result(data_dir / "SNR_original_array1_seed1.npz")
    assert snr_run["snr"]["reinforce_variant"] == "original"
    assert snr_run["snr"]["impression"]["snr"].shape == (20, 2, 4)


def test_plot_generator_draws_figure2(figure2_runs):
    _, data_dir, figures_dir = figure2_runs
    completed = run_script(
        "il_plot_generator.py", "--mode", "SNR", f"--data_dir={data_dir}", f"--figures_dir={figures_dir}"
    )
    assert completed.returncode == 0, completed.stderr
    for variant in ("corrected", "original"):
        for suffix in ("png", "pdf"):
            assert (figures_dir / f"figure2_{variant}.{suffix}").stat().st_size > 10_000


def test_unwritable_data_dir_stops_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    completed = run_script("impression_learning.py", *TINY, f"--data_dir={blocker}")
    assert_user_error(completed, f"--data_dir={blocker} is a file, not a folder")
    assert "training" not in completed.stderr

    below_file = run_script("impression_learning.py", *TINY, f"--data_dir={blocker / 'data'}")
    assert_user_error(below_file, f"--data_dir={blocker / 'data'} cannot be written")
    assert "training" not in below_file.stderr


def test_divergence_names_the_rate_of_the_run(tmp_path):
    completed = run_script(
        "impression_learning.py", "--mode", "dimensionality", "--array-num", "6", *TINY, "--eta_reinforce=1e3",
        f"--data_dir={tmp_path}",
    )  # fmt: skip
    assert_user_error(completed, "eta_reinforce=1000", "--eta_reinforce=100")
    assert "--eta=" not in completed.stderr


def test_interrupted_run_exits_130_and_keeps_old_result(tmp_path):
    old = tmp_path / "standard_array1_seed1.npz"
    old.write_bytes(b"previous result")
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "impression_learning.py"), "--n_train=5000000", f"--data_dir={tmp_path}"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    deadline = time.monotonic() + 60
    stderr_lines = []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        stderr_lines.append(line)
        if "training" in line:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "interrupted; this run saved nothing" in rest
    assert "Traceback" not in rest
    assert old.read_bytes() == b"previous result"


def test_plot_generator_rejects_run_options(tmp_path):
    completed = run_script("il_plot_generator.py", "--n_train=5", f"--data_dir={tmp_path}")
    assert completed.returncode == 2
    assert "unrecognized arguments: --n_train=5" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_plot_generator_missing_data_folder(tmp_path):
    missing = tmp_path / "no_such_folder"
    completed = run_script(
        "il_plot_generator.py", f"--data_dir={missing}", f"--figures_dir={tmp_path}", env={"SLURM_ARRAY_TASK_ID": "abc"}
    )
    assert_user_error(completed, f"data folder not found: {missing}", "impression_learning.py --mode standard")


def test_option_given_twice_is_rejected():
    completed = run_script("impression_learning.py", "--mode", "standard", "--mode", "SNR")
    assert completed.returncode == 2
    assert "--mode is given twice" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_run_too_large_for_memory_is_reported(tmp_path):
    completed = run_script(
        # 10^12 inputs need more memory than any address space holds, so the allocation fails at once
        "impression_learning.py",
        "--n_in=1000000000000",
        "--n_train=2000",
        f"--data_dir={tmp_path}",
    )
    assert_user_error(completed, "not enough memory for this run", "--n_in")
