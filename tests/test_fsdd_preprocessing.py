"""Tests of the FSDD preprocessing in impression/fsdd.py and il_fsdd_preprocessing.py.

The tests on real recordings use a subset of the FSDD recordings folder: the one named
by the environment variable FSDD_RECORDINGS, else the first of the script's default
folders that exists. They are skipped when there is none. The tests of invalid input
write their own small WAV files.
"""

import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile

import il_fsdd_preprocessing
from impression import PROJECT_ROOT, fsdd, storage
from impression.errors import UserError
from impression.storage import load_result, save_result

SCRIPT = PROJECT_ROOT / "il_fsdd_preprocessing.py"

# (speaker, takes) of every digit in the subset: takes 0-4 are test, 5-49 training recordings.
SUBSET_TAKES = (("jackson", (0, 3, 5, 27)), ("theo", (1, 49)))


def find_recordings_folder():
    if os.environ.get("FSDD_RECORDINGS"):
        return Path(os.environ["FSDD_RECORDINGS"])
    for folder in il_fsdd_preprocessing.DEFAULT_RECORDINGS_FOLDERS:
        if folder.is_dir():
            return folder
    return None


RECORDINGS = find_recordings_folder()
needs_recordings = pytest.mark.skipif(
    RECORDINGS is None or not RECORDINGS.is_dir(),
    reason="no FSDD recordings folder; set FSDD_RECORDINGS to free-spoken-digit-dataset/recordings",
)


def run_script(*arguments, cwd):
    """Run il_fsdd_preprocessing.py in a fresh interpreter and return the CompletedProcess."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, arguments)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def error_message(stderr):
    """Return the script's error message: stderr from its first line that starts with 'error: '."""
    lines = stderr.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    assert starts, stderr
    return "\n".join(lines[starts[0] :])


def expected_frame_count(path):
    """Return the frames librosa gives a recording, from its header alone.

    librosa.resample (fix=True) makes ceil(n * 22050 / 8000) samples of n, and centred
    frames with hop 512 number 1 + samples // 512.
    """
    n_resampled = math.ceil(soundfile.info(str(path)).frames * 22050 / 8000)
    return 1 + n_resampled // 512


def frames_of_file(dataset_set, file_position):
    start, stop = dataset_set["frame_offsets"][file_position : file_position + 2]
    return dataset_set["spectrogram_db"][start:stop]


# ---------------------------------------------------------------------------
# Real recordings
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def subset_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fsdd_subset")
    for digit in range(10):
        for speaker, takes in SUBSET_TAKES:
            for take in takes:
                name = f"{digit}_{speaker}_{take}.wav"
                (folder / name).symlink_to(RECORDINGS / name)
    return folder


@pytest.fixture(scope="module")
def subset_names(subset_folder):
    return {path.name for path in subset_folder.iterdir()}


@pytest.fixture(scope="module")
def dataset(subset_folder):
    return fsdd.build_dataset(subset_folder, seed=0, jobs=2)


@needs_recordings
def test_sets_have_128_mel_bands(dataset):
    for name in ("train", "test"):
        dataset_set = dataset[name]
        spectrogram_db = dataset_set["spectrogram_db"]
        n_frames = spectrogram_db.shape[0]
        assert spectrogram_db.ndim == 2
        assert spectrogram_db.shape[1] == 128
        assert spectrogram_db.dtype == np.float32
        assert dataset_set["frame_offsets"][-1] == n_frames
        for key in ("digit", "speaker", "take", "file_index"):
            assert dataset_set[key].shape == (n_frames,), key


@needs_recordings
def test_each_file_spans_80_db(dataset):
    for name in ("train", "test"):
        dataset_set = dataset[name]
        for position in range(dataset_set["file_name"].size):
            frames = frames_of_file(dataset_set, position)
            assert frames.max() == 0.0, dataset_set["file_name"][position]
            assert frames.min() >= -80.0, dataset_set["file_name"][position]


