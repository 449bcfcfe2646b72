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
    ``_infer``, the learner's inference backend, which its fit uses too
    (``_infer_potential`` where the rates are needed).
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

    def _infer_potential(self, params, x, n_windows, seed):
        """
        Windows ``0 … n_windows - 1`` of ``x`` read at the last one: the
        result (its counts and R²) and the potential ``u`` of that window.
        The reference records ``u``; the network's window realization is
        deterministic given its counts, so its ``u`` is replayed from the
        counts of the earlier windows.
        """
        T = n_windows - 1
        if self.backend == "reference":
            result = self._infer(params, x, n_windows, seed, [T], record_u=True)
            return result, result.u[:, 0]
        from ..reference import replay
        result = self._infer(params, x, n_windows, seed, np.arange(n_windows))
        # result.x is what the network saw (already contrast-normalised)
        seen_by = params.replace(contrast=None)
        return result, replay(seen_by, result.x, result.counts[:, :T])[:, T]

    def _encode(self, X, seed=None):
        """The fitted model on ``X`` up to ``transform_window``: (result, u or None)."""
        X = self._check_X(X)
        self._check_hyper_parameters()
        T = self.transform_window
        if seed is None:
            seed = stream_seed(self.seed_, STREAM_TRANSFORM)
        if self.transform_output == "rates":
            return self._infer_potential(self.params_, X, T + 1, seed)
        return self._infer(self.params_, X, T + 1, seed, [T]), None

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
        result, u = self._encode(X, seed)
        if u is None:
            return result.counts_at(self.transform_window).astype(np.int32)
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
        result, _ = self._encode(X)
        r2 = result.r2[:, self.transform_window]
        return float(np.nanmean(r2)) if np.isfinite(r2).any() else float("nan")
