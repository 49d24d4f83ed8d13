"""Progress display with rate and ETA for long loops, and the logging set-up of the entry points."""

import logging
import sys

from tqdm import tqdm

log = logging.getLogger("impression")


def configure_logging(level=logging.INFO):
    """Send the project's log lines to stderr with a time stamp, once per process."""
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False


def progress_bar(total, description, unit="step"):
    """Return a tqdm bar on stderr; when stderr is not a terminal (a SLURM log) it redraws every 30 s."""
    interactive = sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        # large counts as 1.2M steps; small ones as integers (20 snapshots, not 20.0)
        unit_scale=total >= 10_000,
        dynamic_ncols=True,
        mininterval=0.5 if interactive else 30.0,
        file=sys.stderr,
        leave=True,
    )


def plural(count, noun, plural_noun=None):
    """Return '1 seed', '2 seeds': count with noun in the singular for 1, else in the plural (default noun + 's')."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {plural_noun or noun + 's'}"
