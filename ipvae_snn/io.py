"""
Files: the one output-path policy, reading one array from ``.npy``/``.npz``,
and JSON.

Every file this package writes at a path the user named (``--out``,
``--nwb``, ``--figure``, checkpoints, the ``save`` methods) goes through
`atomic_path`, which applies one policy:

- **Regular files are written atomically**: to a temporary file beside the
  target, then `os.replace`-d onto it, so that a crash or a full disk leaves
  either the old file or the new one, never a truncated mix. The temporary
  name is at most ~90 bytes whatever the target's name, so every name the
  file system allows works.
- **Character devices and FIFOs** (``/dev/null``, a named pipe) and the
  standard streams (``/dev/stdout``, ``/dev/stderr``, ``/dev/fd/N``,
  ``/proc/self/fd/N``) are **written through**: opened and written in place,
  never replaced (a device node stays a device node, even for root).
  Sockets and block devices are refused.
- **Symbolic links are followed**: the link's target is written, the link
  is kept.
- Folders missing on the way to the target are created.

`check_output_path` applies the same rules without writing anything, so that
the command line checks every output before any work starts (a folder, a path
under a file, a name too long, a folder it may not write to) and fails in
one line naming the option.

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
import errno
import hashlib
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import time

import numpy as np

from .validation import FileWriteError, InvalidValueError, MissingKeyError, check_file

__all__ = ["atomic_path", "atomic_savez", "atomic_save_json", "atomic_save_text",
           "check_output_path", "check_output_paths", "OutputTarget", "unreadable_reason",
           "remove_stale_temp_files", "STALE_TEMP_S",
           "load_array_file", "to_json", "json_dumps"]


#: Temporary files of an atomic write older than this (seconds) were left by a
#: process that was killed; the next write of the same target removes them.
STALE_TEMP_S = 600

# The standard streams and open descriptors: written through whatever they
# point at (a pipe, a terminal, or the file the shell redirected them to).
_STREAM_PATH = re.compile(r"^/(dev/(stdout|stderr|stdin|fd/\d+)|"
                          r"proc/(self|thread-self|\d+)/fd/\d+)$")
# Characters of the target's name kept in its temporary names: bounded, so
# that a name as long as the file system allows still has a temporary name.
_MAX_STEM = 48


class OutputTarget:
    """
    Where `atomic_path` writes an output path (see `check_output_path`).

    Attributes
    ----------
    path : str
        The path as given.
    target : str
        The file written: ``path`` with symbolic links resolved.
    through : bool
        True for a character device, a FIFO or a standard stream, written
        in place; False for a regular file, written atomically.
    """

    def __init__(self, path, target, through):
        self.path, self.target, self.through = path, target, through

    def __repr__(self):
        return (f"OutputTarget({self.path!r}, target={self.target!r}, "
                f"through={self.through})")


def _refuse(path, reason, option, code=errno.EINVAL):
    return FileWriteError(path, OSError(code, reason), option=option)


def check_output_path(path, option=None):
    """
    Check that ``path`` can be written, without writing anything.

    Parameters
    ----------
    path : str or os.PathLike
    option : str, optional
        How the user named the path (``"--out"``), for the message.

    Returns
    -------
    OutputTarget

    Raises
    ------
    FileWriteError
        (an `OSError`) In one line naming ``option`` and ``path``: the path
        is a folder, lies under a file, has a name longer than the file
        system allows, is a socket or block device, or lies in a folder
        this process may not write to.

    Examples
    --------
    >>> check_output_path("results.npz").through
    False
    >>> check_output_path("/dev/null").through
    True
    >>> check_output_path("/", option="--out")
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.FileWriteError: --out '/' cannot be written: it is a folder; name a file
    """
    path = os.fspath(path)
    if not path:
        raise _refuse(path, "the path is empty", option)
    target = _resolve(os.path.abspath(path))
    if _STREAM_PATH.match(target):
        return OutputTarget(path, target, True)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:             # ENOTDIR (under a file), ENAMETOOLONG, EACCES
        if exc.errno != errno.ENOTDIR:
            raise FileWriteError(path, exc, option=option) from None
        st = None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise _refuse(path, "it is a folder; name a file", option, errno.EISDIR)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            if not os.access(target, os.W_OK):
                raise _refuse(path, "permission denied", option, errno.EACCES)
            return OutputTarget(path, target, True)
        if not stat.S_ISREG(st.st_mode):
            kind = "a socket" if stat.S_ISSOCK(st.st_mode) else "a block device"
            raise _refuse(path, f"it is {kind}; outputs are regular files, character "
                                f"devices (/dev/null) or FIFOs", option)
    # the nearest folder that exists: the file, or the folders to create, go there
    folder = os.path.dirname(target)
    while not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder):
        raise _refuse(path, f"'{folder}' is a file, not a folder", option, errno.ENOTDIR)
    if not os.access(folder, os.W_OK | os.X_OK):
        reason = ("the file system is read-only" if _read_only(folder)
                  else "permission denied")
        raise _refuse(path, f"{reason} in the folder '{folder}'", option, errno.EACCES)
    limit = _name_max(folder)
    names = _new_names(target, folder)
    for name in names:
        if len(os.fsencode(name)) > limit:
            raise _refuse(path, f"the name '{name[:20]}...' is {len(os.fsencode(name))} "
                                f"bytes, more than the file system allows ({limit})",
                          option, errno.ENAMETOOLONG)
    # the permission bits do not tell everything (root, sysfs, ACLs): create
    # and remove a file of the kind the write will create there
    try:
        fd, probe = tempfile.mkstemp(prefix=_temp_prefix(names[0] if names else "out"),
                                     suffix=".probe", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise _refuse(path, f"{exc.strerror or exc} in the folder '{folder}'", option,
                      exc.errno or errno.EACCES) from None
    return OutputTarget(path, target, False)


def check_output_paths(paths):
    """
    `check_output_path` for each ``option -> path`` of ``paths`` (None
    values skipped), before any work; returns ``option -> OutputTarget``.

    Examples
    --------
    >>> sorted(check_output_paths({"--out": "r.npz", "--figure": None}))
    ['--out']
    """
    return {option: check_output_path(path, option)
            for option, path in paths.items() if path}


def _resolve(path):
    """
    ``path`` with its symbolic links resolved, stopping at a standard stream
    (``/dev/stdout`` is a link to ``/proc/self/fd/1``, which names a pipe or a
    terminal rather than a path).
    """
    for _ in range(40):                # the kernel's limit of links in a row
        if _STREAM_PATH.match(path) or not os.path.islink(path):
            break
        path = os.path.normpath(os.path.join(os.path.dirname(path), os.readlink(path)))
    return path if _STREAM_PATH.match(path) else os.path.realpath(path)


def _new_names(target, folder):
    """The names ``target`` adds below the existing ``folder`` (folders, then the file)."""
    rel = os.path.relpath(target, folder)
    return [part for part in rel.split(os.sep) if part not in ("", ".")]


def _name_max(folder):
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def _read_only(folder):
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _temp_prefix(name):
    """
    The prefix of the temporary names of a target called ``name``: the name
    itself when short, else its start and a hash (a bounded length).

    Examples
    --------
    >>> _temp_prefix("model.npz")
    '.tmp-model.npz-'
    >>> len(_temp_prefix("x" * 250))
    54
    """
    if len(name) > _MAX_STEM:
        digest = hashlib.sha1(os.fsencode(name)).hexdigest()[:8]
        name = name[:_MAX_STEM - 9] + "~" + digest
    return ".tmp-" + name + "-"


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """
    Yield a temporary path to write; on success it becomes ``path``.

    The output-path policy of the module applies (`check_output_path`
    first): a regular file is replaced atomically by the temporary file,
    written beside it; a device, FIFO or standard stream gets the temporary
    file's bytes written into it in place; a symbolic link's target is
    written. The temporary file is removed when the body fails or is
    interrupted (Ctrl-C, and SIGTERM where it raises, see
    `ipvae_snn._signals`); those of the same target left by a killed process
    (older than `STALE_TEMP_S`) are removed first.

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
        (an `OSError`) When the file cannot be written (see
        `check_output_path`; disk full, no permission), naming ``path``; the
        target keeps its old content.
    """
    out = check_output_path(path)
    path, target = out.path, out.target
    suffix = suffix[:8]
    try:
        if out.through:
            # the bytes are staged in the temporary folder, then copied in
            fd, tmp = tempfile.mkstemp(prefix=".tmp-ipvae-snn-", suffix=suffix)
        else:
            directory = os.path.dirname(target)
            prefix = _temp_prefix(os.path.basename(target))
            os.makedirs(directory, exist_ok=True)
            remove_stale_temp_files(directory, prefix)
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
        os.close(fd)
    except OSError as exc:
        raise FileWriteError(path, exc) from exc
    try:
        yield tmp
        if out.through:
            _write_through(tmp, target)
            os.remove(tmp)
        else:
            # mkstemp creates the file 0600; give it the mode a plain open() would.
            os.chmod(tmp, _file_mode(target))
            os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, FileWriteError):
            raise FileWriteError(path, exc) from exc
        raise


def _write_through(source, target):
    """Copy the file ``source`` into the device, FIFO or stream ``target`` in place."""
    if os.path.abspath(target) in ("/dev/stdout", "/proc/self/fd/1", "/dev/fd/1"):
        sys.stdout.flush()             # what was printed comes first
    # append: a stream redirected to a file keeps what was written before;
    # no O_CREAT, no O_TRUNC: nothing is created or replaced
    fd = os.open(target, os.O_WRONLY | os.O_APPEND)
    with open(fd, "wb") as dst, open(source, "rb") as src:
        shutil.copyfileobj(src, dst, 1 << 20)


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
                                f"file: {unreadable_reason(path, exc)}") from exc
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


# The first bytes of the formats users hand over by mistake.
_MAGIC = ((b"\x89HDF\r\n\x1a\n", "it is an HDF5 file (an NWB file?), not .npy/.npz"),
          (b"\x93NUMPY", None), (b"PK\x03\x04", None),
          (b"\x80", "it is a Python pickle; only .npy/.npz files are read"))


def unreadable_reason(path, exc):
    """
    Why numpy could not read ``path``, in the user's terms: the kind of file
    it is (HDF5/NWB, text, empty) rather than numpy's "pickled data".

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     open(os.path.join(d, "p.npy"), "w").write("1 2 3")
    ...     unreadable_reason(os.path.join(d, "p.npy"), ValueError("pickled data"))
    5
    'it is a text file, not .npy/.npz (save arrays with numpy.save or numpy.savez)'
    """
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return str(exc)
    if not head:
        return "the file is empty"
    for magic, reason in _MAGIC:
        if head.startswith(magic):
            return reason or str(exc)
    try:
        head.decode("utf-8")
        text = True
    except UnicodeDecodeError as err:      # a multi-byte character cut at 512
        text = err.start > len(head) - 4
    if text:
        return "it is a text file, not .npy/.npz (save arrays with numpy.save or numpy.savez)"
    return "it is not a .npy/.npz file (numpy: " + str(exc).splitlines()[0] + ")"


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
