"""Shared test helpers: the project folder on sys.path and a runner for the entry-point scripts."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))


def run_script(script, *arguments, timeout=600, env=None):
    """Run a top-level script of the project as a subprocess with the Agg backend; return the CompletedProcess."""
    environment = dict(os.environ)
    environment["MPLBACKEND"] = "Agg"
    environment.pop("SLURM_ARRAY_TASK_ID", None)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / script), *map(str, arguments)],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def project_root():
    return PROJECT_ROOT
