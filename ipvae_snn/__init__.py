"""
ipvae-snn: the iterative Poisson VAE (iP-VAE) as a spiking network in Brian2.

Vafaii, Galor & Yates, "Brain-like variational inference", NeurIPS 2025
(arXiv:2410.19315). Membrane potentials carry out the FOND inference updates,
lateral-inhibition synapses carry the competition between neurons, and the
integer spike count of each window is the posterior sample.

The spiking network (`SpikingIPVAE`, needs Brian2), the learner
(`SpikingDictionaryLearner`, scikit-learn) and the official-checkpoint reader
(`from_official`, torch) are imported on first use, so that ``import
ipvae_snn`` stays light. ``docs/architecture.md`` maps the modules.

Examples
--------
>>> import ipvae_snn
>>> params = ipvae_snn.default_params()
>>> result = ipvae_snn.infer(params, ipvae_snn.data.natural_patches(n_patches=2, seed=0),
...                          n_windows=5, seed=0)
>>> result.counts.shape
(2, 5, 512)
"""

from ._version import __version__
from .params import BUNDLED_MODELS, IPVAEParams, default_params, load_model
from .reference import fond_update, infer, replay
from .results import InferenceResult, RunawayWarning, SpikingResult

__all__ = ["IPVAEParams", "default_params", "load_model", "BUNDLED_MODELS", "infer",
           "replay", "fond_update",
           "InferenceResult", "SpikingResult", "RunawayWarning", "SpikingIPVAE",
           "SpikingDictionaryLearner", "from_official", "__version__"]

_LAZY = {"SpikingIPVAE": "network", "SpikingDictionaryLearner": "learning",
         "from_official": "official"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
