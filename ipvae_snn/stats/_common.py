"""
What the measure modules of `ipvae_snn.stats` share: the optional Elephant and
neo back-ends and a median that ignores undefined values.
"""

import numpy as np

from ..validation import MissingDependencyError, check_choice

__all__ = []

STATS_EXTRA = ("the 'stats' extra is needed for this: pip install "
               "'ipvae-snn[stats]' (Elephant and neo)")


def elephant_statistics():
    """`elephant.statistics`, or None where Elephant is not installed."""
    try:
        import elephant.statistics as es
    except ImportError:
        return None
    return es


def backend(name):
    """The Elephant module for ``name`` ('auto', 'elephant', 'numpy'), or None for numpy."""
    check_choice(name, "backend", ("auto", "elephant", "numpy"))
    if name == "numpy":
        return None
    es = elephant_statistics()
    if es is None and name == "elephant":
        raise MissingDependencyError(f"backend='elephant': {STATS_EXTRA}")
    return es


def import_neo():
    """``(neo, quantities)``; `MissingDependencyError` naming the extra otherwise."""
    try:
        import neo
        import quantities as pq
    except ImportError as exc:
        raise MissingDependencyError(f"{STATS_EXTRA} ({exc})") from None
    return neo, pq


def nanmedian(values):
    """The median of the finite values, NaN when there are none."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")
