"""
How a compiled program's run or build failed for want of resources, rather
than of a damaged build: out of memory (`ProgramOutOfMemory`: the build is
kept, the run was too large) and no space in the cache (`CacheFullError`:
nothing half-written is kept). `ipvae_snn.network.program` raises them.
"""

import errno
import os
import re
import signal

from ..defaults import CACHE_ENV
from ..validation import InputError, UnavailableCacheError

__all__ = ["ProgramOutOfMemory", "CacheFullError"]


class ProgramOutOfMemory(InputError, MemoryError):
    """
    The compiled program ran out of memory: the run was too large, the build
    is fine (it is kept). An `InputError`: the command line reports it in one
    line.
    """


class CacheFullError(UnavailableCacheError):
    """
    The cache folder has no room for a build or a run's files (no space
    left, a disk quota, a file-size limit): nothing half-written is kept.
    """

    def __init__(self, folder, why, what="the cache folder"):
        super().__init__(f"{what} '{folder}' has no space left ({why}); free space "
                         f"there or set {CACHE_ENV} to a folder with room")
        self.folder = folder


# What the system (or numpy, or a compiler's output) says when a write does
# not fit: errno values and texts.
_NO_SPACE_ERRNOS = {errno.ENOSPC: "no space left on the device",
                    errno.EDQUOT: "the disk quota is exceeded",
                    errno.EFBIG: "a file is larger than the file-size limit, ulimit -f"}
_NO_SPACE_TEXT = re.compile(r"No space left on device|Disk quota exceeded|File too large"
                            r"|\d+ requested and \d+ written")


def _no_space(exc):
    """
    Why ``exc`` (an exception, with its causes, or a text) means that a write
    did not fit, or ''.

    Examples
    --------
    >>> _no_space(OSError(errno.ENOSPC, "No space left on device"))
    'no space left on the device'
    >>> _no_space(OSError("262144 requested and 2560 written"))
    'a write was cut short: 262144 requested and 2560 written'
    >>> _no_space(ValueError("bad"))
    ''
    """
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, OSError) and exc.errno in _NO_SPACE_ERRNOS:
            return _NO_SPACE_ERRNOS[exc.errno]
        found = _NO_SPACE_TEXT.search(str(exc))
        if found:
            text = found.group(0)
            for code, why in _NO_SPACE_ERRNOS.items():
                if os.strerror(code) == text:
                    return why
            return f"a write was cut short: {text}"
        if isinstance(exc, str):
            break
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return ""


def _out_of_memory(code, output):
    """
    Why a program's end means it ran out of memory, or ''.

    ``std::bad_alloc`` (an allocation failed, under ``ulimit -v`` or a full
    machine) aborts it: SIGABRT, the C++ runtime's message on stderr. SIGKILL
    is what the kernel's out-of-memory killer sends (this package sends
    SIGTERM first when it stops its programs).

    Examples
    --------
    >>> _out_of_memory(-6, "terminate called after throwing an instance of 'std::bad_alloc'")
    'std::bad_alloc'
    >>> _out_of_memory(-6, ""), _out_of_memory(0, "")
    ('', '')
    """
    if code < 0 and -code == signal.SIGKILL:
        return "killed by SIGKILL, most likely by the system's out-of-memory killer"
    for marker in ("std::bad_alloc", "Cannot allocate memory", "out of memory"):
        if code != 0 and marker in output:
            return marker
    return ""
