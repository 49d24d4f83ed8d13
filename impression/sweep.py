"""Run a parameter sweep: several array indices of one mode, each as its own process.

A sweep is the local counterpart of a SLURM array job. Every array index
runs as ``python impression_learning.py --mode MODE --array-num I ...``
(or ``il_backprop.py`` for the backprop control), at most ``jobs`` at a
time. A task whose result file already exists is skipped,
so rerunning a sweep that failed or was interrupted runs only the missing
tasks. Result files are written atomically (``impression.storage``), so a
killed task leaves no partial result behind.

Command line (the same functions back ``impression_learning.py --array``):

    python -m impression.sweep run --mode switch_period --array 1-11 --jobs 2 --n_train=100000
    python -m impression.sweep result-exists --mode standard --array-num 3 --n_train=2000

``result-exists`` prints the run's result file path (``--script
il_backprop.py`` for the backprop control). It exits 0 when that file
exists and was computed with the same parameters, 1 when it does not
exist, 3 when it exists with other parameters and 2 on invalid input.
slurm/il_array.sbatch calls it to skip the finished tasks of a requeued or
resubmitted array.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from impression import PROJECT_ROOT
from impression.config import (
    StoreOnce,
    array_num_from_environment,
    build_parser,
    load_param_module,
    resolve_params,
    split_overrides,
)
from impression.errors import ConfigError, UserError
from impression.progress import configure_logging, log
from impression.storage import format_differences, load_result_header, parameter_differences, run_result_path

ENTRY_POINT = PROJECT_ROOT / "impression_learning.py"


def resolve_backprop(mode, array_num=None, seed=None, overrides=None, module=None):
    """Resolve the parameters of one backprop-control run (module is ignored: il_exp_params_bp is read)."""
    from impression.backprop import resolve_backprop_params

    return resolve_backprop_params(mode, array_num, seed, overrides)


# Entry-point script -> (its parameter module, the function that resolves one run's parameters).
SCRIPTS = {
    "impression_learning.py": ("il_exp_params", resolve_params),
    "il_backprop.py": ("il_exp_params_bp", resolve_backprop),
}

# Thread pools of the numerical libraries. Each task gets one thread unless
# the user set a value, so `jobs` parallel tasks use about `jobs` cores.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

# Seconds that running tasks get to exit after SIGTERM before they are killed.
TERMINATE_GRACE_S = 10.0
POLL_INTERVAL_S = 0.1

_RANGE_ITEM = re.compile(r"(\d+)\s*-\s*(\d+)")


# ---------------------------------------------------------------------------
# Array index specifications
# ---------------------------------------------------------------------------


def parse_array_spec(spec, mode, module=None):
    """Parse an array specification such as '1-11', '1,3,5', '1-3,7' or '4'.

    Returns the indices in ascending order. An index listed twice, as in
    '1-5,3', runs once. Raises ConfigError naming the invalid item and the
    mode's valid range for an unknown mode, an empty or malformed item, a
    reversed range, or an index outside ``ARRAY_RANGE[mode]`` of
    il_exp_params.py (indices start at 1). An index that the mode rejects
    (``array_params`` raises ValueError) raises ConfigError too.
    """
    module = module or load_param_module()
    if mode not in module.ARRAY_RANGE:
        raise ConfigError(f"unknown mode {mode!r}; expected one of {', '.join(module.ARRAY_RANGE)}")
    low, high = module.ARRAY_RANGE[mode]
    valid = f"valid: {low}-{high}"

    text = str(spec).strip()
    if not text:
        raise ConfigError(f"empty array specification for mode {mode!r}; {valid}, for example --array {low}-{high}")

    indices = set()
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise ConfigError(f"empty item in array specification {text!r} (check the commas); {valid}")
        indices.update(_parse_array_item(item, mode, low, high))

    for index in sorted(indices):
        try:
            module.array_params(mode, index)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    return sorted(indices)


def _parse_array_item(item, mode, low, high):
    """Return the indices of one comma-separated item: 'N' or 'A-B'."""
    valid = f"valid: {low}-{high}"
    if item.isdigit():
        first = last = int(item)
    else:
        match = _RANGE_ITEM.fullmatch(item)
        if match is None:
            if re.fullmatch(r"-\s*\d+", item):
                raise ConfigError(f"array index {item} is negative; array indices start at 1 ({valid})")
            raise ConfigError(
                f"invalid array item {item!r}; expected an index such as 4 or a range such as 1-11 ({valid})"
            )
        first, last = int(match.group(1)), int(match.group(2))
        if first > last:
            raise ConfigError(f"array range {item!r} is reversed; write it as {last}-{first} ({valid})")
    for index in (first, last):
        if not low <= index <= high:
            raise ConfigError(f"array index {index} is out of range for mode {mode!r}; {valid}")
    return range(first, last + 1)


# ---------------------------------------------------------------------------
# Running a sweep
# ---------------------------------------------------------------------------


@dataclass
class Task:
    """One array index of a sweep and what is known about its process."""

    array_num: int
    result_file: Path
    log_file: Path
    process: subprocess.Popen = None
    started_at: float = 0.0  # time.monotonic() at the start
    started_wall: float = 0.0  # time.time() at the start, to tell a new result file from an old one
    elapsed_s: float = 0.0
    returncode: int = None
    failure: str = ""
    status: str = ""  # status of the task's result file: 'complete' or 'diverged'


@dataclass
class SweepState:
    """Tasks of a sweep grouped by outcome."""

    pending: list = field(default_factory=list)
    running: list = field(default_factory=list)
    done: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    diverged: list = field(default_factory=list)  # ran and saved a result whose training diverged
    failed: list = field(default_factory=list)
    interrupted: list = field(default_factory=list)


def child_environment(base=None):
    """Return the environment of a task: base (os.environ) with the thread pools pinned to 1 when unset."""
    environment = dict(os.environ if base is None else base)
    for name in THREAD_VARIABLES:
        if not environment.get(name):
            environment[name] = "1"
    # Log lines reach the task's log file as they are written.
    environment["PYTHONUNBUFFERED"] = "1"
    return environment


def task_command(mode, array_num, passthrough_args, seed=None, entry_point=None):
    """Return the argument list that runs one array index of mode."""
    command = [sys.executable, str(entry_point or ENTRY_POINT), "--mode", mode, "--array-num", str(array_num)]
    if seed is not None:
        command += ["--seed", str(seed)]
    return command + list(passthrough_args)


def plan_tasks(mode, indices, overwrite, passthrough_args, seed=None, module=None, resolve=resolve_params):
    """Resolve every index's parameters and result file, and split the indices into pending and skipped.

    Raises ConfigError for invalid overrides before any task starts.
    """
    module = module or load_param_module()
    overrides = split_overrides(passthrough_args)
    state = SweepState()
    stale = []
    for array_num in indices:
        params = resolve(mode, array_num, seed, overrides, module)
        result_file = run_result_path(params)
        log_file = Path(params["data_dir"]) / "logs" / f"{result_file.stem}.log"
        task = Task(array_num, result_file, log_file)
        if overwrite or not result_file.is_file():
            state.pending.append(task)
            continue
        header = load_result_header(result_file)
        differences = parameter_differences(header["params"], params)
        if differences:
            stale.append(f"{result_file.name}: {format_differences(differences)}")
            continue
        task.status = header["status"]
        state.skipped.append(task)
    if stale:
        raise ConfigError(
            f"{len(stale)} result files in {Path(params['data_dir'])} were computed with other parameters "
            f"({'; '.join(stale[:3])}{'; ...' if len(stale) > 3 else ''}); rerun with --overwrite to replace them "
            "(the old files move to replaced/), or pass another --data_dir to keep both"
        )
    return state


def run_sweep(
    mode, indices, jobs, overwrite, passthrough_args, seed=None, entry_point=None, module=None, resolve=resolve_params
):
    """Run the array indices of mode as subprocesses, at most jobs at a time, and return the exit status.

    passthrough_args are the '--key=value' overrides given to every task.
    A task whose result file exists is skipped unless overwrite is true;
    when that file was computed with other parameters the sweep raises
    ConfigError before any task starts.
    Each task's stdout and stderr go to ``<data_dir>/logs/<result stem>.log``.
    A failed task does not stop the others. A task whose training diverged
    saved its result and counts as 'diverged', not failed. Returns 0 when
    no task failed, 1 when any failed, and 128 + the signal
    number after SIGINT or SIGTERM, which terminate the running tasks.
    entry_point replaces impression_learning.py (il_backprop.py runs the
    backprop control, with resolve=resolve_backprop and its parameter
    module). Raises ConfigError for invalid input before any task starts.
    """
    configure_logging()
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"--jobs {jobs!r}: invalid value, expected a positive integer")
    if not indices:
        raise ConfigError(f"no array indices to run for mode {mode!r}")
    state = plan_tasks(mode, indices, overwrite, passthrough_args, seed, module, resolve)
    total = len(state.pending)
    log.info(
        "sweep %s: %d tasks to run, %d skipped (result exists), %d at a time",
        mode,
        total,
        len(state.skipped),
        jobs,
    )
    environment = child_environment()
    started_at = time.monotonic()

    with _StopSignals() as stop:
        try:
            while (state.pending or state.running) and stop.signum is None:
                while state.pending and len(state.running) < jobs and stop.signum is None:
                    _start_task(state.pending.pop(0), mode, passthrough_args, seed, entry_point, environment, state)
                _collect_finished(state, total, started_at)
                if state.running:
                    time.sleep(POLL_INTERVAL_S)
        except BaseException:
            # The tasks run in their own sessions, so nothing else stops them.
            _terminate_running(state)
            raise
        if stop.signum is not None:
            log.error(
                "sweep %s: received %s; terminating %d running tasks",
                mode,
                _signal_name(stop.signum),
                len(state.running),
            )
            _terminate_running(state)
            _log_summary(mode, state, interrupted=True)
            return 128 + stop.signum

    _log_summary(mode, state, interrupted=False)
    return 1 if state.failed else 0


def _start_task(task, mode, passthrough_args, seed, entry_point, environment, state):
    command = task_command(mode, task.array_num, passthrough_args, seed, entry_point)
    try:
        task.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(task.log_file, "wb") as log_stream:
            log_stream.write(f"$ {' '.join(command)}\n".encode())
            log_stream.flush()
            # A new session keeps a terminal's Ctrl-C away from the tasks, so
            # the sweep alone decides how they stop.
            task.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log_stream,
                stderr=subprocess.STDOUT,
                env=environment,
                start_new_session=True,
            )
    except OSError as error:
        task.failure = f"failed to start: {error}"
        state.failed.append(task)
        log.error("array %d %s", task.array_num, task.failure)
        return
    task.started_at = time.monotonic()
    task.started_wall = time.time()
    state.running.append(task)


def _collect_finished(state, total, sweep_started_at):
    for task in list(state.running):
        returncode = task.process.poll()
        if returncode is None:
            continue
        state.running.remove(task)
        task.returncode = returncode
        task.elapsed_s = time.monotonic() - task.started_at
        task.status = _new_result_status(task)
        if task.status == "diverged":
            # the run saved its result and exited 2: a finding (a rate too high), not a crash
            state.diverged.append(task)
            log.warning("array %d diverged; its result is saved in %s", task.array_num, task.result_file)
        else:
            if returncode < 0:
                task.failure = f"killed by {_signal_name(-returncode)}"
            elif returncode != 0:
                task.failure = f"exit status {returncode}"
            elif task.status != "complete":
                task.failure = f"exit status 0 but no new result file {task.result_file}"
            if task.failure:
                state.failed.append(task)
                log.error("array %d failed (%s); log: %s", task.array_num, task.failure, task.log_file)
            else:
                state.done.append(task)
        _log_progress(state, total, sweep_started_at, task)


def _new_result_status(task):
    """Return the status of the result file the task wrote, or '' when it wrote none (or an unreadable one)."""
    try:
        if task.result_file.stat().st_mtime < task.started_wall:
            return ""
        return load_result_header(task.result_file)["status"] or ""
    except (OSError, UserError):
        return ""


def _signal_name(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _log_progress(state, total, sweep_started_at, task):
    finished = len(state.done) + len(state.diverged) + len(state.failed)
    elapsed = time.monotonic() - sweep_started_at
    rate = finished / elapsed if elapsed > 0 else 0.0
    remaining = total - finished
    eta = _format_duration(remaining / rate) if rate > 0 and remaining else "0s"
    if task.failure:
        outcome = "failed"
    elif task.status == "diverged":
        outcome = "diverged"
    else:
        outcome = "done"
    log.info(
        "[%d/%d] array %d %s in %s; %.2f tasks/min, ETA %s",
        finished,
        total,
        task.array_num,
        outcome,
        _format_duration(task.elapsed_s),
        rate * 60.0,
        eta,
    )


def _format_duration(seconds):
    if seconds < 10:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{seconds:02d}s"
    return f"{seconds}s"


def _terminate_running(state):
    """Send SIGTERM to every running task, then SIGKILL to those still running after TERMINATE_GRACE_S."""
    for task in state.running:
        _signal_task(task, signal.SIGTERM)
    deadline = time.monotonic() + TERMINATE_GRACE_S
    for task in state.running:
        try:
            task.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("array %d did not exit %.0f s after SIGTERM; sending SIGKILL", task.array_num, TERMINATE_GRACE_S)
            _signal_task(task, signal.SIGKILL)
            task.process.wait()
        task.returncode = task.process.returncode
    state.interrupted.extend(state.running)
    state.running.clear()


def _signal_task(task, signum):
    # Each task leads its own process group, so this also reaches any
    # processes that the task started.
    try:
        os.killpg(task.process.pid, signum)
    except ProcessLookupError:
        pass


def _log_summary(mode, state, interrupted):
    skipped_diverged = [task.array_num for task in state.skipped if task.status == "diverged"]
    log.info(
        "sweep %s %s: %d done, %d diverged, %d skipped (result exists%s), %d failed, %d interrupted, %d not started",
        mode,
        "interrupted" if interrupted else "finished",
        len(state.done),
        len(state.diverged),
        len(state.skipped),
        f"; {len(skipped_diverged)} of them diverged" if skipped_diverged else "",
        len(state.failed),
        len(state.interrupted),
        len(state.pending),
    )
    diverged = sorted([task.array_num for task in state.diverged] + skipped_diverged)
    if diverged:
        log.warning("diverged (result saved, training stopped early): array %s", ", ".join(map(str, diverged)))
    for task in state.failed:
        log.error("failed: array %d (%s); log: %s", task.array_num, task.failure, task.log_file)
        last_line = _last_line(task.log_file)
        if last_line:
            log.error("  last log line: %s", last_line)
    if state.failed or state.interrupted or state.pending:
        log.info("rerun the same command to run only the tasks without a result file")


def _last_line(path):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if line.strip():
            return line.strip()[-300:]
    return ""


class _StopSignals:
    """Context manager that records SIGINT or SIGTERM in .signum instead of stopping the sweep at once.

    The sweep loop checks .signum, so a signal never lands between starting
    a task and recording it. Outside the main thread, where Python cannot
    install signal handlers, it records nothing.
    """

    def __enter__(self):
        self.signum = None
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self.previous[signum] = signal.signal(signum, self._record)
        return self

    def __exit__(self, *exc_info):
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        return False

    def _record(self, signum, frame):
        if self.signum is None:
            self.signum = signum


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def available_cpus():
    """Return the number of CPUs this process may run on (its affinity mask, else all CPUs)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def add_sweep_arguments(parser):
    """Add --array, --jobs and --overwrite to an argparse parser."""
    parser.add_argument(
        "--array",
        metavar="SPEC",
        action=StoreOnce,
        help="run these array indices as a local sweep, e.g. 1-11, 1,3,5 or 1-3,7; each index runs as its own process",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        action=StoreOnce,
        help="maximum number of sweep tasks running at once; "
        f"default: the CPUs this process may use ({available_cpus()})",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="rerun sweep tasks whose result file already exists instead of skipping them",
    )
    return parser


