"""
A small thread-safe text progress bar for batches, windows and fits.

Written here rather than depending on tqdm: it needs to be updated from worker
threads and from the standalone runner, and to stay silent in pipelines
(``--json``) and in tests.
"""

import sys
import threading
import time

__all__ = ["ProgressBar"]


class ProgressBar:
    """
    Print ``desc: 42% |#####     | 420/1000 [3.1s<4.2s]`` to a stream.

    Parameters
    ----------
    total : int
        Number of units of work.
    desc : str
        Label shown before the bar.
    enabled : bool or None
        ``None`` (default) shows the bar only when ``stream`` is a terminal.
    stream : file, optional
        Defaults to ``sys.stderr``.
    min_interval : float
        Minimal seconds between two redraws.
    """

    def __init__(self, total, desc="", enabled=None, stream=None,
                 min_interval=0.2, unit=""):
        self.total = max(int(total), 1)
        self.desc = desc
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        if enabled is None:
            enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = bool(enabled)
        self.min_interval = min_interval
        self.n = 0
        self._start = time.perf_counter()
        self._last = 0.0
        self._lock = threading.Lock()

    def update(self, n=1):
        """Add ``n`` finished units and redraw if due."""
        with self._lock:
            self.n = min(self.n + n, self.total)
            now = time.perf_counter()
            if self.enabled and (now - self._last >= self.min_interval
                                 or self.n == self.total):
                self._last = now
                self._draw(now)

    def _draw(self, now):
        frac = self.n / self.total
        elapsed = now - self._start
        remaining = elapsed / frac - elapsed if frac > 0 else float("nan")
        width = 24
        filled = int(round(frac * width))
        bar = "#" * filled + " " * (width - filled)
        self.stream.write(f"\r{self.desc}: {100 * frac:3.0f}% |{bar}| "
                          f"{self.n}/{self.total}{self.unit} "
                          f"[{elapsed:.1f}s<{remaining:.1f}s]")
        self.stream.flush()

    def close(self):
        """Finish the line."""
        with self._lock:
            if self.enabled:
                self._draw(time.perf_counter())
                self.stream.write("\n")
                self.stream.flush()
                self.enabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
