"""
Checks of the caller's input, and the exceptions they raise.

Every public function of ipvae-snn validates its arguments at the boundary
with the helpers below, so that one rule has one wording everywhere. The
exceptions all derive from `InputError`, a marker that says *the input was
wrong* (as opposed to a bug in ipvae-snn): the command line turns an
`InputError` into one line on stderr and exit status 2, and lets every other
exception show its traceback.

Each exception also derives from the built-in type callers expect:

=========================  ==========================================
`InvalidValueError`        `ValueError`: a value out of range, a wrong shape
`InvalidTypeError`         `TypeError` (and `ValueError`, see below)
`MissingKeyError`          `KeyError` (its message printed without quotes)
`NotRecordedError`         `KeyError` and `ValueError`: a window or neuron a
                           result did not record
`MissingFileError`         `FileNotFoundError`
`NotAFolderError`          `NotADirectoryError`
`FileWriteError`           `OSError`: an output that cannot be written
                           (disk full, no permission), naming its path
`MissingDependencyError`   `ImportError`: an optional package is missing
`UnavailableDeviceError`   `RuntimeError`: no C++ compiler, no brian2cuda
`UnavailableCacheError`    `RuntimeError`: a read-only cache without the
                           build, a build lock held too long
=========================  ==========================================

`InvalidTypeError` is also a value error, as scikit-learn's
``InvalidParameterError`` is both a `ValueError` and a `TypeError`: code that
catches `ValueError` for any bad argument keeps working. (Times with the wrong
Brian2 units raise `ipvae_snn.network.units.UnitError`, which derives from
`InputError` too; Brian2 is imported only inside `ipvae_snn.network`.)

Examples
--------
>>> from ipvae_snn.validation import check_int, InputError
>>> check_int(3, "n_windows")
3
>>> try:
...     check_int(0, "n_windows")
... except InputError as exc:
...     print(type(exc).__name__, exc)
InvalidValueError n_windows must be a positive integer, got 0
>>> check_int(2.5, "n_windows")
Traceback (most recent call last):
...
ipvae_snn.validation.InvalidTypeError: n_windows must be a positive integer, got 2.5
"""

import numbers
import os

import numpy as np

__all__ = ["InputError", "InvalidValueError", "InputScaleError", "InvalidTypeError",
           "MissingKeyError", "NotRecordedError", "MissingFileError", "NotAFolderError",
           "FileWriteError",
           "MissingDependencyError", "UnavailableDeviceError", "UnavailableCacheError",
           "check_int",
           "check_number", "check_choice", "check_constraint", "check_float_dtype",
           "check_seed",
           "check_callable",
           "check_record_windows", "check_recorded", "check_neurons",
           "check_file", "check_folder"]


class InputError(Exception):
    """Marker base of every error caused by the caller's input."""


class InvalidValueError(InputError, ValueError):
    """A value out of range, of the wrong shape or not finite."""


class InputScaleError(InvalidValueError):
    """
    Input patches far from the scale of the model's training data, refused
    (`ipvae_snn.data.check_input_scale` with ``strict=True``, ``--strict``).
    """


class InvalidTypeError(InputError, TypeError, ValueError):
    """An argument of the wrong type (also a `ValueError`, see the module notes)."""


class MissingKeyError(InputError, KeyError):
    """A key missing from a mapping or a file (the message is printed unquoted)."""

    def __str__(self):
        # KeyError's own str() quotes its argument, as it would a key.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class NotRecordedError(MissingKeyError, ValueError):
    """A window or neuron that a result did not record."""


class MissingFileError(InputError, FileNotFoundError):
    """A file or folder named by the caller does not exist."""


class NotAFolderError(InputError, NotADirectoryError):
    """A path the caller named as a folder is a file."""


class FileWriteError(InputError, OSError):
    """
    A file the caller asked for could not be written (disk full, no
    permission, read-only file system); the message names the path.
    """

    def __init__(self, path, cause, option=None):
        super().__init__(getattr(cause, "errno", None),
                         getattr(cause, "strerror", None) or str(cause), os.fspath(path))
        #: How the user named the path (``"--out"``), or None.
        self.option = option

    def __str__(self):
        if self.option:
            return f"{self.option} '{self.filename}' cannot be written: {self.strerror}"
        return f"cannot write '{self.filename}': {self.strerror}"


class MissingDependencyError(InputError, ImportError):
    """An optional package (an extra of ipvae-snn) is not installed."""


class UnavailableDeviceError(InputError, RuntimeError):
    """A code-generation device cannot run here (no compiler, no brian2cuda)."""


class UnavailableCacheError(InputError, RuntimeError):
    """
    The folder of compiled networks cannot be used: read-only without the
    build that is needed, or its build lock held by another process too long.
    """