def report_existing_result(params):
    """Print the run's result file path; return 0 if it exists with these params, 1 if missing, 3 if it differs."""
    path = run_result_path(params)
    print(path)
    if not path.is_file():
        return 1
    differences = parameter_differences(load_result_header(path)["params"], params)
    if differences:
        print(
            f"error: {path} was computed with other parameters ({format_differences(differences)}); "
            "delete or move it to rerun, or pass another --data_dir",
            file=sys.stderr,
        )
        return 3
    return 0


def check_sweep_arguments(args):
    """Raise ConfigError for sweep options given without --array, or --array with --array-num; fill in --jobs."""
    if args.array is None:
        sweep_options = []
        if args.jobs is not None:
            sweep_options.append("--jobs")
        if args.overwrite:
            sweep_options.append("--overwrite")
        if sweep_options:
            verb = "apply" if len(sweep_options) > 1 else "applies"
            raise ConfigError(
                f"{' and '.join(sweep_options)} {verb} to a sweep only; add --array SPEC, for example --array 1-11"
            )
        return
    if getattr(args, "array_num", None) is not None:
        raise ConfigError("--array-num selects one run and --array a sweep; pass only one of them")
    if args.jobs is None:
        args.jobs = available_cpus()


def main(argv=None):
    """Run the 'run' or 'result-exists' command and return its exit status."""
    configure_logging()
    parser = argparse.ArgumentParser(prog="python -m impression.sweep", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run",
        help="run several array indices of one mode in parallel processes",
        parents=[build_parser("")],
        add_help=False,
    )
    add_sweep_arguments(run_parser)
    exists_parser = commands.add_parser(
        "result-exists",
        help="exit 0 when the result file of one run exists, 1 when it does not",
        parents=[build_parser("")],
        add_help=False,
    )
    for subparser in (run_parser, exists_parser):
        subparser.add_argument(
            "--script",
            choices=sorted(SCRIPTS),
            default="impression_learning.py",
            help="entry point whose runs these are; default: %(default)s",
        )
    args, rest = parser.parse_known_args(argv)
    try:
        module_name, resolve = SCRIPTS[args.script]
        module = load_param_module(module_name)
        mode = args.mode or module.mode
        if args.command == "result-exists":
            array_num = array_num_from_environment(args.array_num)
            params = resolve(mode, array_num, args.seed, split_overrides(rest), module)
            return report_existing_result(params)
        if args.array is None:
            raise ConfigError("missing --array SPEC, for example --array 1-11")
        check_sweep_arguments(args)
        indices = parse_array_spec(args.array, mode, module)
        return run_sweep(
            mode, indices, args.jobs, args.overwrite, rest, args.seed, PROJECT_ROOT / args.script, module, resolve
        )
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
