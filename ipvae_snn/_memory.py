"""
How much memory a run may use: ``$IPVAE_SNN_MEMORY_LIMIT``, or what the
system has available now; `check_memory` compares a run's estimate with it
before anything is allocated.
"""

import os

from .validation import InvalidValueError

__all__ = ["available_memory", "format_bytes", "check_memory"]

_SUFFIXES = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def format_bytes(n):
    """
    ``n`` bytes in a readable unit.

    Examples
    --------
    >>> format_bytes(3 * 1024 ** 3), format_bytes(512)
    ('3.0 GiB', '512 B')
    """
    for unit, size in (("TiB", 1024 ** 4), ("GiB", 1024 ** 3), ("MiB", 1024 ** 2),
                       ("KiB", 1024)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _memory_limit_from_env():
    from .defaults import MEMORY_LIMIT_ENV
    text = os.environ.get(MEMORY_LIMIT_ENV, "").strip().upper().removesuffix("B")
    if not text:
        return None
    suffix = text[-1] if text[-1] in _SUFFIXES else ""
    try:
        value = float(text[:len(text) - len(suffix)]) * _SUFFIXES[suffix]
    except ValueError:
        raise InvalidValueError(f"{MEMORY_LIMIT_ENV} must be a number of bytes (suffix "
                                f"K, M, G or T allowed), got {os.environ[MEMORY_LIMIT_ENV]!r}"
                                ) from None
    return value, f"the limit {MEMORY_LIMIT_ENV}={os.environ[MEMORY_LIMIT_ENV]}"


def _cgroup_available():
    """Memory left under this process's cgroup (v2) limit, or None."""
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open("/sys/fs/cgroup/memory.current") as f:
            return max(0, int(limit) - int(f.read().strip()))
    except (OSError, ValueError):
        return None


def available_memory():
    """
    The bytes of memory a run may allocate, and where that number comes from.

    ``$IPVAE_SNN_MEMORY_LIMIT`` when set (bytes, or with a K/M/G/T suffix),
    else the memory available now (``MemAvailable`` of ``/proc/meminfo``, the
    cgroup's limit when lower, or the free pages), or ``(None, "")`` where none
    of those can be read.

    Returns
    -------
    (float or None, str)
    """
    from_env = _memory_limit_from_env()
    if from_env is not None:
        return from_env
    available = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    available = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if available is None:
        try:
            available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None, ""
    cgroup = _cgroup_available()
    if cgroup is not None:
        available = min(available, cgroup)
    return float(available), "the memory available"


def check_memory(nbytes, what, hint=""):
    """
    Refuse a run whose arrays would not fit in memory, before allocating them.

    Parameters
    ----------
    nbytes : float
        The estimated bytes of the run's arrays.
    what : str
        The arguments that set the size, as the caller named them
        (``"n_windows=1000 x 500 patches"``).
    hint : str, optional
        What to do instead.

    Raises
    ------
    InvalidValueError
        Naming ``what``, the estimate and the memory available (see
        `available_memory`).

    Examples
    --------
    >>> check_memory(1024, "n_windows=2")
    >>> check_memory(2 ** 80, "n_windows=10**20")
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: n_windows=10**20: needs about ...
    """
    limit, source = available_memory()
    if limit is None or nbytes <= limit:
        return
    raise InvalidValueError(f"{what}: needs about {format_bytes(nbytes)} of memory, more "
                            f"than {source} ({format_bytes(limit)})"
                            + (f"; {hint}" if hint else ""))
