"""
What ``max_count`` does, as the README and its docstrings say: it bounds the
counts of a run that would run away; a cap below the counts an input needs
winds the potentials of the capped neurons up to the clamp and costs R²; a
cap above them changes little.
"""

import warnings

import numpy as np
import pytest

import ipvae_snn
from ipvae_snn.data import natural_patches
from ipvae_snn.results import RunawayWarning


@pytest.fixture(scope="module")
def runs():
    # the default's dictionary given its inputs as they are (its contrast
    # normalisation would take the raised contrast away)
    params = ipvae_snn.default_params().replace(contrast=None)
    x = 3.0 * natural_patches(n_patches=8, seed=0)          # three times the usual contrast
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RunawayWarning)
        for cap in (None, 20, 200):
            out[cap] = ipvae_snn.infer(params, x, n_windows=129, seed=0, max_count=cap,
                                       record_windows=range(64, 129), progress=False)
    return out


def test_a_cap_below_the_needed_counts_winds_u_up_to_the_clamp(runs):
    free, low, high = runs[None], runs[20], runs[200]
    needed = free.counts.max()
    assert 20 < needed < 200                     # what these inputs need per window
    assert free.runaway_events() == []
    assert low.runaway_events()                  # wound up to the clamp ...
    assert low.counts.max() < needed             # ... with the counts bounded
    # expected counts saturate below the cap: Poisson draws stay near it
    assert low.counts.mean(axis=(0, 1)).max() < 20
    assert np.nanmedian(low.r2[:, -1]) < np.nanmedian(free.r2[:, -1]) - 0.03
    assert high.runaway_events() == []
    assert abs(np.nanmedian(high.r2[:, -1]) - np.nanmedian(free.r2[:, -1])) < 0.02
