"""
A small thread-safe progress report for batches, windows and fits.

On a terminal it is a bar redrawn in place. When stderr is not a terminal (a
redirected run, a batch job's log file) a bar would be noise and nothing would
be silence, so it writes one plain line at intervals instead
(``fit: 420/1000 batches (42%), 3.1 batches/s, 135 s elapsed, ETA 187 s``):
work shorter than the interval writes nothing. ``$IPVAE_SNN_PROGRESS_INTERVAL``
sets the interval in seconds (default 10).

Written here rather than depending on tqdm: it needs to be updated from worker
threads and from the standalone runner, and to stay silent on request
(``--quiet``, ``progress=False``).

Examples
--------
A stream that is not a terminal gets lines (here one per update):

>>> import io
>>> out = io.StringIO()
>>> bar = ProgressBar(4, desc="demo", stream=out, unit=" items", line_interval=0)
>>> bar.update(2)
>>> bar.close()
>>> print(out.getvalue(), end="")
demo: 2/4 items (50%), ... items/s, 0.0 s elapsed, ETA 0.0 s
demo: 2/4 items (50%), ... items/s, 0.0 s elapsed, done
"""

import os
import sys
import threading
import time

__all__ = ["ProgressBar", "PROGRESS_INTERVAL_ENV", "DEFAULT_LINE_INTERVAL"]

#: Environment variable: seconds between two progress lines when stderr is
#: not a terminal.
PROGRESS_INTERVAL_ENV = "IPVAE_SNN_PROGRESS_INTERVAL"
#: Default of that interval, in seconds.
DEFAULT_LINE_INTERVAL = 10.0


def _line_interval():
    text = os.environ.get(PROGRESS_INTERVAL_ENV, "").strip()
    try:
        value = float(text) if text else DEFAULT_LINE_INTERVAL
    except ValueError:
        value = DEFAULT_LINE_INTERVAL
    return value if value > 0 else DEFAULT_LINE_INTERVAL


def _seconds(s):
    """``s`` seconds, short: ``0.4 s``, ``42 s``, ``3.5 min``, ``1.2 h``."""
    if s != s or s == float("inf"):
        return "?"
    if s < 10:
        return f"{s:.1f} s"
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"


class ProgressBar:
    """
    Report ``n`` of ``total`` units of work done on a stream.

    Parameters
    ----------
    total : int
        Number of units of work; none (0): nothing is reported.
    desc : str
        Label shown before the bar.
    enabled : bool or None
        ``True``: a bar redrawn in place; ``False``: nothing. ``None``
        (default): a bar when ``stream`` is a terminal, else one line every
        ``line_interval`` seconds (none for work that ends sooner).
    stream : file, optional
        Defaults to ``sys.stderr``.
    min_interval : float
        Minimal seconds between two redraws of the bar.
    unit : str
        Appended to the counts (``" patches"``).
    line_interval : float, optional
        Seconds between two lines when ``stream`` is not a terminal (default
        ``$IPVAE_SNN_PROGRESS_INTERVAL`` or 10).
    """

    def __init__(self, total, desc="", enabled=None, stream=None,
                 min_interval=0.2, unit="", line_interval=None):
        self.total = max(int(total), 1)
        self.desc = desc
        self.unit = unit
        self.stream = sys.stderr if stream is None else stream
        #: "bar", "lines" or None (silent)
        self.mode = None
        if total <= 0:
            pass
        elif enabled is None:
            tty = bool(getattr(self.stream, "isatty", lambda: False)())
            self.mode = "bar" if tty else "lines"
        elif enabled:
            self.mode = "bar"
        self.enabled = self.mode is not None
        self.min_interval = min_interval
        self.line_interval = _line_interval() if line_interval is None else line_interval
        self.n = 0
        self._start = time.perf_counter()
        self._last = 0.0 if self.mode == "bar" else self._start
        self._lines = 0
        self._lock = threading.Lock()

    def update(self, n=1):
        """Add ``n`` finished units and redraw (or write a line) if due."""
        with self._lock:
            self.n = min(self.n + n, self.total)
            if self.mode is None:
                return
            now = time.perf_counter()
            if self.mode == "bar":
                if now - self._last >= self.min_interval or self.n == self.total:
                    self._last = now
                    self._draw(now)
            elif now - self._last >= self.line_interval:
                self._last = now
                self._line(now)

    def counting(self, fn):
        """
        ``fn`` wrapped to add one unit each time a call of it returns.

        Examples
        --------
        >>> bar = ProgressBar(3, enabled=False)
        >>> square = bar.counting(lambda v: v * v)
        >>> square(2), square(3), bar.n
        (4, 9, 2)
        """
        def counted(*args, **kwargs):
            result = fn(*args, **kwargs)
            self.update(1)
            return result
        return counted

    def _rates(self, now):
        elapsed = now - self._start
        frac = self.n / self.total
        remaining = elapsed / frac - elapsed if frac > 0 else float("nan")
        return frac, elapsed, remaining

    def _draw(self, now):
        frac, elapsed, remaining = self._rates(now)
        width = 24
        filled = int(round(frac * width))
        bar = "#" * filled + " " * (width - filled)
        self.stream.write(f"\r{self.desc}: {100 * frac:3.0f}% |{bar}| "
                          f"{self.n}/{self.total}{self.unit} "
                          f"[{elapsed:.1f}s<{remaining:.1f}s]")
        self.stream.flush()

    def _line(self, now, done=False):
        frac, elapsed, remaining = self._rates(now)
        rate = self.n / elapsed if elapsed > 0 else float("nan")
        unit = self.unit.strip() or "units"
        end = "done" if done else f"ETA {_seconds(remaining)}"
        self.stream.write(f"{self.desc}: {self.n}/{self.total}{self.unit} "
                          f"({100 * frac:.0f}%), {rate:.3g} {unit}/s, "
                          f"{_seconds(elapsed)} elapsed, {end}\n")
        self.stream.flush()
        self._lines += 1

    def close(self):
        """Finish: end the bar's line, or say that work that reported is done."""
        with self._lock:
            if self.mode == "bar":
                self._draw(time.perf_counter())
                self.stream.write("\n")
                self.stream.flush()
            elif self.mode == "lines" and self._lines:
                self._line(time.perf_counter(), done=True)
            self.mode = None
            self.enabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