@needs_recordings
def test_split_by_take_on_subset(dataset, subset_names):
    training_names = set(dataset["train"]["file_name"])
    test_names = set(dataset["test"]["file_name"])
    assert dataset["train"]["take"].min() >= 5
    assert dataset["test"]["take"].max() <= 4
    assert training_names.isdisjoint(test_names)
    assert training_names | test_names == subset_names
    assert len(training_names) == 10 * 3
    assert len(test_names) == 10 * 3
    assert dataset["train"]["file_name"].size == len(training_names)


@needs_recordings
def test_frame_labels_match_file_names(dataset):
    for name in ("train", "test"):
        dataset_set = dataset[name]
        offsets = dataset_set["frame_offsets"]
        for position, file_name in enumerate(dataset_set["file_name"]):
            digit, speaker, take = file_name.removesuffix(".wav").split("_")
            frames = slice(offsets[position], offsets[position + 1])
            assert np.all(dataset_set["file_index"][frames] == position), file_name
            assert np.all(dataset_set["digit"][frames] == int(digit)), file_name
            assert np.all(dataset_set["speaker"][frames] == speaker), file_name
            assert np.all(dataset_set["take"][frames] == int(take)), file_name


@needs_recordings
def test_frame_counts_match_librosa(dataset, subset_folder):
    for name in ("train", "test"):
        dataset_set = dataset[name]
        counts = np.diff(dataset_set["frame_offsets"])
        expected = [expected_frame_count(subset_folder / file) for file in dataset_set["file_name"]]
        assert counts.tolist() == expected
        assert dataset_set["spectrogram_db"].shape[0] == sum(expected)
    # The header formula agrees with the length that librosa.load decodes.
    for file_name in dataset["test"]["file_name"][:3]:
        audio, _ = librosa.load(subset_folder / file_name, sr=22050)
        assert 1 + audio.size // 512 == expected_frame_count(subset_folder / file_name)


@needs_recordings
def test_spectrograms_match_librosa_defaults(dataset, subset_folder):
    dataset_set = dataset["train"]
    for position in range(3):
        path = subset_folder / dataset_set["file_name"][position]
        audio, sample_rate = librosa.load(path, sr=22050)
        power = librosa.feature.melspectrogram(y=audio, sr=sample_rate)
        expected = librosa.power_to_db(power, ref=np.max).T
        np.testing.assert_allclose(frames_of_file(dataset_set, position), expected, atol=1e-4)


@needs_recordings
def test_seed_fixes_file_order(dataset, subset_folder):
    same_seed = fsdd.build_dataset(subset_folder, seed=0, jobs=1)
    other_seed = fsdd.build_dataset(subset_folder, seed=1, jobs=1)
    assert dataset["seed"] == 0
    assert other_seed["seed"] == 1
    for name in ("train", "test"):
        order = dataset[name]["file_name"].tolist()
        assert same_seed[name]["file_name"].tolist() == order
        np.testing.assert_array_equal(same_seed[name]["spectrogram_db"], dataset[name]["spectrogram_db"])
        assert other_seed[name]["file_name"].tolist() != order
        assert sorted(other_seed[name]["file_name"].tolist()) == sorted(order)
        assert order != sorted(order)


@needs_recordings
def test_shuffle_ignores_input_order(subset_folder):
    recordings, problems = fsdd.validate_recordings(fsdd.list_wav_files(subset_folder))
    assert problems == []
    forward = fsdd.shuffle_recordings(recordings, np.random.default_rng(5))
    backward = fsdd.shuffle_recordings(recordings[::-1], np.random.default_rng(5))
    assert forward == backward


