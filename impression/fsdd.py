"""Mel spectrograms of the Free Spoken Digit Dataset (FSDD), the stimuli of Figure 4.

FSDD (https://github.com/Jakobovski/free-spoken-digit-dataset) contains 8 kHz mono
WAV recordings named ``{digit}_{speaker}_{take}.wav``. Takes 0-4 of every speaker
and digit are the official test set, takes 5 and above the training set.

Each recording is resampled to 22,050 Hz, turned into a 128-band mel power
spectrogram (n_fft 2048, hop 512, centred frames) and converted to dB relative to
its own maximum, so it spans [-80, 0] dB. The recordings of each set are shuffled
with a recorded seed and their frames concatenated along time into one sequence
of shape (frames, 128). The network sees each set normalised on its own as
``(X - min X) / std X``.
"""

import logging
import os
import re
import struct
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from impression.errors import UserError
from impression.progress import plural
from impression.storage import ResultFileError, load_result

logger = logging.getLogger(__name__)

DATASET_NAME = "fsdd-mel-spectrograms"  # stored in the dataset so readers can check its kind
FILE_SAMPLE_RATE = 8000  # Hz, the sample rate of every FSDD recording
SAMPLE_RATE = 22050  # Hz, librosa's default rate, to which the recordings are resampled
RES_TYPE = "soxr_hq"  # resampler: librosa.load's default in librosa 0.11 (0.9: 'kaiser_best')
N_FFT = 2048  # samples per FFT window (librosa default)
HOP_LENGTH = 512  # samples between frames (librosa default)
PAD_MODE = "constant"  # zero padding of the centred first and last frames (librosa 0.11 default)
N_MELS = 128  # mel bands (librosa default)
TOP_DB = 80.0  # dB below each file's maximum at which power_to_db clips (librosa default)
LAST_TEST_TAKE = 4  # takes 0-4 form the test set, higher takes the training set

# digit 0-9, a speaker name without underscores, a non-negative integer take
FILE_NAME_PATTERN = re.compile(r"(?P<digit>[0-9])_(?P<speaker>[^_]+)_(?P<take>[0-9]+)\.wav")
# First bytes of a zip file, which an .npz archive is: a local file header, or the
# end-of-central-directory record of an empty archive.
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
CREATE_COMMAND = "python il_fsdd_preprocessing.py <recordings folder>"


@dataclass(frozen=True)
class Recording:
    """One FSDD recording and the digit, speaker and take that its file name gives."""

    path: Path
    digit: int
    speaker: str
    take: int

    @property
    def is_test(self):
        return self.take <= LAST_TEST_TAKE


def parse_file_name(name):
    """Return (digit, speaker, take) of an FSDD file name; raise ValueError for another form."""
    match = FILE_NAME_PATTERN.fullmatch(name)
    if match is None:
        raise ValueError(
            "file name is not of the form {digit}_{speaker}_{take}.wav "
            "with a digit 0-9 and a non-negative integer take, for example 7_jackson_32.wav"
        )
    return int(match["digit"]), match["speaker"], int(match["take"])


def list_wav_files(folder):
    """Return the .wav files in folder, sorted by name; raise UserError if there are none."""
    folder = Path(folder)
    if not folder.exists():
        raise UserError(f"recordings folder not found: {folder}")
    if not folder.is_dir():
        raise UserError(f"recordings folder {folder} is a file, expected a folder of .wav files")
    paths = sorted(path for path in folder.iterdir() if path.suffix.lower() == ".wav")
    if not paths:
        raise UserError(
            f"no .wav files in {folder}; expected the FSDD recordings folder (free-spoken-digit-dataset/recordings)"
        )
    return paths


def find_wav_layout_problem(path):
    """Return why path is not a complete RIFF/WAVE file, or None if its data chunk is whole.

    libsndfile (as bundled with soundfile 0.14.0) opens a WAV file that is cut short inside
    its data chunk without an error and reports fewer frames, so the data chunk's declared
    size is compared with the file size here.
    """
    file_size = path.stat().st_size
    if file_size == 0:
        return "empty file (0 bytes)"
    with open(path, "rb") as stream:
        header = stream.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:] != b"WAVE":
            return "not a RIFF/WAVE file (the first 12 bytes are not 'RIFF', a size and 'WAVE')"
        offset = 12
        while offset + 8 <= file_size:
            stream.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", stream.read(8))
            if chunk_id == b"data":
                missing = offset + 8 + chunk_size - file_size
                if missing > 0:
                    return f"truncated: {missing} of the {chunk_size} data bytes are missing"
                return None
            # RIFF chunks are padded to an even number of bytes.
            offset += 8 + chunk_size + chunk_size % 2
    return "truncated or corrupt: no data chunk found"


