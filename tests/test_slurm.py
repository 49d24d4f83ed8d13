"""Integration test on a real SLURM cluster: a tiny array job through slurm/il_array.sbatch.

Needs sbatch, squeue and scontrol on PATH and a cluster that runs jobs
within a few seconds; .ci/slurm_up.sh starts a single-node one on
localhost. Outside such a cluster the tests are skipped. The jobs read and
write the test's tmp folder, so the user that slurmd runs jobs as (root
with .ci/slurm_up.sh) must be able to reach it.
"""

import os
import shutil
import subprocess
import sys
import time

import pytest

from impression import PROJECT_ROOT
from impression.storage import load_result, result_path

pytestmark = pytest.mark.skipif(
    shutil.which("sbatch") is None or os.environ.get("IL_SKIP_SLURM_TESTS") == "1",
    reason="sbatch is not on PATH (start a local cluster with .ci/slurm_up.sh) or IL_SKIP_SLURM_TESTS=1",
)

SBATCH_SCRIPT = PROJECT_ROOT / "slurm" / "il_array.sbatch"
INDICES = (1, 2, 3)
JOB_TIMEOUT_S = 180
TINY = ["--n_train=2000", "--n_test=500"]


def submit_array(data_dir, log_dir, mode="standard", script="impression_learning.py"):
    """Submit a tiny array of mode through the project's sbatch script and return its job id."""
    environment = dict(os.environ)
    environment.pop("SLURM_ARRAY_TASK_ID", None)
    environment["IL_PYTHON"] = sys.executable
    environment["IL_SCRIPT"] = script
    command = [
        "sbatch",
        "--parsable",
        f"--array={INDICES[0]}-{INDICES[-1]}",
        f"--output={log_dir}/%x_%A_%a.log",
        # The CI cluster tracks memory; 2 GB (the script's default) could
        # exceed a small runner's RealMemory.
        "--mem=500M",
        str(SBATCH_SCRIPT),
        mode,
        *TINY,
        f"--data_dir={data_dir}",
    ]
    submitted = subprocess.run(command, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True)
    assert submitted.returncode == 0, f"sbatch failed: {submitted.stderr}"
    return submitted.stdout.strip().split(";")[0]


def wait_for_job(job_id, timeout_s=JOB_TIMEOUT_S):
    """Poll squeue until no task of job_id is pending or running; fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        queue = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%i %T"], capture_output=True, text=True)
        if queue.returncode == 0 and not queue.stdout.strip():
            return
        time.sleep(0.5)
    nodes = subprocess.run(["sinfo", "-N", "-l"], capture_output=True, text=True).stdout
    pytest.fail(f"array job {job_id} did not finish within {timeout_s} s; squeue: {queue.stdout} sinfo:\n{nodes}")


def task_states(job_id):
    """Return {array task id: (JobState, ExitCode)} from scontrol for a finished array job."""
    job_info = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True, text=True)
    assert job_info.returncode == 0, f"scontrol show job {job_id} failed: {job_info.stderr}"
    states = {}
    for line in job_info.stdout.splitlines():
        fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
        if "ArrayTaskId" in fields:
            states[int(fields["ArrayTaskId"])] = (fields["JobState"], fields["ExitCode"])
    return states


def task_logs(log_dir, job_id):
    return {index: log_dir / f"impression_{job_id}_{index}.log" for index in INDICES}


def log_text(path):
    return path.read_text(errors="replace") if path.exists() else f"(no log at {path})"


def test_slurm_array_runs_then_skips(tmp_path):
    data_dir = tmp_path / "data"
    log_dir = tmp_path / "logs"
    figures_dir = tmp_path / "figures"
    log_dir.mkdir()
    results = {index: result_path(data_dir, "standard", index, index) for index in INDICES}

    started = time.monotonic()
    job_id = submit_array(data_dir, log_dir)
    wait_for_job(job_id)
    elapsed = time.monotonic() - started
    print(f"array job {job_id} of {len(INDICES)} tiny tasks finished in {elapsed:.1f} s")

    logs = task_logs(log_dir, job_id)
    states = task_states(job_id)
    for index in INDICES:
        assert states.get(index) == ("COMPLETED", "0:0"), f"task {index}: {states.get(index)}\n{log_text(logs[index])}"
        result = load_result(results[index])
        assert result["status"] == "complete"
        assert result["array_num"] == index
        assert result["seed"] == index
    finished = {index: results[index].stat().st_mtime_ns for index in INDICES}

    # A resubmitted array skips tasks whose result file exists.
    rerun_id = submit_array(data_dir, log_dir)
    wait_for_job(rerun_id)
    rerun_logs = task_logs(log_dir, rerun_id)
    rerun_states = task_states(rerun_id)
    for index in INDICES:
        assert rerun_states.get(index) == ("COMPLETED", "0:0"), log_text(rerun_logs[index])
        assert "exists; skipping" in log_text(rerun_logs[index])
        assert results[index].stat().st_mtime_ns == finished[index]

    plotted = subprocess.run(
        [
            sys.executable,
            str(PROJECT_ROOT / "il_plot_generator.py"),
            "--mode",
            "standard",
            f"--data_dir={data_dir}",
            f"--figures_dir={figures_dir}",
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "MPLBACKEND": "Agg"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert plotted.returncode == 0, plotted.stderr
    for suffix in ("png", "pdf"):
        assert (figures_dir / f"figure1.{suffix}").stat().st_size > 10_000


def test_slurm_array_runs_backprop_control(tmp_path):
    data_dir = tmp_path / "data"
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    job_id = submit_array(data_dir, log_dir, mode="dimensionality", script="il_backprop.py")
    wait_for_job(job_id)
    logs = task_logs(log_dir, job_id)
    states = task_states(job_id)
    for index in INDICES:
        assert states.get(index) == ("COMPLETED", "0:0"), f"task {index}: {states.get(index)}\n{log_text(logs[index])}"
        result = load_result(result_path(data_dir, "dimensionality", index, 1, tag="bp"))
        assert result["algorithm"] == "backprop"
        assert result["params"]["n_in"] == 2 ** (index + 1)
