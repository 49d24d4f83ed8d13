"""Local parameter sweeps: array specifications, skipping, failures, resuming and signals.

The sweeps run real subprocesses, mostly impression_learning.py at a tiny
scale. Where a test needs a slow task or one that records its environment,
which the real entry point cannot provide, it runs a short script written
into the test's tmp folder.
"""

import logging
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from impression import PROJECT_ROOT
from impression.config import load_param_module, resolve_params
from impression.errors import ConfigError
from impression.storage import load_result, result_path, save_result
from impression.sweep import (
    THREAD_VARIABLES,
    add_sweep_arguments,
    available_cpus,
    check_sweep_arguments,
    child_environment,
    parse_array_spec,
    report_existing_result,
    run_sweep,
)

TINY = ["--n_train=2000", "--n_test=500"]


@pytest.fixture(scope="module")
def params_module():
    return load_param_module()


def tiny_args(data_dir):
    return [*TINY, f"--data_dir={data_dir}"]


def run_sweep_process(*arguments, timeout=120):
    """Run `python -m impression.sweep run ...` and return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "impression.sweep", "run", *map(str, arguments)],
        cwd=PROJECT_ROOT,
        env=sweep_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def sweep_environment():
    environment = dict(os.environ)
    environment.pop("SLURM_ARRAY_TASK_ID", None)
    return environment


def modification_times(paths):
    return {path: path.stat().st_mtime_ns for path in paths}


def fake_entry_point(folder):
    """Write a stand-in for impression_learning.py that writes the same result file.

    It appends its array index to started.txt, stores the thread variables
    of its environment in the result and sleeps FAKE_SLEEP_S seconds. When
    its index is in FAKE_NO_RESULT it exits 0 without a result file, when
    its index is in FAKE_SELF_KILL it kills itself with SIGKILL, and when
    its index is in FAKE_DIVERGE it saves a result with status 'diverged'
    and exits 2, as a diverging run does.
    """
    script = folder / "fake_entry_point.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import argparse, os, sys, time
            sys.path.insert(0, {str(PROJECT_ROOT)!r})
            from impression.config import resolve_params, split_overrides
            from impression.storage import result_path, save_result

            parser = argparse.ArgumentParser()
            parser.add_argument("--mode")
            parser.add_argument("--array-num", type=int)
            parser.add_argument("--seed", type=int)
            args, rest = parser.parse_known_args()
            params = resolve_params(args.mode, args.array_num, args.seed, split_overrides(rest))
            with open({str(folder / "started.txt")!r}, "a") as stream:
                stream.write(f"{{args.array_num}} {{time.time()}}\\n")
            time.sleep(float(os.environ.get("FAKE_SLEEP_S", "0")))
            if str(args.array_num) in os.environ.get("FAKE_NO_RESULT", "").split(","):
                sys.exit(0)
            if str(args.array_num) in os.environ.get("FAKE_SELF_KILL", "").split(","):
                os.kill(os.getpid(), 9)
            threads = {{name: os.environ.get(name) for name in {list(THREAD_VARIABLES)!r}}}
            path = result_path(params["data_dir"], args.mode, args.array_num, params["seed"])
            diverge = str(args.array_num) in os.environ.get("FAKE_DIVERGE", "").split(",")
            status = "diverged" if diverge else "complete"
            result = {{"status": status, "params": params, "array_num": args.array_num, "threads": threads}}
            save_result(path, dict(result, end=time.time()))
            sys.exit(2 if diverge else 0)
            """
        )
    )
    return script


def started_indices(folder):
    lines = (folder / "started.txt").read_text().splitlines() if (folder / "started.txt").exists() else []
    return sorted(int(line.split()[0]) for line in lines)


# ---------------------------------------------------------------------------
# parse_array_spec
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("1-11", list(range(1, 12))),
        ("1,3,5", [1, 3, 5]),
        ("1-3,7", [1, 2, 3, 7]),
        ("4", [4]),
        (" 2 - 4 , 9 ", [2, 3, 4, 9]),
        ("7,1-2", [1, 2, 7]),
        ("1-5,3", [1, 2, 3, 4, 5]),
        ("11-11", [11]),
    ],
)
def test_parse_array_spec_valid(spec, expected, params_module):
    assert parse_array_spec(spec, "switch_period", params_module) == expected