def check_header(path):
    """Return the problems of one recording's header, as a list of messages (empty if none).

    Reads only the header, so every file can be checked before any is decoded.
    """
    try:
        layout_problem = find_wav_layout_problem(path)
        if layout_problem is not None:
            return [layout_problem]
        info = soundfile.info(str(path))
    except (OSError, soundfile.SoundFileError) as error:
        return [f"unreadable ({error})"]
    problems = []
    if info.channels != 1:
        problems.append(f"{info.channels} channels, expected mono (1 channel)")
    if info.samplerate != FILE_SAMPLE_RATE:
        problems.append(f"sample rate {info.samplerate} Hz, expected {FILE_SAMPLE_RATE} Hz")
    if info.frames == 0:
        problems.append("contains no samples")
    return problems


def validate_recordings(paths):
    """Check the name and header of every file; return (recordings, problems).

    recordings contains the files without problems, and problems is a list of
    (path, message) pairs, one per problem, in the order of paths.
    """
    recordings = []
    problems = []
    first_path_of = {}
    for path in paths:
        file_problems = []
        try:
            digit, speaker, take = parse_file_name(path.name)
        except ValueError as error:
            file_problems.append(str(error))
        else:
            key = (digit, speaker, take)
            if key in first_path_of:
                file_problems.append(f"same digit, speaker and take as {first_path_of[key].name}")
            first_path_of.setdefault(key, path)
        file_problems.extend(check_header(path))
        problems.extend((path, message) for message in file_problems)
        if not file_problems:
            recordings.append(Recording(path, digit, speaker, take))
    return recordings, problems


def format_problems(problems):
    """Return one indented line 'path: message' per problem."""
    return "\n".join(f"  {path}: {message}" for path, message in problems)


def load_spectrogram_db(path):
    """Decode one recording to its mel spectrogram in dB, shape (frames, N_MELS), float32.

    The spectrogram spans [-TOP_DB, 0] dB. Raises soundfile.SoundFileError for a file that
    libsndfile cannot decode and ValueError for a silent one, whose spectrogram relative to
    its own maximum would be 0 dB everywhere.
    """
    # Given an open SoundFile, librosa raises on a decoding error instead of retrying
    # with its deprecated audioread loader.
    with soundfile.SoundFile(str(path)) as sound:
        audio, sample_rate = librosa.load(sound, sr=SAMPLE_RATE, res_type=RES_TYPE)
    if not np.any(audio):
        raise ValueError("silent: every sample is zero")
    # NOTE: librosa 0.7 padded by reflection instead (pad_mode 'reflect'), which raises the
    # std of the 3,000 FSDD recordings' training set from 22.06 dB to 22.10 dB.
    power = librosa.feature.melspectrogram(
        y=audio,
        sr=sample_rate,
        n_fft=N_FFT,
        hop_length=HOP_LENGTH,
        pad_mode=PAD_MODE,
        n_mels=N_MELS,
    )
    spectrogram_db = librosa.power_to_db(power, ref=np.max, top_db=TOP_DB)
    return np.ascontiguousarray(spectrogram_db.T)


def _decode_recording(path):
    """Return (spectrogram_db, None), or (None, message) if decoding failed.

    Runs in the worker processes, so it returns a failure instead of raising it.
    """
    try:
        return load_spectrogram_db(path), None
    except (soundfile.SoundFileError, ValueError, librosa.util.exceptions.ParameterError) as error:
        return None, f"decoding failed: {error}"