@needs_recordings
def test_normalisation_gives_min_0_std_1(dataset):
    for name in ("train", "test"):
        dataset_set = dataset[name]
        spectrogram_db = dataset_set["spectrogram_db"].astype(np.float64)
        minimum = dataset_set["min_db"]
        std = dataset_set["std_db"]
        assert minimum == spectrogram_db.min()
        assert minimum >= -80.0
        assert std == pytest.approx(spectrogram_db.std(), rel=1e-9)
        normalised = fsdd.normalise_spectrogram(dataset_set["spectrogram_db"], minimum, std)
        assert normalised.min() == 0.0
        assert normalised.std() == pytest.approx(1.0, rel=1e-9)
        # The same normalisation written as (X + |min X|) / std X
        original_form = (spectrogram_db + abs(spectrogram_db.min())) / spectrogram_db.std()
        np.testing.assert_allclose(normalised, original_form)
        recovered = fsdd.denormalise_spectrogram(normalised, minimum, std)
        np.testing.assert_allclose(recovered, spectrogram_db, atol=1e-9)


@needs_recordings
def test_load_dataset_adds_network_input(dataset, tmp_path):
    path = save_result(tmp_path / "fsdd.npz", dataset)
    loaded = fsdd.load_dataset(path)
    for name in ("train", "test"):
        np.testing.assert_array_equal(loaded[name]["spectrogram_db"], dataset[name]["spectrogram_db"])
        assert loaded[name]["spectrogram_normalised"].std() == pytest.approx(1.0, rel=1e-9)
        assert loaded[name]["speaker"].tolist() == dataset[name]["speaker"].tolist()


@needs_recordings
def test_script_end_to_end_on_subset(subset_folder, subset_names, tmp_path):
    output = tmp_path / "out" / "fsdd.npz"
    completed = run_script(subset_folder, "--output", output, "--seed", "3", "--jobs", "2", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert f"saved the dataset to {output}" in completed.stderr
    result = load_result(output)
    assert result["seed"] == 3
    assert result["n_mels"] == 128
    assert result["skipped_files"] == []
    names = set(result["train"]["file_name"]) | set(result["test"]["file_name"])
    assert names == subset_names
    training_names = result["train"]["file_name"]
    expected = sum(expected_frame_count(subset_folder / name) for name in training_names)
    assert result["train"]["spectrogram_db"].shape == (expected, 128)


# ---------------------------------------------------------------------------
# File names and invalid input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("7_jackson_32.wav", (7, "jackson", 32)),
        ("0_yweweler_0.wav", (0, "yweweler", 0)),
        ("9_theo_049.wav", (9, "theo", 49)),
    ],
)
def test_parse_valid_file_name(name, expected):
    assert fsdd.parse_file_name(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "10_theo_1.wav",
        "a_theo_1.wav",
        "7_theo_-1.wav",
        "7_theo_1.5.wav",
        "7__1.wav",
        "7_theo.wav",
        "7_theo_1_2.wav",
        "7_theo_1.WAV",
        "7_theo_1.wav.bak",
    ],
)
def test_parse_invalid_file_name(name):
    with pytest.raises(ValueError, match="not of the form"):
        fsdd.parse_file_name(name)


def write_wav(path, sample_rate=8000, channels=1, seconds=0.4, silent=False):
    """Write a 16-bit WAV file of a 440 Hz tone (or silence) and return its path."""
    times = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = 0.0 if silent else 0.3 * np.sin(2 * np.pi * 440.0 * times)
    samples = np.repeat(np.atleast_2d(tone * np.ones_like(times)).T, channels, axis=1)
    soundfile.write(str(path), samples, sample_rate, subtype="PCM_16")
    return path


def write_truncated(path):
    write_wav(path)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * 0.6)])


def write_header_only(path):
    write_wav(path)
    path.write_bytes(path.read_bytes()[:30])


def write_garbage(path):
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 2000, dtype=np.uint8).tobytes())