@pytest.mark.parametrize(
    "spec, message_part",
    [
        ("0", "array index 0 is out of range for mode 'switch_period'"),
        ("12", "array index 12 is out of range for mode 'switch_period'"),
        ("1-12", "array index 12 is out of range"),
        ("0-3", "array index 0 is out of range"),
        ("-3", "array index -3 is negative"),
        ("5-3", "array range '5-3' is reversed; write it as 3-5"),
        ("abc", "invalid array item 'abc'"),
        ("1-3-5", "invalid array item '1-3-5'"),
        ("1.5", "invalid array item '1.5'"),
        ("1,,3", "empty item"),
        ("", "empty array specification"),
    ],
)
def test_parse_array_spec_invalid(spec, message_part, params_module):
    with pytest.raises(ConfigError) as caught:
        parse_array_spec(spec, "switch_period", params_module)
    assert message_part in str(caught.value)
    assert "valid: 1-11" in str(caught.value)


def test_parse_array_spec_unknown_mode(params_module):
    with pytest.raises(ConfigError, match="unknown mode 'nope'"):
        parse_array_spec("1", "nope", params_module)


def test_parse_array_spec_rejected_index(params_module):
    # Vocal_Digits index 2 is in ARRAY_RANGE but array_params rejects it.
    with pytest.raises(ConfigError, match="Vocal_Digits array index 2"):
        parse_array_spec("1-3", "Vocal_Digits", params_module)
    assert parse_array_spec("1,3-4", "Vocal_Digits", params_module) == [1, 3, 4]


def test_add_sweep_arguments_defaults():
    import argparse

    parser = add_sweep_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--array", "1-3", "--jobs", "2"])
    assert args.array == "1-3"
    assert args.jobs == 2
    assert args.overwrite is False
    defaults = parser.parse_args(["--array", "1-3"])
    check_sweep_arguments(defaults)
    assert defaults.jobs == available_cpus()
    with pytest.raises(ConfigError, match="--jobs and --overwrite apply to a sweep only"):
        check_sweep_arguments(parser.parse_args(["--jobs", "2", "--overwrite"]))
    with pytest.raises(ConfigError, match="--jobs applies to a sweep only"):
        check_sweep_arguments(parser.parse_args(["--jobs", "0"]))


# ---------------------------------------------------------------------------
# Up-front validation and environment
# ---------------------------------------------------------------------------


def test_run_sweep_rejects_bad_override(tmp_path):
    with pytest.raises(ConfigError, match="--n_train=abc"):
        run_sweep("standard", [1, 2], 2, False, ["--n_train=abc", f"--data_dir={tmp_path}"])
    assert not (tmp_path / "logs").exists()


@pytest.mark.parametrize("jobs", [0, -1, 1.5])
def test_run_sweep_rejects_bad_jobs(jobs, tmp_path):
    with pytest.raises(ConfigError, match="--jobs"):
        run_sweep("standard", [1], jobs, False, [f"--data_dir={tmp_path}"])


def test_child_environment_pins_threads():
    environment = child_environment({"PATH": "/bin", "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": ""})
    assert environment["OMP_NUM_THREADS"] == "4"
    assert environment["MKL_NUM_THREADS"] == "1"
    assert environment["OPENBLAS_NUM_THREADS"] == "1"
    assert environment["NUMBA_NUM_THREADS"] == "1"
    assert environment["PATH"] == "/bin"


def test_existing_result_follows_overrides(tmp_path, capsys):
    params = resolve_params("standard", 3, overrides={"data_dir": str(tmp_path)})
    assert report_existing_result(params) == 1
    save_result(result_path(tmp_path, "standard", 3, 3), {"status": "complete", "params": params})
    assert report_existing_result(params) == 0
    other_seed = resolve_params("standard", 3, seed=9, overrides={"data_dir": str(tmp_path)})
    assert report_existing_result(other_seed) == 1
    assert capsys.readouterr().out.splitlines()[-1] == str(tmp_path / "standard_array3_seed9.npz")


