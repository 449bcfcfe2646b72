"""
The memory model: how much memory a run may use (``$IPVAE_SNN_MEMORY_LIMIT``,
or what the system has available now), and how many spikes a run will
produce (`ipvae_snn.network.volume.spike_volume`, from the model and the input). Callers estimate a
run's bytes from its array sizes and its spike volume, and
`check_memory` compares the estimate with the limit
before anything is allocated.
"""

import math
import os
import re

from .validation import InvalidValueError

__all__ = ["available_memory", "format_bytes", "parse_size", "check_memory"]

# Units of sizes, as GNU tools (dd, sort -S, head -c) read them: a bare letter
# and the IEC "iB" forms are binary (1K = 1KiB = 1024 bytes), "KB", "MB"...
# are decimal (1KB = 1000 bytes); "B" or nothing: bytes. Case is ignored.
_UNITS = {"": 1, "B": 1}
for _power, _letter in enumerate("KMGTPE", start=1):
    _UNITS[_letter] = _UNITS[_letter + "IB"] = 1024 ** _power
    _UNITS[_letter + "B"] = 1000 ** _power
_SIZE = re.compile(r"^\s*(?P<number>[0-9]*\.?[0-9]+(?:E[+-]?[0-9]+)?)\s*(?P<unit>[A-Z]*)\s*$")


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


def parse_size(text, name):
    """
    A size in bytes from ``text``: a positive, finite number with an optional
    unit — ``B``; ``K``, ``M``, ``G``, ``T`` and ``KiB``, ``MiB``, ``GiB``,
    ``TiB`` (binary, 1024 ** n); ``KB``, ``MB``, ``GB``, ``TB`` (decimal,
    1000 ** n), case ignored, as GNU ``dd`` and ``sort -S`` read them.

    Raises
    ------
    InvalidValueError
        Naming ``name`` (the option or variable the text came from).

    Examples
    --------
    >>> parse_size("2G", "X") == parse_size("2GiB", "X") == 2 * 1024 ** 3
    True
    >>> parse_size("2GB", "X"), parse_size("512", "X"), parse_size("1.5k", "X")
    (2000000000.0, 512.0, 1536.0)
    >>> parse_size("nan", "IPVAE_SNN_MEMORY_LIMIT")
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: IPVAE_SNN_MEMORY_LIMIT must be a positive \
size in bytes, with an optional unit (B, K/KiB, KB, M/MiB, MB, G/GiB, GB, T/TiB, TB), got 'nan'
    """
    match = _SIZE.match(str(text).upper())
    value = None
    if match and match["unit"] in _UNITS:
        value = float(match["number"]) * _UNITS[match["unit"]]
    if value is None or not (math.isfinite(value) and value > 0):
        raise InvalidValueError(
            f"{name} must be a positive size in bytes, with an optional unit (B, "
            f"K/KiB, KB, M/MiB, MB, G/GiB, GB, T/TiB, TB), got {text!r}")
    return value


def _memory_limit_from_env():
    from .defaults import MEMORY_LIMIT_ENV
    text = os.environ.get(MEMORY_LIMIT_ENV, "")
    if not text.strip():
        return None
    return (parse_size(text, MEMORY_LIMIT_ENV),
            f"the limit {MEMORY_LIMIT_ENV}={text.strip()}")


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

    ``$IPVAE_SNN_MEMORY_LIMIT`` when set (a size, as `parse_size` reads it),
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
