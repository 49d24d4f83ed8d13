"""Turn the Free Spoken Digit Dataset into the mel-spectrogram dataset of Figure 4.

Bredenberg, Lyo, Simoncelli & Savin, "Impression learning: Online representation
learning with synaptic plasticity", NeurIPS 2021. Figure 4 trains a two-layer network
on spoken digits (mode 'Vocal_Digits' of il_exp_params.py), and this script makes its
input.

Reads: every .wav file of an FSDD recordings folder, for example from
    git clone https://github.com/Jakobovski/free-spoken-digit-dataset
which puts the 3,000 recordings in free-spoken-digit-dataset/recordings.

Writes: one dataset file (default data/fsdd_spectrograms.npz in the project folder),
written atomically with impression.storage, so a failed run never replaces a good file.
It contains the training set (takes 5-49) and the test set (takes 0-4). Each set is
one shuffled sequence of 128-band mel spectrogram frames in dB, with the digit,
speaker, take and file of every frame, and the set's min and std, which normalise the
network's input. impression.fsdd.load_dataset reads it.

Run:
    python il_fsdd_preprocessing.py free-spoken-digit-dataset/recordings
    python il_fsdd_preprocessing.py RECORDINGS --output data/fsdd_spectrograms.npz --seed 0
Without arguments (for example with an IDE's Run command), the recordings folder is
the first of DEFAULT_RECORDINGS_FOLDERS that exists. Invalid files stop the run before
anything is written, with one line per problem, unless --skip-bad is given. An --output
that cannot be written, and a folder without training or without test takes, stop it
before any recording is decoded. The exit status is 2 for invalid input.
"""

import argparse
import sys
from pathlib import Path

from impression import PROJECT_ROOT
from impression.errors import UserError, run_reporting_errors
from impression.fsdd import build_dataset, default_jobs
from impression.progress import configure_logging, log, plural
from impression.storage import probe_writable, save_result

DEFAULT_OUTPUT = PROJECT_ROOT / "data" / "fsdd_spectrograms.npz"
# Tried in order when no folder is given: a clone of FSDD next to the project folder, then
# a shared copy next to it.
DEFAULT_RECORDINGS_FOLDERS = (
    PROJECT_ROOT.parent / "free-spoken-digit-dataset" / "recordings",
    PROJECT_ROOT.parent / "shared" / "fsdd" / "recordings",
)
DEFAULT_SEED = 0


def parse_arguments(argv):
    """Return the command-line options of argv (None: sys.argv[1:])."""
    parser = argparse.ArgumentParser(
        description="Compute the mel spectrograms of the Free Spoken Digit Dataset for Figure 4.",
    )
    parser.add_argument(
        "recordings",
        nargs="?",
        type=Path,
        help="FSDD recordings folder of {digit}_{speaker}_{take}.wav files; default: the first "
        f"that exists of {', '.join(str(folder) for folder in DEFAULT_RECORDINGS_FOLDERS)}",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"dataset file to write; default: {DEFAULT_OUTPUT}",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help=f"seed of the shuffled order of the recordings, stored in the dataset; default: {DEFAULT_SEED}",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        help="number of decoding processes; default: the number of CPUs available (%(default)s)",
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="skip invalid recordings and list them in the log and the dataset instead of stopping",
    )
    return parser.parse_args(argv)


def resolve_recordings_folder(folder):
    """Return folder, or the first default folder that exists; raise UserError if none does."""
    if folder is not None:
        return folder
    for candidate in DEFAULT_RECORDINGS_FOLDERS:
        if candidate.is_dir():
            return candidate
    raise UserError(
        "no recordings folder given, and none of the default folders exists: "
        f"{', '.join(str(candidate) for candidate in DEFAULT_RECORDINGS_FOLDERS)}; get FSDD with "
        "'git clone https://github.com/Jakobovski/free-spoken-digit-dataset' and pass its "
        "recordings folder"
    )


def nearest_existing_path(path):
    """Return the nearest of path's parent folders that exists, or is a dangling symbolic link."""
    for ancestor in path.parents:
        if ancestor.exists() or ancestor.is_symlink():
            return ancestor
    return path.parents[-1]


def check_writable(folder, output):
    """Raise UserError unless a file can be created in folder, by creating and deleting one.

    The probe does what save_result will do, whereas os.access checks the real user id, not the
    effective one, and reports every folder writable for root.
    """
    try:
        probe_writable(folder)
    except OSError as error:
        raise UserError(
            f"--output {output} cannot be written, because creating a file in {folder} failed "
            f"({error.strerror or error}). Choose a writable location with --output PATH."
        ) from None


def check_output_path(output):
    """Raise UserError if output cannot be written as a dataset file, before any recording is decoded.

    Missing folders of output are not created here, so a run that fails later leaves none
    behind. save_result creates them.
    """
    if output.is_dir():
        raise UserError(
            f"--output {output} is a folder; expected a file path, for example {output / 'fsdd_spectrograms.npz'}"
        )
    if output.suffix.lower() == ".wav":
        # The dataset is an .npz archive, and a .wav path is most likely a recording that it would replace.
        raise UserError(
            f"--output {output} is a .wav path, but the dataset is an .npz archive. "
            f"Choose an .npz file path, for example --output {DEFAULT_OUTPUT}"
        )
    if output.exists() and not output.is_file():
        # save_result renames its file over output, which would replace a device or a socket.
        raise UserError(f"--output {output} exists but is not a regular file. Choose a file path with --output PATH.")
    folder = nearest_existing_path(output)
    if not folder.is_dir():
        raise UserError(
            f"--output {output} cannot be created, because {folder} is a file, not a folder. "
            f"Choose a path in a folder, for example --output {DEFAULT_OUTPUT}"
        )
    check_writable(folder, output)


def run(args):
    """Build the dataset that args describe and save it; raise UserError for invalid input."""
    folder = resolve_recordings_folder(args.recordings)
    check_output_path(args.output)
    log.info("reading FSDD recordings from %s", folder)
    dataset = build_dataset(folder, seed=args.seed, jobs=args.jobs, skip_bad=args.skip_bad)
    n_skipped = len(dataset["skipped_files"])
    if n_skipped:
        log.warning("skipped %s, listed in the dataset's skipped_files", plural(n_skipped, "invalid file"))
    try:
        path = save_result(args.output, dataset)
    except OSError as error:
        raise UserError(f"failed to write the dataset to {args.output}: {error}; choose another --output") from None
    log.info("saved the dataset to %s", path.resolve())


def main(argv=None):
    """Run the preprocessing; return the exit status (0, 2 for invalid input, 130 after Ctrl-C)."""
    configure_logging()
    args = parse_arguments(argv)
    return run_reporting_errors(
        lambda: run(args), "interrupted; no dataset was written, and an existing dataset file is unchanged"
    )


if __name__ == "__main__":
    sys.exit(main())