def test_result_exists_command_exit_status(tmp_path):
    command = [sys.executable, "-m", "impression.sweep", "result-exists", "--mode", "standard"]
    arguments = ["--array-num", "2", f"--data_dir={tmp_path}"]
    missing = subprocess.run(command + arguments, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert missing.returncode == 1
    assert missing.stdout.strip() == str(tmp_path / "standard_array2_seed2.npz")

    path = tmp_path / "standard_array2_seed2.npz"
    path.write_bytes(b"")
    corrupt = subprocess.run(command + arguments, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert corrupt.returncode == 2
    assert str(path) in corrupt.stderr

    params = resolve_params("standard", 2, overrides={"data_dir": str(tmp_path)})
    save_result(path, {"status": "complete", "params": params})
    present = subprocess.run(command + arguments, cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert present.returncode == 0

    other = subprocess.run(command + arguments + ["--n_train=5000"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert other.returncode == 3
    assert "n_train 2000000 (file) vs 5000 (requested)" in other.stderr

    invalid = subprocess.run(command + arguments + ["--eta=x"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert invalid.returncode == 2
    assert invalid.stderr.startswith("error: --eta=x")


# ---------------------------------------------------------------------------
# Runner logic on a stand-in entry point
# ---------------------------------------------------------------------------


def test_sweep_limits_parallel_tasks(tmp_path, monkeypatch):
    script = fake_entry_point(tmp_path)
    monkeypatch.setenv("FAKE_SLEEP_S", "0.6")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    data_dir = tmp_path / "data"

    status = run_sweep("standard", [1, 2, 3, 4, 5], 2, False, [f"--data_dir={data_dir}"], entry_point=script)

    assert status == 0
    assert started_indices(tmp_path) == [1, 2, 3, 4, 5]
    starts = sorted(float(line.split()[1]) for line in (tmp_path / "started.txt").read_text().splitlines())
    ends = sorted(load_result(result_path(data_dir, "standard", i, i))["end"] for i in range(1, 6))
    # A third task can start only after one of the first two ended.
    assert starts[2] >= ends[0] - 0.05
    threads = load_result(result_path(data_dir, "standard", 1, 1))["threads"]
    assert threads["OMP_NUM_THREADS"] == "1"
    assert threads["NUMBA_NUM_THREADS"] == "1"
    assert threads["MKL_NUM_THREADS"] == "3"


def test_sweep_counts_missing_result_as_failure(tmp_path, monkeypatch):
    script = fake_entry_point(tmp_path)
    monkeypatch.setenv("FAKE_NO_RESULT", "2")
    data_dir = tmp_path / "data"

    status = run_sweep("standard", [1, 2, 3], 3, False, [f"--data_dir={data_dir}"], entry_point=script)

    assert status == 1
    assert result_path(data_dir, "standard", 1, 1).is_file()
    assert not result_path(data_dir, "standard", 2, 2).exists()
    assert result_path(data_dir, "standard", 3, 3).is_file()


def test_sweep_counts_killed_task_as_failure(tmp_path, monkeypatch):
    script = fake_entry_point(tmp_path)
    monkeypatch.setenv("FAKE_SELF_KILL", "1")
    data_dir = tmp_path / "data"

    status = run_sweep("standard", [1, 2], 2, False, [f"--data_dir={data_dir}"], entry_point=script)

    assert status == 1
    assert not result_path(data_dir, "standard", 1, 1).exists()
    assert result_path(data_dir, "standard", 2, 2).is_file()


def test_sweep_log_folder_unwritable(tmp_path):
    script = fake_entry_point(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "logs").write_text("a file where the log folder belongs")

    status = run_sweep("standard", [1, 2], 2, False, [f"--data_dir={data_dir}"], entry_point=script)

    assert status == 1
    assert started_indices(tmp_path) == []


def test_sweep_seed_passed_to_every_task(tmp_path):
    script = fake_entry_point(tmp_path)
    data_dir = tmp_path / "data"

    status = run_sweep("switch_period", [1, 2], 2, False, [f"--data_dir={data_dir}"], seed=7, entry_point=script)

    assert status == 0
    assert result_path(data_dir, "switch_period", 1, 7).is_file()
    assert result_path(data_dir, "switch_period", 2, 7).is_file()
    assert (data_dir / "logs" / "switch_period_array2_seed7.log").is_file()


# ---------------------------------------------------------------------------
# Real sweeps through impression_learning.py
# ---------------------------------------------------------------------------


def test_sweep_failure_then_resume(tmp_path):
    data_dir = tmp_path / "data"
    results = {i: result_path(data_dir, "standard", i, i) for i in (1, 2, 3, 4)}
    # Task 1 is finished already. A folder in place of task 3's result file
    # makes its atomic rename fail, a real failure of the real program.
    data_dir.mkdir()
    first = run_sweep_process("--mode", "standard", "--array", "1", "--jobs", "1", *tiny_args(data_dir))
    assert first.returncode == 0, first.stderr
    results[3].mkdir()
    before = modification_times([results[1]])

    failed = run_sweep_process("--mode", "standard", "--array", "1-4", "--jobs", "2", *tiny_args(data_dir))

    assert failed.returncode == 1, failed.stderr
    assert "3 tasks to run, 1 skipped" in failed.stderr
    assert "1 failed" in failed.stderr
    log_file = data_dir / "logs" / "standard_array3_seed3.log"
    assert f"failed: array 3 (exit status 2); log: {log_file}" in failed.stderr
    # the finished run is not lost: it went to the temporary folder, which the log names
    fallback = Path(tempfile.gettempdir()) / "impression-unsaved" / "standard_array3_seed3.npz"
    assert f"failed to write {results[3]}" in log_file.read_text()
    assert f"the result is saved in {fallback} instead" in log_file.read_text()
    assert load_result(fallback)["array_num"] == 3
    fallback.unlink()
    assert results[2].is_file()
    assert results[4].is_file()
    assert load_result(results[2])["seed"] == 2
    assert modification_times([results[1]]) == before

    results[3].rmdir()
    finished = modification_times([results[1], results[2], results[4]])
    rerun = run_sweep_process("--mode", "standard", "--array", "1-4", "--jobs", "2", *tiny_args(data_dir))

    assert rerun.returncode == 0, rerun.stderr
    assert "1 tasks to run, 3 skipped" in rerun.stderr
    assert "1 done, 0 diverged, 3 skipped (result exists), 0 failed" in rerun.stderr
    assert load_result(results[3])["array_num"] == 3
    assert modification_times([results[1], results[2], results[4]]) == finished

    overwrite = run_sweep_process(
        "--mode", "standard", "--array", "1,2", "--jobs", "2", "--overwrite", *tiny_args(data_dir)
    )
    assert overwrite.returncode == 0, overwrite.stderr
    assert "2 tasks to run, 0 skipped" in overwrite.stderr
    assert results[1].stat().st_mtime_ns > finished[results[1]]


def processes_mentioning(text):
    """Return the ids of running processes whose command line contains text."""
    matches = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command_line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command_line:
            matches.append(int(entry.name))
    return matches


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sweep_signal_then_resume(tmp_path, signum):
    data_dir = tmp_path / "data"
    results = [result_path(data_dir, "standard", i, i) for i in (1, 2, 3, 4)]
    arguments = ["--mode", "standard", "--array", "1-4", "--jobs", "1", "--n_train=20000", "--n_test=500"]
    arguments.append(f"--data_dir={data_dir}")
    sweep = subprocess.Popen(
        [sys.executable, "-m", "impression.sweep", "run", *map(str, arguments)],
        cwd=PROJECT_ROOT,
        env=sweep_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not results[0].exists() and time.monotonic() < deadline and sweep.poll() is None:
        time.sleep(0.05)
    assert results[0].exists(), "the first task did not finish within 60 s"
    sweep.send_signal(signum)
    _, stderr = sweep.communicate(timeout=30)

    assert sweep.returncode == 128 + signum, stderr
    assert f"received {signal.Signals(signum).name}" in stderr
    assert "1 interrupted" in stderr
    assert processes_mentioning(str(data_dir)) == []
    finished = [path for path in results if path.is_file()]
    assert 1 <= len(finished) < len(results)
    before = modification_times(finished)

    rerun = run_sweep_process(*arguments)

    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(results) - len(finished)} tasks to run, {len(finished)} skipped" in rerun.stderr
    assert all(path.is_file() for path in results)
    assert modification_times(finished) == before


def test_sweep_counts_diverged_runs_apart(tmp_path, monkeypatch, caplog):
    script = fake_entry_point(tmp_path)
    data_dir = tmp_path / "data"
    monkeypatch.setenv("FAKE_DIVERGE", "2")
    with caplog.at_level(logging.INFO, logger="impression"):
        status = run_sweep("standard", [1, 2, 3], 2, False, [f"--data_dir={data_dir}"], entry_point=script)
    assert status == 0
    assert "2 done, 1 diverged, 0 skipped (result exists), 0 failed" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="impression"):
        rerun = run_sweep("standard", [1, 2, 3], 2, False, [f"--data_dir={data_dir}"], entry_point=script)
    assert rerun == 0
    assert "3 skipped (result exists; 1 of them diverged)" in caplog.text
    assert "diverged (result saved, training stopped early): array 2" in caplog.text


def test_sweep_rejects_results_of_other_parameters(tmp_path):
    script = fake_entry_point(tmp_path)
    data_dir = tmp_path / "data"
    assert run_sweep("standard", [1, 2], 2, False, [f"--data_dir={data_dir}"], entry_point=script) == 0
    first = (data_dir / "standard_array1_seed1.npz").stat().st_mtime_ns
    (tmp_path / "started.txt").unlink()

    with pytest.raises(ConfigError, match="n_train 2000000 \\(file\\) vs 5000 \\(requested\\)"):
        run_sweep("standard", [1, 2], 2, False, ["--n_train=5000", f"--data_dir={data_dir}"], entry_point=script)
    assert not (tmp_path / "started.txt").exists()

    status = run_sweep("standard", [1, 2], 2, True, ["--n_train=5000", f"--data_dir={data_dir}"], entry_point=script)
    assert status == 0
    assert load_result(data_dir / "standard_array1_seed1.npz")["params"]["n_train"] == 5000
    assert (data_dir / "standard_array1_seed1.npz").stat().st_mtime_ns != first
