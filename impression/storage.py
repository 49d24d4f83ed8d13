"""Result files: plain data only, written atomically.

A result is a nested structure of dicts (string keys), lists, tuples,
numpy arrays of numeric, boolean or string dtype, Python or numpy numbers,
strings, booleans and None. It is stored as one ``.npz`` archive: every
array is one member, and the structure around them is one JSON member.
Loading uses ``np.load(allow_pickle=False)`` and ``json``, so a result file
can never execute code, unlike the pickled objects of the original code.
"""

import json
import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from impression.errors import UserError
from impression.progress import log

FORMAT_NAME = "impression-learning-result"
FORMAT_VERSION = 1
_STRUCTURE_MEMBER = "__structure__"
_ARRAY_TAG = "__array__"


class ResultFileError(UserError):
    """A result file that is missing, corrupt or not in this project's format."""


def _encode(value, arrays, where):
    """Return a JSON-ready copy of value, moving every array into arrays."""
    if isinstance(value, dict):
        encoded = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: dict key {key!r} is not a string")
            encoded[key] = _encode(item, arrays, f"{where}/{key}")
        return encoded
    if isinstance(value, (list, tuple)):
        return [_encode(item, arrays, f"{where}/{i}") for i, item in enumerate(value)]
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufcUS":
            raise TypeError(f"{where}: array of dtype {value.dtype} is not plain data")
        member = f"a{len(arrays)}"
        arrays[member] = value
        return {_ARRAY_TAG: member}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"{where}: {type(value).__name__} is not plain data")


def _decode(value, archive):
    if isinstance(value, dict):
        if set(value) == {_ARRAY_TAG}:
            return archive[value[_ARRAY_TAG]]
        return {key: _decode(item, archive) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item, archive) for item in value]
    return value


def save_result(path, result):
    """Write result to path atomically and return the path.

    The archive is written to a temporary file in the same folder and then
    renamed over path, so a run killed mid-write leaves either the old file
    or none, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {}
    structure = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "result": _encode(result, arrays, "result"),
    }
    arrays[_STRUCTURE_MEMBER] = np.array(json.dumps(structure, allow_nan=True))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file readable by its owner only; give it the
        # permissions of a normally created file so colleagues can read it.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        with os.fdopen(handle, "wb") as stream:
            # Uncompressed: float trajectories barely compress and zlib would
            # add seconds per file.
            np.savez(stream, **arrays)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    return path


def load_result(path):
    """Read a result file written by save_result; raise ResultFileError if it is not one."""
    return _read(path, lambda structure, archive: _decode(structure["result"], archive))


def load_result_header(path):
    """Return the status and params of a result file without reading its arrays.

    Returns {'status': ..., 'params': ...}; raises ResultFileError as load_result does.
    """

    def header(structure, archive):
        result = structure["result"]
        if not isinstance(result, dict):
            raise ResultFileError(f"{path} is not a result file of this project (no result dict)")
        return {"status": result.get("status"), "params": result.get("params", {})}

    return _read(path, header)


def _read(path, extract):
    """Open a result archive, check its format and return extract(structure, archive)."""
    path = Path(path)
    if not path.is_file():
        raise ResultFileError(f"result file not found: {path}")
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            # np.load returns a plain array for a .npy file
            raise ResultFileError(f"{path} is not a result file of this project (a .npy array, not an archive)")
        with archive:
            if _STRUCTURE_MEMBER not in archive.files:
                raise ResultFileError(f"{path} is not a result file of this project (no {_STRUCTURE_MEMBER} member)")
            structure = json.loads(str(archive[_STRUCTURE_MEMBER]))
            if not isinstance(structure, dict) or structure.get("format") != FORMAT_NAME:
                raise ResultFileError(f"{path} is not a result file of this project")
            if structure.get("version") != FORMAT_VERSION:
                raise ResultFileError(
                    f"{path} has result format version {structure.get('version')!r}; "
                    f"this code reads version {FORMAT_VERSION}"
                )
            return extract(structure, archive)
    except ResultFileError:
        raise
    except ValueError as error:
        # numpy reports a file that is neither .npy nor .npz (for example text,
        # or a pickle) as a ValueError that suggests allow_pickle; never follow it.
        raise ResultFileError(
            f"{path} is corrupt or not a result file of this project (numpy cannot read it as an .npz archive); "
            "delete it and rerun the run that wrote it"
        ) from error
    except (OSError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise ResultFileError(
            f"{path} is corrupt or not a result file of this project ({type(error).__name__}: {error}); "
            "delete it and rerun the run that wrote it"
        ) from error


# Parameters that set where a run's files go, not what it computes.
LOCATION_KEYS = ("data_dir", "figures_dir")


def parameter_differences(stored, requested):
    """Return {key: (stored value, requested value)} for the parameters that differ, ignoring LOCATION_KEYS."""
    differences = {}
    for key in sorted(set(stored) | set(requested)):
        if key in LOCATION_KEYS:
            continue
        old, new = stored.get(key, "(absent)"), requested.get(key, "(absent)")
        if old != new:
            differences[key] = (old, new)
    return differences


def format_differences(differences, limit=4):
    """Return 'n_train 20000 (file) vs 40000 (requested), ...' for the first limit differences."""
    items = [f"{key} {old!r} (file) vs {new!r} (requested)" for key, (old, new) in differences.items()]
    if len(items) > limit:
        items = items[:limit] + [f"{len(differences) - limit} more"]
    return ", ".join(items)


def probe_writable(folder):
    """Create and delete a file in folder; raise OSError if that fails.

    This tests what save_result will do. os.access checks the real user id,
    not the effective one, and reports every folder writable for root.
    """
    handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-check.", suffix=".tmp")
    os.close(handle)
    os.unlink(probe)


def check_output_folder(folder, option):
    """Create folder if needed and check that files can be written in it; raise UserError naming option if not.

    Called before a run starts, so an unwritable folder stops it before any work.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"--{option}={folder} is a file, not a folder; choose a folder with --{option}=PATH")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_writable(folder)
    except OSError as error:
        raise UserError(
            f"--{option}={folder} cannot be written ({error.strerror or error}); "
            f"choose a writable folder with --{option}=PATH"
        ) from None


