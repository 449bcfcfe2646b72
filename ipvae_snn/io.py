"""
Files: atomic writing, reading one array from ``.npy``/``.npz``, and JSON.

Nothing a user saved is ever left half-written: every writer goes to a
temporary file in the destination's directory and then `os.replace`-s it over
the target, so a crash or a full disk leaves either the old file or the new
one, never a truncated mix.

`to_json` is the one converter of numpy values (and of NaN and infinity,
which JSON lacks) to JSON; every JSON this package writes goes through it.

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.io import json_dumps
>>> json_dumps({"r2": np.float32(0.5), "counts": np.arange(3), "fano": float("nan")})
'{"r2": 0.5, "counts": [0, 1, 2], "fano": null}'
"""

import contextlib
import json
import math
import os
import tempfile
import time

import numpy as np

from .validation import FileWriteError, InvalidValueError, MissingKeyError, check_file

__all__ = ["atomic_path", "atomic_savez", "atomic_save_json", "atomic_save_text",
           "remove_stale_temp_files", "STALE_TEMP_S",
           "load_array_file", "to_json", "json_dumps"]


#: Temporary files of an atomic write older than this (seconds) were left by a
#: process that was killed; the next write of the same target removes them.
STALE_TEMP_S = 600


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """
    Yield a temporary path next to ``path``; on success rename it onto ``path``.

    The temporary file is removed when the body fails or is interrupted
    (Ctrl-C, and SIGTERM where it raises, see `ipvae_snn._signals`); those of
    the same target left by a killed process (older than `STALE_TEMP_S`) are
    removed first.

    Parameters
    ----------
    path : str or os.PathLike
        The final destination.
    suffix : str, optional
        Suffix for the temporary file (``np.savez`` appends ``.npz`` to names
        that lack it, so pass ``".npz"`` there).

    Raises
    ------
    FileWriteError
        (an `OSError`) When the file cannot be written (disk full, no
        permission), naming ``path``; the target keeps its old content.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    prefix = ".tmp-" + os.path.basename(path) + "-"
    try:
        os.makedirs(directory, exist_ok=True)
        remove_stale_temp_files(directory, prefix)
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
        os.close(fd)
    except OSError as exc:
        raise FileWriteError(path, exc) from exc
    try:
        yield tmp
        # mkstemp creates the file 0600; give it the mode a plain open() would.
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, FileWriteError):
            raise FileWriteError(path, exc) from exc
        raise


def remove_stale_temp_files(directory, prefix, max_age_s=STALE_TEMP_S):
    """
    Remove the files ``directory/prefix*`` last changed over ``max_age_s``
    seconds ago (temporary files of an atomic write whose process was killed).
    """
    now = time.time()
    with contextlib.suppress(OSError):
        for name in os.listdir(directory):
            if name.startswith(prefix):
                full = os.path.join(directory, name)
                with contextlib.suppress(OSError):
                    if now - os.stat(full).st_mtime > max_age_s:
                        os.remove(full)


def _file_mode(path):
    try:
        return os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_savez(path, compress=False, **arrays):
    """Write ``arrays`` to ``path`` as ``.npz`` atomically."""
    writer = np.savez_compressed if compress else np.savez
    with atomic_path(path, suffix=".npz") as tmp:
        writer(tmp, **arrays)


def atomic_save_json(path, obj, indent=2):
    """Write ``obj`` as JSON to ``path`` atomically (numpy values allowed, see `to_json`)."""
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        f.write(json_dumps(obj, indent=indent) + "\n")


def atomic_save_text(path, text):
    """Write the string ``text`` to ``path`` (UTF-8) atomically."""
    with atomic_path(path, suffix=os.path.splitext(os.fspath(path))[1]) as tmp, \
            open(tmp, "w", encoding="utf-8") as f:
        f.write(text)


def load_array_file(path, key=None, default_key=None, what="array"):
    """
    Load one array from a ``.npy`` or ``.npz`` file.

    A ``.npz`` may hold its array under ``key``, under ``default_key``, or
    under any single key.

    Raises
    ------
    MissingFileError, MissingKeyError, InvalidValueError
        (`FileNotFoundError`, `KeyError`, `ValueError`) With a message naming
        the file and the problem.
    """
    path = check_file(path, what)
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for bad files
        raise InvalidValueError(f"{what} file '{path}' is not a readable .npy/.npz "
                                f"file: {exc}") from exc
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        keys = list(loaded.files)
        if key is not None:
            if key not in keys:
                raise MissingKeyError(f"{what} file '{path}' has no key '{key}' "
                                      f"(keys: {keys})")
        elif default_key is not None and default_key in keys:
            key = default_key
        elif len(keys) == 1:
            key = keys[0]
        elif not keys:
            raise InvalidValueError(f"{what} file '{path}' holds no arrays")
        else:
            raise MissingKeyError(f"{what} file '{path}' holds several arrays {keys}; "
                                  f"store it under the single key '{default_key}'")
        try:
            return loaded[key]
        except Exception as exc:  # a damaged member, an object array, ...
            raise InvalidValueError(f"{what} file '{path}': the array '{key}' cannot be "
                                    f"read: {exc}") from exc


def to_json(obj):
    """
    ``obj`` with numpy values as Python ones and non-finite floats as None.

    Dicts, lists and tuples are converted recursively (tuples become lists);
    numpy scalars and arrays become numbers and lists; NaN and ±inf, which
    JSON cannot hold, become None (``null``); other objects that JSON does
    not know become their `str`.

    Examples
    --------
    >>> import numpy as np
    >>> to_json({"a": np.int64(3), "b": (np.float64("inf"), "x")})
    {'a': 3, 'b': [None, 'x']}
    """
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    return str(obj)


def json_dumps(obj, indent=None):
    """``obj`` as valid JSON text (through `to_json`)."""
    return json.dumps(to_json(obj), indent=indent, allow_nan=False)