def default_jobs():
    """Return the number of CPUs this process may run on, which taskset or a container can limit."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _limit_threads_to_one():
    """Run the BLAS and OpenMP libraries of this process on one thread from now on."""
    threadpool_limits(limits=1)


def _decode_with_progress(paths, jobs):
    """Return _decode_recording of every path, in order, showing a progress bar on stderr.

    BLAS runs on one thread per process, because the mel filter bank product of one
    recording is too small to gain from more. With OpenBLAS's default of one thread per CPU
    in every process, 2 processes on 2 CPUs decoded the 3,000 FSDD recordings in 14 s
    instead of 4 s.
    """
    results = []
    with tqdm(total=len(paths), desc="decoding", unit="file") as progress:
        if jobs == 1:
            with threadpool_limits(limits=1):
                for path in paths:
                    results.append(_decode_recording(path))
                    progress.update(1)
            return results
        # Chunks of up to 32 files keep the inter-process overhead small next to the
        # 1-2 ms that one recording takes to decode.
        chunksize = max(1, min(32, len(paths) // (8 * jobs)))
        with ProcessPoolExecutor(max_workers=jobs, initializer=_limit_threads_to_one) as executor:
            for result in executor.map(_decode_recording, paths, chunksize=chunksize):
                results.append(result)
                progress.update(1)
    return results


def decode_recordings(recordings, jobs):
    """Decode every recording with jobs processes; return (spectrograms, problems).

    spectrograms maps each recording that decoded to its dB spectrogram, and problems
    is a list of (path, message) pairs for those that did not.
    """
    jobs = max(1, min(jobs, len(recordings)))
    start = time.perf_counter()
    results = _decode_with_progress([recording.path for recording in recordings], jobs)
    elapsed = time.perf_counter() - start
    logger.info(
        "decoded %s in %.1f s (%.0f files/s) with %s",
        plural(len(recordings), "recording"),
        elapsed,
        len(recordings) / max(elapsed, 1e-9),
        plural(jobs, "process", "processes"),
    )
    spectrograms = {}
    problems = []
    for recording, (spectrogram_db, message) in zip(recordings, results, strict=False):
        if message is None:
            spectrograms[recording] = spectrogram_db
        else:
            problems.append((recording.path, message))
    return spectrograms, problems


def split_by_take(recordings):
    """Return (training, test) recordings: takes above LAST_TEST_TAKE, and the others."""
    training = [recording for recording in recordings if not recording.is_test]
    test = [recording for recording in recordings if recording.is_test]
    return training, test


def shuffle_recordings(recordings, rng):
    """Return recordings in an order drawn by rng, whatever order they came in.

    Sorting by (digit, speaker, take) first makes the order depend only on the set of
    recordings and the state of rng, not on the order in which the folder lists them.
    """
    ordered = sorted(recordings, key=lambda item: (item.digit, item.speaker, item.take))
    return [ordered[i] for i in rng.permutation(len(ordered))]


def normalisation_constants(spectrogram_db):
    """Return (min, std) of a whole set in dB; std is the population value (ddof 0)."""
    return float(spectrogram_db.min()), float(np.std(spectrogram_db, dtype=np.float64))


def normalise_spectrogram(spectrogram_db, minimum, std):
    """Return the network input (X - min) / std in float64.

    dB relative to each file's maximum are at most 0, so min <= 0 and this equals
    (X + |min X|) / std X.
    """
    return (np.asarray(spectrogram_db, dtype=np.float64) - minimum) / std


def denormalise_spectrogram(normalised, minimum, std):
    """Return normalised * std + min, the dB values that normalise_spectrogram mapped from."""
    return np.asarray(normalised, dtype=np.float64) * std + minimum


def concatenate_recordings(recordings, spectrograms):
    """Return one set of the dataset: the recordings' frames in their order, with labels.

    Arrays per frame: spectrogram_db (frames, N_MELS) and digit, speaker, take and file_index.
    Arrays per file: file_name, and frame_offsets, whose entries i and i + 1 bound the frames
    of file i. min_db and std_db are the set's normalisation constants.
    """
    blocks = [spectrograms[recording] for recording in recordings]
    n_frames = np.array([block.shape[0] for block in blocks], dtype=np.int64)
    spectrogram_db = np.concatenate(blocks, axis=0)
    minimum, std = normalisation_constants(spectrogram_db)
    return {
        "spectrogram_db": spectrogram_db,
        "digit": np.repeat(np.array([recording.digit for recording in recordings]), n_frames),
        "speaker": np.repeat(np.array([recording.speaker for recording in recordings]), n_frames),
        "take": np.repeat(np.array([recording.take for recording in recordings]), n_frames),
        "file_index": np.repeat(np.arange(len(recordings)), n_frames),
        "file_name": np.array([recording.path.name for recording in recordings]),
        "frame_offsets": np.concatenate([[0], np.cumsum(n_frames)]),
        "min_db": minimum,
        "std_db": std,
    }


def _reject_or_skip(problems, n_files, skip_bad):
    """Raise UserError listing every problem, or log each one as skipped if skip_bad."""
    if not problems:
        return
    n_invalid = len({path for path, _ in problems})
    if not skip_bad:
        verb = "is" if n_invalid == 1 else "are"
        raise UserError(
            f"{n_invalid} of {plural(n_files, '.wav file')} {verb} invalid; fix or remove them, "
            "or pass --skip-bad to skip them:\n" + format_problems(problems)
        )
    for path, message in problems:
        logger.warning("skipping %s: %s", path, message)


def collect_recordings(folder, skip_bad):
    """Validate the name and header of every .wav file in folder; return (recordings, skipped).

    skipped is a list of (path, message) pairs. It is empty unless skip_bad, because
    otherwise any problem raises UserError.
    """
    paths = list_wav_files(folder)
    recordings, problems = validate_recordings(paths)
    logger.info(
        "checked the names and headers of %s in %s: %d valid",
        plural(len(paths), ".wav file"),
        folder,
        len(recordings),
    )
    _reject_or_skip(problems, len(paths), skip_bad)
    if not recordings:
        raise UserError(f"no valid FSDD recording among the {plural(len(paths), '.wav file')} in {folder}")
    return recordings, problems


def _validate_options(seed, jobs):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed {seed!r} is invalid; expected a non-negative integer")
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or jobs < 1:
        raise UserError(f"jobs {jobs!r} is invalid; expected a positive number of processes")


def check_both_sets(recordings, folder, condition):
    """Raise UserError unless recordings contain a training and a test recording.

    condition names in the message which recordings were counted, for example 'that decoded'.
    The file name gives the take, and so the set, so this check can run before decoding.
    """
    training, test = split_by_take(recordings)
    if training and test:
        return
    raise UserError(
        f"{folder} has {plural(len(training), 'training recording')} (takes {LAST_TEST_TAKE + 1} and above) "
        f"and {plural(len(test), 'test recording')} (takes 0-{LAST_TEST_TAKE}) {condition}, but both sets "
        "must be non-empty. Pass the full FSDD recordings folder, which has takes 0-49 of every speaker and digit."
    )


def _shuffled_sets(spectrograms, folder, seed):
    """Split the decoded recordings by take and shuffle each set with its own stream of seed."""
    # With skip_bad, decoding failures can empty a set that the file names filled.
    check_both_sets(list(spectrograms), folder, "that decoded")
    training, test = split_by_take(list(spectrograms))
    # Two child seeds make the test order independent of the number of training recordings.
    training_seed, test_seed = np.random.SeedSequence(seed).spawn(2)
    training = shuffle_recordings(training, np.random.default_rng(training_seed))
    test = shuffle_recordings(test, np.random.default_rng(test_seed))
    return training, test


def _log_set(name, dataset_set):
    logger.info(
        "%s set: %s, %s, %s x %d mel bands, min %.2f dB, std %.3f dB",
        name,
        plural(dataset_set["file_name"].size, "recording"),
        plural(np.unique(dataset_set["speaker"]).size, "speaker"),
        plural(dataset_set["spectrogram_db"].shape[0], "frame"),
        dataset_set["spectrogram_db"].shape[1],
        dataset_set["min_db"],
        dataset_set["std_db"],
    )


def build_dataset(folder, seed=0, jobs=None, skip_bad=False):
    """Validate, decode, split, shuffle and concatenate the recordings in folder into a dataset.

    Every header, and that both sets have recordings, is checked before any file is decoded.
    A problem raises UserError listing every invalid file, unless skip_bad, which skips those
    files and lists them in the dataset's skipped_files. jobs is the number of decoding processes (default: the CPUs
    this process may use). The result is plain data for impression.storage.save_result.
    """
    folder = Path(folder)
    jobs = default_jobs() if jobs is None else jobs
    _validate_options(seed, jobs)
    recordings, skipped = collect_recordings(folder, skip_bad)
    check_both_sets(recordings, folder, "with valid names and headers")
    spectrograms, decoding_problems = decode_recordings(recordings, jobs)
    _reject_or_skip(decoding_problems, len(recordings), skip_bad)
    skipped = skipped + decoding_problems
    training, test = _shuffled_sets(spectrograms, folder, seed)
    dataset = {
        "dataset": DATASET_NAME,
        "source_folder": str(folder.resolve()),
        "seed": int(seed),
        "file_sample_rate": FILE_SAMPLE_RATE,
        "sample_rate": SAMPLE_RATE,
        "res_type": RES_TYPE,
        "n_fft": N_FFT,
        "hop_length": HOP_LENGTH,
        "pad_mode": PAD_MODE,
        "n_mels": N_MELS,
        "top_db": TOP_DB,
        "last_test_take": LAST_TEST_TAKE,
        "librosa_version": librosa.__version__,
        "soundfile_version": soundfile.__version__,
        "libsndfile_version": soundfile.__libsndfile_version__,
        "skipped_files": [{"path": str(path), "problem": message} for path, message in skipped],
        "train": concatenate_recordings(training, spectrograms),
        "test": concatenate_recordings(test, spectrograms),
    }
    _log_set("training", dataset["train"])
    _log_set("test", dataset["test"])
    return dataset


def check_dataset_file(path):
    """Raise UserError unless path is a readable file that starts like an .npz archive.

    Checking the first bytes keeps np.load from reading a text or pickle file, for which
    numpy suggests allow_pickle. This project never unpickles a file.
    """
    if not path.exists():
        raise UserError(f"FSDD dataset not found: {path}. Create it with {CREATE_COMMAND} --output {path}")
    if path.is_dir():
        raise UserError(
            f"FSDD dataset {path} is a folder, but a dataset file path is expected, "
            f"for example {path / 'fsdd_spectrograms.npz'}"
        )
    try:
        with open(path, "rb") as stream:
            signature = stream.read(4)
    except OSError as error:
        raise UserError(f"FSDD dataset {path} cannot be read ({error.strerror or error})") from None
    if signature not in ZIP_SIGNATURES:
        raise UserError(
            f"{path} is not a dataset file, because it is not an .npz archive. "
            f"Create a dataset with {CREATE_COMMAND} --output FILE and pass that FILE."
        )


def _unreadable_dataset_error(path, error):
    """Return the UserError for an .npz archive that impression.storage.load_result rejected."""
    cause = error.__cause__
    if cause is None:
        # load_result read the archive, but it lacks this project's format or version.
        detail = "it is an .npz archive, but not in the dataset format that this code reads"
    elif "pickle" in str(cause).lower():
        # numpy's message for a pickled member mentions allow_pickle, which this project never sets.
        detail = "it contains pickled data, which this project never loads"
    else:
        detail = f"{type(cause).__name__}: {cause}"
    return UserError(
        f"dataset file {path} is corrupt or not an FSDD dataset ({detail}). "
        f"Recreate it with {CREATE_COMMAND} --output {path}"
    )


def load_dataset(path):
    """Read a dataset written by il_fsdd_preprocessing.py and add each set's network input.

    Each set gains spectrogram_normalised, (spectrogram_db - min_db) / std_db in float64.
    Raises UserError for a missing, corrupt or foreign file.
    """
    path = Path(path)
    check_dataset_file(path)
    try:
        dataset = load_result(path)
    except ResultFileError as error:
        raise _unreadable_dataset_error(path, error) from None
    if not isinstance(dataset, dict) or dataset.get("dataset") != DATASET_NAME:
        raise UserError(
            f"{path} is a file of this project but not an FSDD dataset (its 'dataset' entry is not "
            f"{DATASET_NAME!r}). Create a dataset with {CREATE_COMMAND} --output FILE and pass that FILE."
        )
    for name in ("train", "test"):
        dataset_set = dataset[name]
        dataset_set["spectrogram_normalised"] = normalise_spectrogram(
            dataset_set["spectrogram_db"], dataset_set["min_db"], dataset_set["std_db"]
        )
    return dataset
