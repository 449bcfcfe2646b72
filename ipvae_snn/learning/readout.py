"""
The read-out half of `SpikingDictionaryLearner`: a fitted model used as a
scikit-learn transformer (spike counts or rates of a window, reconstructions,
the R² score).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..cluster import resolve_client
from ..validation import InvalidValueError
from .checkpoint import STREAM_TRANSFORM, stream_seed
from .inference import run_inference

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def validate_data(estimator, X="no_validation", reset=True, **kwargs):
        return estimator.validate_data(X, reset=reset, **kwargs)

__all__ = ["SpikeCodeMixin", "validate_data"]


class SpikeCodeMixin:
    """
    `transform`, `inverse_transform` and `score` of a fitted learner (its
    ``params_``, ``seed_``, ``transform_window``, ``transform_output``), and
    ``_infer``, the learner's inference backend, which its fit uses too.
    """

    def _infer(self, params, x, n_windows, seed, record_windows, record_u=False,
               block_size=None):
        """Run the selected backend on chunks of ``block_size`` patches."""
        return run_inference(self.backend, params, x, n_windows, seed=seed,
                             record_windows=record_windows, record_u=record_u,
                             device=self.device, n_jobs=self.n_jobs,
                             client=resolve_client(self.client),
                             block_size=block_size)

    def _check_X(self, X):
        check_is_fitted(self, "params_")
        return validate_data(self, X, reset=False, dtype=np.float64)

    def _encode(self, X, seed=None):
        X = self._check_X(X)
        self._check_hyper_parameters()
        T = self.transform_window
        if seed is None:
            seed = stream_seed(self.seed_, STREAM_TRANSFORM)
        rates = self.transform_output == "rates"
        record_u = rates and self.backend == "reference"
        windows = np.arange(T + 1) if rates and not record_u else [T]
        result = self._infer(self.params_, X, T + 1, seed, windows, record_u=record_u)
        return result, T, rates, record_u

    def transform(self, X, seed=None):
        """
        Spike counts (or rates) of each patch in window ``transform_window``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        seed : int, optional
            Seed of the spike sampling; default: one derived from ``seed_``
            (so repeated calls give the same counts).

        Returns
        -------
        ndarray, shape (n_samples, n_components)
            int32 counts, or float64 rates ``exp(u)`` with
            ``transform_output="rates"``.
        """
        result, T, rates, record_u = self._encode(X, seed)
        if not rates:
            return result.counts_at(T).astype(np.int32)
        if record_u:
            u = result.u[:, list(result.windows).index(T)]
        else:
            # The window realization is deterministic given its counts:
            # replay them to recover the potential of window T.
            from ..reference import replay
            # result.x is what the network saw (already contrast-normalised)
            seen_by = self.params_.replace(contrast=None)
            u = replay(seen_by, result.x, result.counts[:, :T])[:, T]
        return np.exp(np.asarray(u, dtype=np.float64))

    def inverse_transform(self, X):
        """
        Reconstructions ``Φ z`` of counts (or rates), shape (n_samples, n_features).
        """
        check_is_fitted(self, "params_")
        Z = np.asarray(X)
        if Z.ndim != 2 or Z.shape[1] != self.params_.n_latents:
            raise InvalidValueError(f"inverse_transform: expected shape (n_samples, "
                             f"{self.params_.n_latents}), got {Z.shape}")
        if Z.dtype.kind not in "fiub" or not np.all(np.isfinite(Z)):
            raise InvalidValueError("inverse_transform: counts must be finite numbers")
        return Z.astype(np.float64) @ self.params_.phi.T

    def score(self, X, y=None):
        """
        Mean R² of the count reconstructions in window ``transform_window``.

        R² per patch is ``1 - Σ(x - Φz)² / Σ(x - mean x)²`` (the paper's R²);
        constant patches are left out of the mean.
        """
        result, T, _, _ = self._encode(X)
        r2 = result.r2[:, T]
        return float(np.nanmean(r2)) if np.isfinite(r2).any() else float("nan")