# ------------------------------------------------------------------ numbers
def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    if isinstance(value, np.ndarray):       # a 0-d array holding a number
        return value.ndim == 0 and value.dtype.kind in "iuf"
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_int(value, name, minimum=1, maximum=None, reason=None):
    """
    An integer (not a bool) in ``[minimum, maximum]``, returned as `int`.

    Parameters
    ----------
    value : object
    name : str
        The argument's name, for the message.
    minimum, maximum : int or None
        Bounds (inclusive); None: unbounded.
    reason : str, optional
        Why the bound exists, appended to the message in parentheses.

    Raises
    ------
    InvalidTypeError
        ``value`` is not an integer.
    InvalidValueError
        ``value`` is out of range.

    Examples
    --------
    >>> check_int(5, "count_windows", 1, 8)
    5
    >>> check_int(40, "count_windows", 1, 8)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: count_windows must be an integer in [1, 8], got 40
    """
    if minimum == 1 and maximum is None:
        expected = "a positive integer"
    elif maximum is None:
        expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    elif minimum is None:
        expected = f"an integer <= {maximum}"
    else:
        expected = f"an integer in [{minimum}, {maximum}]"
    if reason:
        expected += f" ({reason})"
    if not _is_int(value):
        raise InvalidTypeError(f"{name} must be {expected}, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None
                                                     and value > maximum):
        raise InvalidValueError(f"{name} must be {expected}, got {value!r}")
    return int(value)


def _interval(low, high, low_open, high_open):
    if high is None:
        if low == 0:
            return "a positive number" if low_open else "a number >= 0"
        return f"a number {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return (f"in {'(' if low_open else '['}{low:g}, {high:g}"
            f"{')' if high_open else ']'}")


def check_number(value, name, low=None, high=None, low_open=False, high_open=False,
                 units=""):
    """
    A finite real number (not a bool) within bounds, returned as `float`.

    Parameters
    ----------
    value : object
    name : str
    low, high : float or None
        Bounds; None: unbounded.
    low_open, high_open : bool
        Exclude the bound itself (``low_open=True, low=0``: positive).
    units : str
        Units named in the message (e.g. ``" of seconds"``).

    Raises
    ------
    InvalidTypeError
        Not a real number.
    InvalidValueError
        NaN, infinite or out of range.

    Examples
    --------
    >>> check_number(0.1, "window_s", low=0, low_open=True)
    0.1
    >>> check_number(-1, "max_count", low=0, low_open=True)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: max_count must be a positive number, got -1
    """
    expected = _interval(low, high, low_open, high_open) if (low, high) != (None, None) \
        else "a finite number"
    if not expected.startswith("a "):
        expected = "a number " + expected
    expected += units
    # A Brian2 quantity with units is an ndarray too: only plain numbers pass.
    if not _is_real(value) or not getattr(value, "is_dimensionless", True):
        raise InvalidTypeError(f"{name} must be {expected}, got {value!r}")
    v = float(value)
    bad = (not np.isfinite(v)
           or (low is not None and (v < low or (low_open and v == low)))
           or (high is not None and (v > high or (high_open and v == high))))
    if bad:
        raise InvalidValueError(f"{name} must be {expected}, got {value!r}")
    return v


def check_choice(value, name, options):
    """
    ``value`` if it is one of ``options``.

    Raises
    ------
    InvalidValueError
        Naming the options.
    """
    try:
        if value in options:
            return value
    except TypeError:           # unhashable values against a set of options
        pass
    raise InvalidValueError(f"unknown {name} {value!r}; choose one of {tuple(options)}")


def check_seed(seed, name="seed"):
    """
    A seed as numpy takes it: None, an integer >= 0 or a
    `numpy.random.SeedSequence`; returned unchanged.

    Examples
    --------
    >>> check_seed(3), check_seed(None)
    (3, None)
    >>> check_seed(-1)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: seed must be None or an integer >= 0, got -1
    """
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return seed
    expected = "None or an integer >= 0"
    if not _is_int(seed):
        raise InvalidTypeError(f"{name} must be {expected}, got {seed!r}")
    if seed < 0:
        raise InvalidValueError(f"{name} must be {expected}, got {seed!r}")
    return seed


