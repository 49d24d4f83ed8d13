"""Exceptions that the entry points report as one clear message, without a traceback."""

import sys


class UserError(Exception):
    """An error in what the user asked for or supplied; the message says what to change."""


class ConfigError(UserError):
    """An unknown mode, parameter, array index or a value of the wrong type."""


class DivergenceError(UserError):
    """A run whose loss or weights became non-finite; what it computed before is saved."""


INTERRUPTED_RUN = "interrupted; this run saved nothing, and existing result files are unchanged"


def run_reporting_errors(task, interrupted_message=INTERRUPTED_RUN):
    """Run task() and return an entry point's exit status: task's own value, or 0 when it returns None.

    A UserError, or a run too large for memory, prints one line on stderr
    instead of a traceback and returns 2. Ctrl-C prints interrupted_message
    and returns 130.
    """
    try:
        status = task()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted_message, file=sys.stderr)
        return 130
    except MemoryError as error:
        print(
            f"error: not enough memory for this run ({error}); reduce the sizes, such as --n_in or --n_test",
            file=sys.stderr,
        )
        return 2
    return 0 if status is None else status
