"""
A spiking LCA beside the iP-VAE: the classical sparse-coding network
(Rozell et al. 2008) as integrate-and-fire neurons in Brian2, on the same
patches, dictionaries, result object, plots and statistics.

Modules: `solver` (the non-spiking LCA in numpy, scikit-learn's Lasso codes,
their scores), `dictionary` (``"ipvae"``: the iP-VAE's Φ; ``"learnt"``:
scikit-learn's dictionary learning), `model` (`SpikingLCA`); the Brian2
objects from ``equations/lca.txt``, runtime and compiled, are in
`ipvae_snn.network.lca` (Brian2 is imported only inside `ipvae_snn.network`).

Examples
--------
>>> from ipvae_snn.lca import SpikingLCA, lca_codes, lasso_codes
>>> SpikingLCA("ipvae", lam=0.08)
SpikingLCA(dictionary='ipvae', n_atoms=512, lam=0.08, device='runtime', window=0.1)
"""

from .dictionary import (DICTIONARIES, LAMBDA_SWEEPS, RATE_PER_NORM, lca_dictionary,
                         learnt_dictionary, mean_atom_norm)
from .model import LCA_DEVICES, SpikingLCA, synaptic_events
from .solver import code_points, lasso_codes, lasso_objective, lca_codes

__all__ = ["SpikingLCA", "LCA_DEVICES", "synaptic_events", "lca_codes", "lasso_codes",
           "lasso_objective", "code_points", "lca_dictionary", "learnt_dictionary",
           "mean_atom_norm", "DICTIONARIES", "LAMBDA_SWEEPS", "RATE_PER_NORM"]
