"""
ipvae-snn: the iterative Poisson VAE (iP-VAE) as a spiking network in Brian2.

Vafaii, Galor & Yates, "Brain-like variational inference", NeurIPS 2025
(arXiv:2410.19315). Membrane potentials carry out the FOND inference updates,
lateral-inhibition synapses carry the competition between neurons, and the
integer spike count of each window is the posterior sample.
"""

__version__ = "0.1.0"

from .params import IPVAEParams, default_params
from .reference import infer, replay, fond_update
from .results import InferenceResult, RunawayWarning

__all__ = ["IPVAEParams", "default_params", "infer", "replay", "fond_update",
           "InferenceResult", "RunawayWarning", "__version__"]