# (file name, writer, phrase the message must contain)
BAD_FILES = {
    "bad name": ("three_tone_7.wav", write_wav, "not of the form"),
    "digit 12": ("12_tone_7.wav", write_wav, "not of the form"),
    "take x": ("3_tone_x.wav", write_wav, "not of the form"),
    "garbage": ("4_tone_7.wav", write_garbage, "not a RIFF/WAVE file"),
    "empty file": ("4_tone_6.wav", lambda path: path.write_bytes(b""), "empty file (0 bytes)"),
    "truncated": ("4_tone_8.wav", write_truncated, "truncated"),
    "header only": ("4_tone_10.wav", write_header_only, "truncated"),
    "stereo": (
        "4_tone_9.wav",
        lambda path: write_wav(path, channels=2),
        "2 channels, expected mono",
    ),
    "16 kHz": (
        "4_tone_11.wav",
        lambda path: write_wav(path, sample_rate=16000),
        "16000 Hz, expected 8000 Hz",
    ),
    "silent": ("4_tone_12.wav", lambda path: write_wav(path, silent=True), "silent"),
}
GOOD_NAMES = ("3_tone_0.wav", "3_tone_9.wav", "5_tone_2.wav", "5_tone_20.wav")


@pytest.fixture
def good_folder(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    for name in GOOD_NAMES:
        write_wav(folder / name)
    return folder


def add_bad_files(folder, cases):
    for case in cases:
        name, writer, _ = BAD_FILES[case]
        writer(folder / name)


def test_missing_folder_raises(tmp_path):
    with pytest.raises(UserError, match="recordings folder not found") as raised:
        fsdd.build_dataset(tmp_path / "absent", jobs=1)
    assert str(tmp_path / "absent") in str(raised.value)


def test_folder_without_wav_files_raises(tmp_path):
    (tmp_path / "notes.txt").write_text("no audio here")
    with pytest.raises(UserError, match="no .wav files") as raised:
        fsdd.build_dataset(tmp_path, jobs=1)
    assert str(tmp_path) in str(raised.value)


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_invalid_file_is_rejected(good_folder, case):
    name, _, phrase = BAD_FILES[case]
    add_bad_files(good_folder, [case])
    with pytest.raises(UserError) as raised:
        fsdd.build_dataset(good_folder, jobs=1)
    lines = str(raised.value).splitlines()
    assert lines[0].startswith("1 of ")
    problem_lines = [line for line in lines[1:] if name in line]
    assert len(problem_lines) >= 1
    assert any(phrase in line for line in problem_lines), lines
    for good_name in GOOD_NAMES:
        assert good_name not in str(raised.value)


def test_duplicate_recording_is_rejected(good_folder):
    write_wav(good_folder / "3_tone_09.wav")
    with pytest.raises(UserError) as raised:
        fsdd.build_dataset(good_folder, jobs=1)
    message = str(raised.value)
    assert message.startswith("1 of 5 .wav files")
    # Files are checked in sorted order, so 3_tone_09.wav comes first and 3_tone_9.wav repeats it.
    assert "3_tone_9.wav: same digit, speaker and take as 3_tone_09.wav" in message


def test_header_problems_stop_before_decoding(good_folder, monkeypatch):
    header_cases = [case for case in BAD_FILES if case != "silent"]
    add_bad_files(good_folder, header_cases)

    def fail_decoding(*arguments):
        raise AssertionError("decode_recordings ran although headers were invalid")

    monkeypatch.setattr(fsdd, "decode_recordings", fail_decoding)
    with pytest.raises(UserError) as raised:
        fsdd.build_dataset(good_folder, jobs=1)
    message = str(raised.value)
    n_files = len(header_cases) + len(GOOD_NAMES)
    assert message.startswith(f"{len(header_cases)} of {n_files} .wav files")
    for case in header_cases:
        assert BAD_FILES[case][0] in message, case


def test_single_set_is_rejected(tmp_path):
    write_wav(tmp_path / "3_tone_7.wav")
    with pytest.raises(UserError, match="0 test recordings"):
        fsdd.build_dataset(tmp_path, jobs=1)


def test_invalid_seed_and_jobs_are_rejected(good_folder):
    with pytest.raises(UserError, match="seed -1 is invalid"):
        fsdd.build_dataset(good_folder, seed=-1, jobs=1)
    with pytest.raises(UserError, match="jobs 0 is invalid"):
        fsdd.build_dataset(good_folder, jobs=0)


def file_digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_script_invalid_files_keep_output(good_folder, tmp_path):
    add_bad_files(good_folder, list(BAD_FILES))
    output_folder = tmp_path / "data"
    output = save_result(output_folder / "fsdd.npz", {"marker": "previous good dataset"})
    digest = file_digest(output)
    completed = run_script(good_folder, "--output", output, "--jobs", "2", cwd=tmp_path)
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    message = error_message(completed.stderr)
    problem_lines = message.splitlines()[1:]
    # One line per invalid header. The silent file is not listed, because only decoding,
    # which never starts, finds it.
    assert len(problem_lines) == len(BAD_FILES) - 1
    for case, (name, _, _) in BAD_FILES.items():
        if case != "silent":
            assert name in message, case
    assert file_digest(output) == digest
    assert sorted(path.name for path in output_folder.iterdir()) == ["fsdd.npz"]


def test_script_empty_folder_exits_2(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    output = tmp_path / "fsdd.npz"
    completed = run_script(folder, "--output", output, cwd=tmp_path)
    assert completed.returncode == 2
    assert error_message(completed.stderr).startswith(f"error: no .wav files in {folder}")
    assert "Traceback" not in completed.stderr
    assert not output.exists()


def test_script_skip_bad_lists_skipped_files(good_folder, tmp_path):
    add_bad_files(good_folder, list(BAD_FILES))
    output = tmp_path / "fsdd.npz"
    completed = run_script(good_folder, "--output", output, "--skip-bad", "--jobs", "2", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    result = load_result(output)
    skipped_names = {Path(entry["path"]).name for entry in result["skipped_files"]}
    bad_names = {name for name, _, _ in BAD_FILES.values()}
    assert skipped_names == bad_names
    for name in bad_names:
        assert f"skipping {good_folder / name}" in completed.stderr, name
    kept_names = set(result["train"]["file_name"]) | set(result["test"]["file_name"])
    assert kept_names == set(GOOD_NAMES)


def test_parser_defaults():
    args = il_fsdd_preprocessing.parse_arguments([])
    assert args.recordings is None
    assert args.output == PROJECT_ROOT / "data" / "fsdd_spectrograms.npz"
    assert args.seed == 0
    assert args.jobs == fsdd.default_jobs()
    assert args.skip_bad is False


def test_script_log_matches_other_scripts(good_folder, tmp_path):
    output = tmp_path / "fsdd.npz"
    completed = run_script(good_folder, "--output", output, "--jobs", "1", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    log_lines = [line for line in completed.stderr.splitlines() if " INFO " in line]
    assert len(log_lines) >= 4, completed.stderr
    # impression.progress.configure_logging: '%(asctime)s %(levelname)s %(message)s' with '%H:%M:%S'
    for line in log_lines:
        assert re.fullmatch(r"\d\d:\d\d:\d\d INFO \S.*", line), line
    # Every good file has the speaker 'tone'.
    assert "1 speaker," in completed.stderr
    assert "1 speakers" not in completed.stderr


# ---------------------------------------------------------------------------
# Checks that run before any recording is decoded
# ---------------------------------------------------------------------------


def fail_if_called(*arguments, **keywords):
    raise AssertionError("the recordings were decoded although the input was invalid")


def run_in_process(*arguments):
    """Run il_fsdd_preprocessing.run on the command-line arguments; return the UserError it raises."""
    args = il_fsdd_preprocessing.parse_arguments([str(argument) for argument in arguments])
    with pytest.raises(UserError) as raised:
        il_fsdd_preprocessing.run(args)
    return str(raised.value)


# (output path below tmp_path, phrase the message must contain)
BAD_OUTPUTS = {
    "under a file": ("recording.wav/x.npz", "recording.wav is a file, not a folder"),
    "deep under a file": ("recording.wav/a/b/x.npz", "recording.wav is a file, not a folder"),
    "a folder": ("data", "is a folder; expected a file path"),
    "a .wav path": ("recording.wav", "is a .wav path"),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_bad_output_stops_before_decoding(good_folder, tmp_path, monkeypatch, case):
    write_wav(tmp_path / "recording.wav")
    (tmp_path / "data").mkdir()
    relative, phrase = BAD_OUTPUTS[case]
    output = tmp_path / relative
    monkeypatch.setattr(il_fsdd_preprocessing, "build_dataset", fail_if_called)
    message = run_in_process(good_folder, "--output", output)
    assert phrase in message
    assert f"--output {output}" in message
    assert "\n" not in message
    assert "Choose" in message or "expected" in message


def test_device_output_is_rejected(good_folder, monkeypatch):
    monkeypatch.setattr(il_fsdd_preprocessing, "build_dataset", fail_if_called)
    message = run_in_process(good_folder, "--output", os.devnull)
    assert f"--output {os.devnull} exists but is not a regular file" in message


def test_unwritable_output_folder_is_rejected(good_folder, tmp_path, monkeypatch):
    # chmod cannot make a folder unwritable for root, so the file creation itself fails here.
    def deny(*arguments, **keywords):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(il_fsdd_preprocessing, "probe_writable", deny)
    monkeypatch.setattr(il_fsdd_preprocessing, "build_dataset", fail_if_called)
    output = tmp_path / "new" / "fsdd.npz"
    message = run_in_process(good_folder, "--output", output)
    assert f"--output {output} cannot be written" in message
    assert f"creating a file in {tmp_path} failed (Permission denied)" in message
    assert not (tmp_path / "new").exists()


def test_output_check_leaves_no_files(good_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(il_fsdd_preprocessing, "build_dataset", fail_if_called)
    output = tmp_path / "new" / "deeper" / "fsdd.npz"
    with pytest.raises(AssertionError, match="were decoded"):
        il_fsdd_preprocessing.run(il_fsdd_preprocessing.parse_arguments([str(good_folder), "--output", str(output)]))
    assert not (tmp_path / "new").exists()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["recordings"]


@needs_recordings
def test_script_output_under_recording_exits_early(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    for name in ("0_george_0.wav", "0_george_5.wav"):
        # Copies, so that a faulty check could never write into the shared recordings.
        shutil.copyfile(RECORDINGS / name, folder / name)
    output = folder / "0_george_0.wav" / "x.npz"
    digest = file_digest(folder / "0_george_0.wav")
    completed = run_script(folder, "--output", output, "--jobs", "1", cwd=tmp_path)
    assert completed.returncode == 2
    message = error_message(completed.stderr)
    assert message.startswith(f"error: --output {output} cannot be created, because {folder / '0_george_0.wav'}")
    assert len(message.splitlines()) == 1
    assert "decoding" not in completed.stderr
    assert "File exists" not in completed.stderr
    assert file_digest(folder / "0_george_0.wav") == digest


def symlink_takes(folder, takes):
    folder.mkdir()
    for digit in range(3):
        for take in takes:
            name = f"{digit}_jackson_{take}.wav"
            (folder / name).symlink_to(RECORDINGS / name)
    return folder


@needs_recordings
@pytest.mark.parametrize(
    "takes, phrase",
    [
        ((0, 2, 4), "0 training recordings (takes 5 and above) and 9 test recordings"),
        ((5, 30, 49), "9 training recordings (takes 5 and above) and 0 test recordings"),
    ],
    ids=["only test takes", "only training takes"],
)
def test_single_set_stops_before_decoding(tmp_path, monkeypatch, takes, phrase):
    folder = symlink_takes(tmp_path / "recordings", takes)
    monkeypatch.setattr(fsdd, "decode_recordings", fail_if_called)
    with pytest.raises(UserError) as raised:
        fsdd.build_dataset(folder, jobs=1)
    message = str(raised.value)
    assert phrase in message
    assert "with valid names and headers" in message
    assert str(folder) in message


@needs_recordings
def test_script_single_set_exits_early(tmp_path):
    folder = symlink_takes(tmp_path / "recordings", (0, 1))
    output = tmp_path / "fsdd.npz"
    completed = run_script(folder, "--output", output, "--jobs", "1", cwd=tmp_path)
    assert completed.returncode == 2
    assert "0 training recordings" in error_message(completed.stderr)
    assert "decoding" not in completed.stderr
    assert not output.exists()


def test_skip_bad_decoding_can_empty_set(tmp_path):
    write_wav(tmp_path / "3_tone_0.wav")
    write_wav(tmp_path / "3_tone_9.wav", silent=True)
    with pytest.raises(UserError) as raised:
        fsdd.build_dataset(tmp_path, jobs=1, skip_bad=True)
    message = str(raised.value)
    assert "0 training recordings" in message
    assert "1 test recording (takes 0-4) that decoded" in message


# ---------------------------------------------------------------------------
# Loading a dataset file
# ---------------------------------------------------------------------------


def write_text(path):
    path.write_text("digit,speaker\n7,jackson\n")


def write_npy(path):
    # An open file keeps np.save from appending .npy to the name.
    with open(path, "wb") as stream:
        np.save(stream, np.zeros(4))


def write_truncated_dataset(path):
    save_result(path, {"dataset": fsdd.DATASET_NAME, "x": np.arange(2000.0)})
    path.write_bytes(path.read_bytes()[:3000])


def write_pickled_member(path):
    # A file in the result format whose only array is of object dtype, which only unpickling could read.
    structure = {"format": storage.FORMAT_NAME, "version": storage.FORMAT_VERSION, "result": {"x": {"__array__": "a0"}}}
    with open(path, "wb") as stream:
        np.savez(stream, __structure__=np.array(json.dumps(structure)), a0=np.array([{"a": 1}], dtype=object))


def write_other_result(path):
    save_result(path, {"status": "complete", "test_loss": np.ones(3)})


# (writer, phrase the message must contain, whether the message offers to recreate the file in place)
BAD_DATASETS = {
    "text": (write_text, "is not a dataset file, because it is not an .npz archive", False),
    "npy": (write_npy, "is not a dataset file, because it is not an .npz archive", False),
    "truncated": (write_truncated_dataset, "is corrupt or not an FSDD dataset", True),
    "pickled member": (write_pickled_member, "contains pickled data, which this project never loads", True),
    "other result": (write_other_result, "is a file of this project but not an FSDD dataset", False),
}


@pytest.mark.parametrize("case", list(BAD_DATASETS))
def test_bad_dataset_file_message(tmp_path, case):
    writer, phrase, recreate = BAD_DATASETS[case]
    path = tmp_path / "fsdd.npz"
    writer(path)
    with pytest.raises(UserError) as raised:
        fsdd.load_dataset(path)
    message = str(raised.value)
    assert phrase in message
    assert str(path) in message
    assert "allow_pickle" not in message
    assert "result file" not in message
    assert "delete it" not in message
    assert message.count("il_fsdd_preprocessing.py") == 1
    if recreate:
        assert message.endswith(f"Recreate it with python il_fsdd_preprocessing.py <recordings folder> --output {path}")
    else:
        assert f"--output {path}" not in message


def test_dataset_folder_message(tmp_path):
    with pytest.raises(UserError) as raised:
        fsdd.load_dataset(tmp_path)
    message = str(raised.value)
    assert f"FSDD dataset {tmp_path} is a folder, but a dataset file path is expected" in message
    assert "not found" not in message
