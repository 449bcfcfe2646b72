"""
Learning an iP-VAE from recorded spikes.

`SpikingDictionaryLearner` (scikit-learn estimator, `estimator`) alternates
spiking inference on mini-batches with offline updates from the recorded
counts (`updates`), with atomic, resumable checkpoints (`checkpoint`). The
method, its derivations and what mattered for the shipped models:
``docs/learning.md``.
"""

from .checkpoint import CHECKPOINT_FORMAT
from .estimator import SpikingDictionaryLearner
from .updates import kl_step_gradient as _kl_step_gradient  # noqa: F401 (old private name)

__all__ = ["SpikingDictionaryLearner", "CHECKPOINT_FORMAT"]
