"""
Atomic file writing: nothing a user saved is ever left half-written.

Every writer goes to a temporary file in the destination's directory and then
`os.replace`-s it over the target, so a crash or a full disk leaves either the
old file or the new one, never a truncated mix.
"""

import contextlib
import json
import os
import tempfile

import numpy as np

__all__ = ["atomic_path", "atomic_savez", "atomic_save_json", "atomic_save_text",
           "load_array_file"]


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """
    Yield a temporary path next to ``path``; on success rename it onto ``path``.

    Parameters
    ----------
    path : str or os.PathLike
        The final destination.
    suffix : str, optional
        Suffix for the temporary file (``np.savez`` appends ``.npz`` to names
        that lack it, so pass ``".npz"`` there).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-",
                               suffix=suffix, dir=directory)
    os.close(fd)
    try:
        yield tmp
        # mkstemp creates the file 0600; give it the mode a plain open() would.
        os.chmod(tmp, _file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


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
    """Write ``obj`` as JSON to ``path`` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=indent)
            f.write("\n")


def atomic_save_text(path, text):
    """Write the string ``text`` to ``path`` (UTF-8) atomically."""
    with atomic_path(path, suffix=os.path.splitext(os.fspath(path))[1]) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def load_array_file(path, key=None, default_key=None, what="array"):
    """
    Load one array from a ``.npy`` or ``.npz`` file.

    A ``.npz`` may hold its array under ``key``, under ``default_key``, or
    under any single key.

    Raises
    ------
    FileNotFoundError, KeyError, ValueError
        With a message naming the file and the problem.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} file '{path}' does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for bad files
        raise ValueError(f"{what} file '{path}' is not a readable .npy/.npz "
                         f"file: {exc}") from exc
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        keys = list(loaded.files)
        if key is not None:
            if key not in keys:
                raise KeyError(f"{what} file '{path}' has no key '{key}' "
                               f"(keys: {keys})")
            return loaded[key]
        if default_key is not None and default_key in keys:
            return loaded[default_key]
        if len(keys) == 1:
            return loaded[keys[0]]
        raise KeyError(f"{what} file '{path}' holds several arrays {keys}; "
                       f"store it under the single key '{default_key}'")
