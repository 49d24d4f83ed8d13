"""Result files hold plain data only and are written atomically; parameters resolve as documented."""

import json
import os

import numpy as np
import pytest

from impression.config import parse_value, resolve_params, split_overrides
from impression.errors import ConfigError
from impression.storage import ResultFileError, load_result, save_result


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