def check_float_dtype(dtype, name="dtype"):
    """``dtype`` as a `numpy.dtype`, if it is float32 or float64."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise InvalidTypeError(f"{name} must be float32 or float64, got {dtype!r}") from None
    if dt not in (np.float32, np.float64):
        raise InvalidValueError(f"{name} must be float32 or float64, got {dt}")
    return dt


def check_callable(value, name, signature=""):
    """``value`` if callable; `InvalidTypeError` naming ``signature`` otherwise."""
    if not callable(value):
        how = f" as {signature}" if signature else ""
        raise InvalidTypeError(f"{name} must be callable{how}, got "
                               f"{type(value).__name__}")
    return value


# ----------------------------------------------------------------- windows
def check_record_windows(record_windows, n_windows, name="record_windows"):
    """
    The windows a run records: sorted, unique, inside ``[0, n_windows)``.

    Parameters
    ----------
    record_windows : array_like of int or None
        None: every window.
    n_windows : int

    Returns
    -------
    ndarray of int64

    Examples
    --------
    >>> check_record_windows([16, 4, 4], 20).tolist()
    [4, 16]
    """
    if record_windows is None:
        return np.arange(n_windows)
    values = np.asarray(record_windows) if not isinstance(record_windows, str) else None
    if values is None or values.dtype.kind not in "iu" and not (
            values.dtype.kind in "fb" and values.size == 0):
        raise InvalidTypeError(f"{name} must be None (every window) or window indices "
                               f"(integers), got {record_windows!r}")
    w = np.unique(values.astype(np.int64).ravel())
    if w.size and (w[0] < 0 or w[-1] >= n_windows):
        raise InvalidValueError(f"{name} must lie in [0, {n_windows - 1}] "
                                f"(n_windows={n_windows}), got {w.tolist()[:10]}")
    return w


def check_recorded(values, recorded, name="windows", what="window"):
    """
    ``values`` as an int64 array, each of which must be in ``recorded``.

    Parameters
    ----------
    values : int or array_like of int
        Windows (or neurons) asked for.
    recorded : array_like of int
        Those a result holds.
    name : str
        The argument's name.
    what : str
        What the values are ("window", "neuron").

    Raises
    ------
    NotRecordedError
        Naming the missing values and the recorded ones (also a `KeyError`
        and a `ValueError`).
    """
    values = np.asarray(values, dtype=np.int64).ravel()
    recorded = np.asarray(recorded, dtype=np.int64).ravel()
    missing = np.setdiff1d(values, recorded)
    if values.size == 0 or missing.size:
        if missing.size == 1:
            which = f"{what} {int(missing[0])} was"
        elif missing.size:
            which = f"{what}s {missing[:10].tolist()} were"
        else:
            which = f"no {what} was given:"
        more = " ..." if recorded.size > 20 else ""
        raise NotRecordedError(f"{name}: {which} not recorded; recorded {what}s: "
                               f"{recorded[:20].tolist()}{more}")
    return values


def check_neurons(selection, n_neurons, name="record_u"):
    """
    A selection of neurons, as `record_u` takes it.

    Parameters
    ----------
    selection : None, bool or array_like of int
        ``None`` or ``False``: none; ``True``: all; indices: those neurons, in
        the given order.
    n_neurons : int

    Returns
    -------
    tuple of int or None
        None when no neuron is selected.

    Examples
    --------
    >>> check_neurons(True, 3), check_neurons(False, 3), check_neurons([2, 0], 3)
    ((0, 1, 2), None, (2, 0))
    """
    if selection is None or selection is False:
        return None
    if selection is True:
        return tuple(range(n_neurons))
    idx = np.atleast_1d(np.asarray(selection))
    if idx.ndim != 1 or (idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0
                                       or idx.max() >= n_neurons)):
        raise InvalidValueError(f"{name} must be True, False, None or neuron indices in "
                                f"[0, {n_neurons - 1}], got {selection!r}")
    return tuple(int(i) for i in idx) or None


# ------------------------------------------------------------------- paths
def check_constraint(value, name, rule):
    """
    Check ``value`` against a declarative rule (estimators'
    ``_parameter_constraints``): ``("int", minimum)``, ``("number", low, high
    [, "open" | "half-open" | "closed"])`` (default open: ``low < v < high``;
    None: unbounded), ``("choice", options)``, ``("optional", rule)`` (None
    or the rule).

    Examples
    --------
    >>> check_constraint(0.5, "running_decay", ("number", 0, 1, "half-open"))
    >>> check_constraint(None, "n_jobs", ("optional", ("int", 1)))
    >>> check_constraint(0, "batch_size", ("int", 1))
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: batch_size must be a positive integer, got 0
    """
    kind = rule[0]
    if kind == "optional":
        if value is not None:
            check_constraint(value, name, rule[1])
    elif kind == "int":
        check_int(value, name, minimum=rule[1])
    elif kind == "choice":
        check_choice(value, name, rule[1])
    elif kind == "number":
        bounds = rule[3] if len(rule) > 3 else "open"
        check_number(value, name, low=rule[1], high=rule[2], low_open=bounds == "open",
                     high_open=bounds in ("open", "half-open"))
    else:
        raise ValueError(f"unknown constraint {rule!r} for {name}")


def check_file(path, what):
    """
    ``path`` as a string, if it exists.

    Raises
    ------
    MissingFileError
        ``"<what> file '<path>' does not exist"``.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        # "NWB file" names its kind already: no "NWB file file"
        noun = what if what.endswith("file") else f"{what} file"
        raise MissingFileError(f"{noun} '{path}' does not exist")
    return path


def check_folder(path, what, hint=""):
    """
    ``path`` as a string, if it is an existing folder.

    Raises
    ------
    MissingFileError, NotAFolderError
        Naming ``what`` and the path; ``hint`` is added to the second.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MissingFileError(f"{what} '{path}' does not exist")
    if not os.path.isdir(path):
        raise NotAFolderError(f"'{path}' is not a folder{hint}")
    return path
