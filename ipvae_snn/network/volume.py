"""
The spike volume of a run, estimated from its model and input before it (a
short pilot of the reference algorithm): what `SpikingIPVAE.run` adds to its
memory estimate (`ipvae_snn._memory.check_memory`), so that a model firing at
its clamp or unwhitened pixels are refused before a run rather than killed by
the system during it.
"""

from typing import NamedTuple

import numpy as np

from ..reference import infer
from ..validation import InvalidValueError

__all__ = ["spike_volume", "SpikeVolume", "BYTES_PER_EVENT"]

# The pilot run of `spike_volume`: the most strongly driven inputs (and the
# empty input that pads a standalone run), for the first windows — where a
# model's prior, or an input out of scale, shows its activity at once.
_PILOT_INPUTS = 8
_PILOT_WINDOWS = 16
# The pilot sees a sample: the volume it reports is the mean over its inputs
# of each one's busiest window, times this margin (capped by what the network
# can emit at all). Its inputs are the most driven ones: for the bundled
# model on photographs this is about twice the mean activity of a run.
_PILOT_MARGIN = 1.5
#: Bytes one spike event costs on its way from a compiled program's monitor
#: to the result: the monitor's index and time (and the vector's slack), the
#: arrays read back, and the indices the collector derives from them.
BYTES_PER_EVENT = 96


class SpikeVolume(NamedTuple):
    """
    Spikes a run will produce per patch and window (upper estimates).

    ``events``: what the network's monitors record (one event per spike in
    the continuous realization, one per active neuron in the window
    realization, which carries the count); ``spikes``: the spikes themselves
    (what spike trains made from the counts hold); ``floor``: the activity
    assumed for any model (half the neurons active), below which the model
    is not the reason for a run's size.
    """

    events: float
    spikes: float
    floor: float

    @property
    def model_driven(self):
        """Whether the model and input, not the run's size, make it large."""
        return self.events > self.floor


def spike_volume(params, x, n_windows, steps_per_window=None, max_count=None):
    """
    Estimate the spike volume of a run from its model and input, before it.

    A short pilot of the same dynamics with the numpy reference (`infer`):
    the `_PILOT_INPUTS` inputs of largest norm and the empty input, for the
    first `_PILOT_WINDOWS` windows. The mean of each input's busiest window,
    times a margin, bounded by what the network can emit at all (one spike per
    neuron and time step in the continuous realization), is the estimate —
    so that a model whose prior fires at the clamp (``u_init = clamp_u =
    20``) or unwhitened 0-255 pixels are refused before the run
    (`ipvae_snn.validation.check_memory`), not killed for memory during it.

    Parameters
    ----------
    params : IPVAEParams
    x : ndarray, shape (n_patches, n_pixels)
    n_windows : int
    steps_per_window : int, optional
        Time steps per window of the continuous realization; None: the
        window realization (one event per active neuron and window).
    max_count : float, optional
        The run's activity bound (`ipvae_snn.infer`'s ``max_count``).

    Returns
    -------
    SpikeVolume

    Examples
    --------
    >>> import numpy as np
    >>> from ipvae_snn import IPVAEParams
    >>> p = IPVAEParams.random(16, 8, random_state=0)
    >>> v = spike_volume(p, np.zeros((3, 16)), 10, steps_per_window=100)
    >>> v.events <= 8 * 100
    True
    >>> hot = IPVAEParams(p.phi, p.sigma, p.bias, p.lr, np.full(8, 20.0), clamp_u=20)
    >>> spike_volume(hot, np.zeros((3, 16)), 10, steps_per_window=100).events
    800.0
    """
    x = np.asarray(x, dtype=np.float64)
    k = params.n_latents
    norms = np.einsum("ij,ij->i", x, x)
    pick = np.argsort(norms)[::-1][:_PILOT_INPUTS]
    sample = np.vstack([x[pick], np.zeros((1, x.shape[1]))])
    floor = k // 2 + 1
    try:
        pilot = infer(params, sample, min(int(n_windows), _PILOT_WINDOWS), seed=0,
                      dtype=np.float64, max_count=max_count, progress=False,
                      warn=False, n_jobs=1)
    except InvalidValueError:
        # a memory limit below even the pilot's few MiB: the run's own check
        # refuses it, with its size
        return SpikeVolume(float(floor), float(floor), float(floor))
    counts = pilot.counts.astype(np.float64)          # (inputs, windows, neurons)
    if steps_per_window is None:                      # window realization
        events = (counts > 0).sum(-1).max(-1).mean()
        bound = k
    else:                                             # one spike per step at most
        counts = np.minimum(counts, steps_per_window)
        events = counts.sum(-1).max(-1).mean()
        bound = k * steps_per_window
    spikes = counts.sum(-1).max(-1).mean()
    return SpikeVolume(events=float(min(bound, max(floor, _PILOT_MARGIN * events))),
                       spikes=float(_PILOT_MARGIN * spikes), floor=float(floor))