def replaced_path(path):
    """Return a new path under <folder>/replaced/ for a result file being replaced, named by date and time.

    replaced/standard_array1_seed1.20261204-163012.npz, with -2, -3, ...
    appended when that name is taken, so no earlier replaced file is lost.
    """
    folder = path.parent / "replaced"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    candidate = folder / f"{path.stem}.{stamp}{path.suffix}"
    counter = 2
    while candidate.exists():
        candidate = folder / f"{path.stem}.{stamp}-{counter}{path.suffix}"
        counter += 1
    return candidate


def save_result_safely(path, result):
    """Save result to path, keeping a file already there under <folder>/replaced/; return the path.

    When path cannot be written (disk full, permissions changed during the
    run) the result goes to the system's temporary folder instead and a
    UserError names both paths, so a finished run is never lost.
    """
    path = Path(path)
    try:
        if path.is_file():
            previous = replaced_path(path)
            previous.parent.mkdir(exist_ok=True)
            os.replace(path, previous)
            log.info("moved the previous result file to %s", previous)
        return save_result(path, result)
    except OSError as error:
        fallback = Path(tempfile.gettempdir()) / "impression-unsaved" / path.name
        save_result(fallback, result)
        raise UserError(
            f"failed to write {path} ({error.strerror or error}); the result is saved in {fallback} instead; "
            "move it into the data folder"
        ) from None


def result_path(data_dir, mode, array_num, seed, tag=""):
    """Return the result file path of one run, named by mode, array index and seed.

    tag distinguishes results of several programs for the same mode and
    index, for example 'bp' for the backpropagation control.
    """
    prefix = f"{mode}_{tag}" if tag else mode
    return Path(data_dir) / f"{prefix}_array{array_num}_seed{seed}.npz"


def run_result_path(params):
    """Return the result file path of the run that params describe.

    Backprop-control runs get the tag 'bp'. Runs whose numbers depend on
    the REINFORCE variant (REINFORCE training, and every SNR run, which
    compares the rules) get the tag 'original' with the authors' rule, so
    both variants' files sit side by side.
    """
    tag = ""
    if params.get("algorithm") == "backprop":
        tag = "bp"
    elif params.get("algorithm") == "reinforce" or params.get("mode") == "SNR":
        tag = "original" if params.get("reinforce_variant") == "original" else ""
    return result_path(params["data_dir"], params["mode"], params["array_num"], params["seed"], tag)
