"""Time il_fsdd_preprocessing.py on the full FSDD recordings folder, as a user would run it.

    python benchmarks/bench_fsdd_preprocessing.py                  # the script's default folder, 2 processes
    python benchmarks/bench_fsdd_preprocessing.py RECORDINGS --jobs 2

Starts the script as a fresh process with --jobs 2 (or --jobs N), writing into a
temporary folder that is deleted afterwards. The wall time includes the interpreter
start and the imports of librosa and numba. Prints the wall time beside the target
(at most 60 s on 2 cores for the 3,000 FSDD recordings), the files per second, the
script's own decoding time, and the recordings and frames of both sets.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from il_fsdd_preprocessing import resolve_recordings_folder  # noqa: E402
from impression.errors import UserError  # noqa: E402
from impression.storage import load_result  # noqa: E402

TARGET_SECONDS = 60  # wall time for the 3,000 FSDD recordings on 2 cores
# The log line of impression.fsdd.decode_recordings, for example 'decoded 3000 recordings in 9.1 s'.
DECODED_PATTERN = re.compile(r"decoded (\d+) recordings? in ([0-9.]+) s")


def run_preprocessing(folder, output, jobs):
    """Run il_fsdd_preprocessing.py in a fresh interpreter; return (wall seconds, CompletedProcess)."""
    command = [sys.executable, str(ROOT / "il_fsdd_preprocessing.py"), str(folder)]
    command += ["--output", str(output), "--jobs", str(jobs)]
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return time.perf_counter() - started, completed


def print_report(seconds, stderr, dataset):
    """Print the wall time against the target, the throughput and the size of both sets."""
    n_files = sum(dataset[name]["file_name"].size for name in ("train", "test"))
    verdict = "within" if seconds <= TARGET_SECONDS else "over"
    print(f"wall time     {seconds:7.1f} s ({verdict} the target of {TARGET_SECONDS} s on 2 cores)")
    print(f"throughput    {n_files / seconds:7.0f} files/s over the wall time, {n_files} files")
    decoded = DECODED_PATTERN.search(stderr)
    if decoded:
        print(f"decoding      {float(decoded.group(2)):7.1f} s, as the script logs it")
    for name in ("train", "test"):
        dataset_set = dataset[name]
        n_frames, n_bands = dataset_set["spectrogram_db"].shape
        print(f"{name:5s} set     {dataset_set['file_name'].size:7d} files, {n_frames} frames x {n_bands} mel bands")
    print(f"skipped files {len(dataset['skipped_files']):7d}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "recordings", nargs="?", type=Path, help="FSDD recordings folder; default: the script's default folder"
    )
    parser.add_argument("--jobs", type=int, default=2, help="decoding processes of the script (default 2)")
    args = parser.parse_args()
    try:
        folder = resolve_recordings_folder(args.recordings)
    except UserError as error:
        sys.exit(f"error: {error}")

    n_cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {n_cpus} CPUs available; {args.jobs} decoding processes; recordings: {folder}")
    with tempfile.TemporaryDirectory() as scratch:
        output = Path(scratch) / "fsdd_spectrograms.npz"
        seconds, completed = run_preprocessing(folder, output, args.jobs)
        if completed.returncode != 0:
            print(
                f"il_fsdd_preprocessing.py exited {completed.returncode} after {seconds:.1f} s. Last lines of its log:"
            )
            print("\n".join(completed.stderr.splitlines()[-5:]))
            sys.exit(1)
        print_report(seconds, completed.stderr, load_result(output))


if __name__ == "__main__":
    main()
