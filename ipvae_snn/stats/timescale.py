"""
The time scale of the comparison: one FOND step (one window) in biological
time.

The model counts spikes per window; rates in spikes/s are ``count /
window_s``, so every rate-based row of the cortex table scales with
``1 / window_s`` while count-based rows (Fano factor and noise correlation at
a fixed number of windows per count, sparseness, the SD of log10 rate) do not
move. `rates_by_window` shows the rate rows against the window length and
`DOCUMENTED_WINDOW_S` is the setting this package documents, chosen from the
literature on the integration time of cortical neurons, not from the table.

Examples
--------
>>> import numpy as np
>>> from ipvae_snn.stats import rates_by_window
>>> counts = np.array([[0.5, 2.0, 4.0]])                  # mean counts per window
>>> rows = rates_by_window(counts, [0.02, 0.1])
>>> [r["median_rate_hz"] for r in rows]
[100.0, 20.0]
"""

import numpy as np

from ..validation import InvalidValueError
from .counts import firing_rates, lognormal_fit

__all__ = ["rates_by_window", "DOCUMENTED_WINDOW_S", "WINDOW_LENGTHS_S", "TIMESCALE_SOURCES"]

#: The documented window length: one FOND step per membrane (integration)
#: time constant of a cortical neuron. About 20 ms is the typical membrane
#: time constant of neurons (10–30 ms in cortical pyramidal cells in vitro),
#: and synaptic background activity in vivo shortens it further (Destexhe &
#: Paré 1999: about a fivefold drop of input resistance), so 20 ms is an
#: upper-middle value; see `TIMESCALE_SOURCES` and ``docs/statistics.md``.
DOCUMENTED_WINDOW_S = 0.02

#: Window lengths `rates_by_window` shows by default (5 ms to 500 ms).
WINDOW_LENGTHS_S = (0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5)

#: What the documented setting rests on (as read with the project's search
#: tool; 'confirmed' says whether the number itself was seen).
TIMESCALE_SOURCES = (
    dict(citation="Destexhe, A. & Paré, D. (1999). Impact of network activity on the "
                  "integrative properties of neocortical pyramidal neurons in vivo. "
                  "J. Neurophysiol. 81(4), 1531-1547.",
         finding="synaptic background activity causes an approximately fivefold decrease "
                 "in input resistance of pyramidal cells in vivo (hence of the membrane "
                 "time constant)",
         where="abstract", confirmed=True,
         url="https://dmice.ohsu.edu/trec-gen/data/2006/documents/jneuro.zip"),
    dict(citation="Cable theory, 'The time constant' (encyclopaedic summary)",
         finding="response (membrane) times from 1-2 ms to 100 ms or longer; "
                 "a typical one is around 20 ms",
         where="section 'The Time Constant'", confirmed=True,
         url="https://liquisearch.com/cable_theory/the_time_constant"),
)


def rates_by_window(counts, window_lengths=WINDOW_LENGTHS_S, reference=None):
    """
    The rate-based rows of the cortex table at each window length.

    Parameters
    ----------
    counts : array_like, shape (..., n_neurons)
        Spike counts per window (any leading axes: trials, windows, stimuli).
    window_lengths : sequence of float
        Window lengths in seconds.
    reference : dict, optional
        `load_cortex_reference` (default: the shipped ranges), for the
        ``inside`` flags.

    Returns
    -------
    list of dict
        One per window length: ``window_s``, ``median_rate_hz``,
        ``mean_rate_hz``, ``log10_rate_sd`` (the same at every length: a
        change of units shifts log10 rates without widening them) and
        ``inside`` (measure -> True/False against the V1 ranges).
    """
    from .cortex import load_cortex_reference
    lengths = np.asarray(window_lengths, dtype=np.float64).ravel()
    if lengths.size == 0 or np.any(lengths <= 0) or not np.isfinite(lengths).all():
        raise InvalidValueError(f"window_lengths: expected positive lengths in seconds, "
                                f"got {lengths.tolist()}")
    reference = load_cortex_reference() if reference is None else reference
    ranges = {k: m["range"] for k, m in reference["measures"].items()}
    rows = []
    for w in lengths:
        rates = firing_rates(counts, float(w))
        fit = lognormal_fit(rates) if np.count_nonzero(rates) >= 2 else None
        values = dict(median_rate_hz=float(np.median(rates)),
                      mean_rate_hz=float(np.mean(rates)),
                      log10_rate_sd=fit.sigma_log10 if fit else float("nan"))
        inside = {k: (None if ranges.get(k) is None or not np.isfinite(v)
                      else bool(ranges[k][0] <= v <= ranges[k][1]))
                  for k, v in values.items() if k in ranges}
        rows.append(dict(window_s=float(w), **values, inside=inside))
    return rows
