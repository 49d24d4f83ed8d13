"""Result files hold plain data only and are written atomically; parameters resolve as documented."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from impression import PROJECT_ROOT
from impression.config import learning_rate_key, load_param_module, parse_value, resolve_params, split_overrides
from impression.errors import ConfigError, UserError
from impression.storage import (
    ResultFileError,
    check_output_folder,
    load_result,
    load_result_header,
    save_result,
    save_result_safely,
)


def test_round_trip_of_nested_plain_data(tmp_path):
    result = {
        "array": np.arange(6.0).reshape(2, 3),
        "labels": np.array(["a", "bc"]),
        "nested": {"list": [1, 2.5, "x", None, True, {"inner": np.ones(2, dtype=np.int32)}]},
        "number": np.float64(0.25),
    }
    loaded = load_result(save_result(tmp_path / "r.npz", result))
    np.testing.assert_array_equal(loaded["array"], result["array"])
    np.testing.assert_array_equal(loaded["labels"], result["labels"])
    assert loaded["nested"]["list"][:5] == [1, 2.5, "x", None, True]
    assert loaded["nested"]["list"][5]["inner"].dtype == np.int32
    assert loaded["number"] == 0.25


def test_objects_are_rejected_before_writing(tmp_path):
    path = tmp_path / "r.npz"
    save_result(path, {"value": 1})
    with pytest.raises(TypeError, match="not plain data"):
        save_result(path, {"value": object()})
    with pytest.raises(TypeError, match="not plain data"):
        save_result(path, {"value": np.array([object()])})
    assert load_result(path) == {"value": 1}
    assert os.listdir(tmp_path) == ["r.npz"]


def test_pickled_member_is_not_loaded(tmp_path):
    path = tmp_path / "evil.npz"
    structure = {"format": "impression-learning-result", "version": 1, "result": {"x": {"__array__": "a0"}}}
    np.savez(path, __structure__=np.array(json.dumps(structure)), a0=np.array([{"code": 1}], dtype=object))
    with pytest.raises(ResultFileError, match=str(path)):
        load_result(path)


def test_foreign_archive_is_reported(tmp_path):
    path = tmp_path / "foreign.npz"
    np.savez(path, weights=np.ones(3))
    with pytest.raises(ResultFileError, match="not a result file"):
        load_result(path)


def test_truncated_file_is_reported(tmp_path):
    path = save_result(tmp_path / "r.npz", {"x": np.arange(1000.0)})
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ResultFileError, match="corrupt"):
        load_result(path)


def test_override_types_are_parsed():
    assert parse_value("n_train", "2e6", 1) == 2_000_000
    assert parse_value("eta", "1e-3", 0.1) == 1e-3
    assert parse_value("test_switching", "false", True) is False
    with pytest.raises(ConfigError, match="integer"):
        parse_value("n_train", "1.5", 1)
    with pytest.raises(ConfigError, match="boolean"):
        parse_value("test_switching", "maybe", True)


def test_malformed_token_is_rejected():
    assert split_overrides(["--n-train=5"]) == {"n_train": "5"}
    with pytest.raises(ConfigError, match="--key=value"):
        split_overrides(["eta=1"])


def test_array_index_sets_mode_values(monkeypatch):
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    assert resolve_params("switch_period", 11)["switch_period"] == 31
    dimensionality = resolve_params("dimensionality", 8)
    assert (dimensionality["n_latent"], dimensionality["n_in"], dimensionality["algorithm"]) == (8, 16, "reinforce")
    assert resolve_params("standard")["array_num"] == 1
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "5")
    assert resolve_params("standard")["seed"] == 5
    assert resolve_params("standard", seed=99)["seed"] == 99


def test_wake_sleep_is_an_alias_of_impression():
    assert resolve_params("standard", 1, overrides={"algorithm": "wake_sleep"})["algorithm"] == "impression"


@pytest.mark.parametrize(
    "mode, key, value, expected",
    [
        ("standard", "n_train", "0", "a positive integer"),
        ("standard", "n_test", "-5", "a positive integer"),
        ("standard", "n_neurons", "0", "a positive integer"),
        ("standard", "epoch_num", "0", "a positive integer"),
        ("standard", "n_snapshots", "0", "a positive integer"),
        ("standard", "n_train", "10", "at least n_snapshots = 20 training steps"),
        ("standard", "switch_period", "-1", "an integer >= 0"),
        ("standard", "sigma_in", "-0.1", "a positive number"),
        ("standard", "dt", "0", "a positive number"),
        ("standard", "eta", "-1", "a finite learning rate >= 0"),
        ("standard", "eta", "nan", "a finite learning rate >= 0"),
        ("standard", "gamma", "1.5", "a trace decay between 0 and 1"),
        ("standard", "seed", "-1", "an integer >= 0"),
        ("standard", "data_dir", "", "a path; it is empty"),
        ("SNR", "epoch_num_snr", "0", "a positive integer"),
        ("SNR", "snr_steps", "0", "a positive integer"),
        ("Vocal_Digits", "n_train", "-3", "0 (all frames) or a positive number of frames"),
        ("Vocal_Digits", "n_neurons_top", "0", "a positive integer"),
    ],
)
def test_out_of_range_values_are_rejected(mode, key, value, expected):
    with pytest.raises(ConfigError) as caught:
        resolve_params(mode, 1, overrides={key: value})
    assert f"--{key}=" in str(caught.value)
    assert expected in str(caught.value)


def test_vocal_digits_takes_zero_frames_as_all():
    assert resolve_params("Vocal_Digits", 1, overrides={"n_train": "0"})["n_train"] == 0


def test_key_given_twice_is_rejected():
    with pytest.raises(ConfigError, match="--n_train is given twice"):
        split_overrides(["--n_train=20000", "--n_train=100"])


def test_rate_of_other_variant_is_rejected():
    with pytest.raises(ConfigError, match="--eta_reinforce_original=VALUE"):
        resolve_params("dimensionality", 6, overrides={"eta_reinforce": "1", "reinforce_variant": "original"})
    params = resolve_params("dimensionality", 6, overrides={"eta_reinforce": "1e-7"})
    assert learning_rate_key(params) == "eta_reinforce"
    assert params["eta"] == 1e-7
    assert learning_rate_key(resolve_params("dimensionality", 1)) == "eta"


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("mode = 'standard'\nCOMMON = dict(\n", ["il_params_under_test.py failed to load", "SyntaxError"]),
        ("mode = 'standard'\nCOMMON = undefined_name\n", ["line 2: NameError"]),
        ("COMMON = {}\n", ["does not define mode, PARAMS"]),
    ],
)
def test_broken_parameter_file_is_reported(tmp_path, monkeypatch, text, fragments):
    (tmp_path / "il_params_under_test.py").write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        load_param_module("il_params_under_test")
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_mode_that_is_not_a_string_is_reported(tmp_path, monkeypatch):
    source = (PROJECT_ROOT / "il_exp_params.py").read_text().replace('mode = "standard"', 'mode = ["standard"]', 1)
    (tmp_path / "il_params_list_mode.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConfigError, match=r"mode = \['standard'\] in il_params_list_mode.py is not a string"):
        load_param_module("il_params_list_mode")


def test_unwritable_folder_is_reported_before_work(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(UserError, match="--data_dir=.*a_file/data cannot be written"):
        check_output_folder(blocker / "data", "data_dir")
    with pytest.raises(UserError, match="--data_dir=.*a_file is a file, not a folder"):
        check_output_folder(blocker, "data_dir")


def test_save_keeps_previous_file_and_falls_back(tmp_path):
    path = tmp_path / "standard_array1_seed1.npz"
    for value in (1, 2, 3):
        save_result_safely(path, {"status": "complete", "value": value})
    assert load_result(path)["value"] == 3
    replaced = sorted(path.parent.glob("replaced/standard_array1_seed1.*.npz"))
    assert sorted(load_result(old)["value"] for old in replaced) == [1, 2]

    blocked = tmp_path / "blocked" / "standard_array2_seed2.npz"
    blocked.mkdir(parents=True)  # a folder where the file should go
    with pytest.raises(UserError, match="the result is saved in") as caught:
        save_result_safely(blocked, {"status": "complete", "value": 3})
    fallback = Path(str(caught.value).split("the result is saved in ")[1].split(" instead")[0])
    assert load_result(fallback)["value"] == 3
    fallback.unlink()


def test_header_reads_status_and_params(tmp_path):
    path = tmp_path / "r.npz"
    save_result(path, {"status": "diverged", "params": {"n_train": 5}, "big": np.zeros(10)})
    assert load_result_header(path) == {"status": "diverged", "params": {"n_train": 5}}


def test_text_and_npy_files_are_not_results(tmp_path):
    text = tmp_path / "notes.npz"
    text.write_text("hello")
    with pytest.raises(ResultFileError) as caught:
        load_result(text)
    assert "allow_pickle" not in str(caught.value)
    array_file = tmp_path / "array.npy"
    np.save(array_file, np.zeros(3))
    with pytest.raises(ResultFileError, match="a .npy array, not an archive"):
        load_result(array_file)
