"""The entry points end to end as subprocesses, and their handling of bad input."""

import numpy as np
import pytest
from conftest import run_script

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


def test_array_index_from_slurm_environment(tmp_path):
    completed = run_script(
        "impression_learning.py", "--mode", "switch_period", *TINY, f"--data_dir={tmp_path}",
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


def test_unimplemented_mode_names_itself(tmp_path):
    completed = run_script("impression_learning.py", "--mode", "Vocal_Digits", f"--data_dir={tmp_path}")
    if completed.returncode == 0:
        pytest.skip("Vocal_Digits is implemented; its own tests cover it")
    assert_user_error(completed, "Vocal_Digits")


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
