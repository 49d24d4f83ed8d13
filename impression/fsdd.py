"""Mel spectrograms of the Free Spoken Digit Dataset (FSDD), the stimuli of Figure 4.

FSDD (https://github.com/Jakobovski/free-spoken-digit-dataset) holds 8 kHz mono
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
from tqdm import tqdm

from impression.errors import UserError
from impression.storage import load_result

logger = logging.getLogger(__name__)

DATASET_NAME = "fsdd-mel-spectrograms"  # stored in the dataset so readers can check its kind
FILE_SAMPLE_RATE = 8000  # Hz, the sample rate of every FSDD recording
SAMPLE_RATE = 22050  # Hz, librosa's default rate, to which the recordings are resampled
RES_TYPE = "soxr_hq"  # resampler: librosa 0.10 and 0.11's default for librosa.load
N_FFT = 2048  # samples per FFT window (librosa default)
HOP_LENGTH = 512  # samples between frames (librosa default)
N_MELS = 128  # mel bands (librosa default)
TOP_DB = 80.0  # dB below each file's maximum at which power_to_db clips (librosa default)
LAST_TEST_TAKE = 4  # takes 0-4 form the test set, higher takes the training set

# digit 0-9, a speaker name without underscores, a non-negative integer take
FILE_NAME_PATTERN = re.compile(r"(?P<digit>[0-9])_(?P<speaker>[^_]+)_(?P<take>[0-9]+)\.wav")


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
    """Return (digit, speaker, take) of an FSDD file name; raise ValueError if it has another form."""
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
            f"no .wav files in {folder}; expected the FSDD recordings folder "
            "(free-spoken-digit-dataset/recordings)"
        )
    return paths
