"""
Rate–distortion: how the paper scores a model, and the sparse-coding baseline.

A code is scored at a read-out window T by its reconstruction quality R² and
its sparsity, the fraction of zero counts; the paper's single number is the
distance to the ideal corner (perfect reconstruction with no spikes)::

    distance = sqrt((1 - R²)² + (1 - zero fraction)²)

`ipvae_points` scores an iP-VAE (the reference algorithm) at several T, with
both of the paper's read-outs: the reconstruction ``Φ z`` from the window's
spike counts (the spiking network's own output) and ``Φ λ(u)`` from the rates
the counts are drawn from (the paper's "rate" read-out; its zero fraction is
still that of the counts, as in the paper's results);
`sparse_coding_dictionary` and `sparse_coding_points` give the classical
anchor on the same patches: scikit-learn's non-negative sparse coding
(a dictionary from `~sklearn.decomposition.MiniBatchDictionaryLearning`,
Lasso codes swept over the sparsity ``alpha``), whose codes are real-valued
amplitudes rather than integer counts.
"""

import warnings

import numpy as np

from .metrics import r2_score
from .validation import check_int, check_record_windows

__all__ = ["distance", "ipvae_points", "rate_reconstruction", "sparse_coding_dictionary",
           "sparse_coding_points", "SC_ALPHAS"]

#: The sparsity values of the sparse-coding sweep (``alpha`` of scikit-learn's
#: Lasso: ``½‖x − Dᵀa‖² + alpha‖a‖₁`` per patch).
SC_ALPHAS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8, 1.0, 1.5)


def distance(r2, zero_fraction):
    """
    The paper's rate–distortion score: distance to (R² = 1, zero fraction = 1).

    Examples
    --------
    >>> round(distance(0.84, 0.75), 4)
    0.2968
    """
    return float(np.hypot(1.0 - r2, 1.0 - zero_fraction))


def rate_reconstruction(params, u, max_count=None):
    """
    The rate read-out ``Φ λ(u)``: the reconstruction from the expected counts.

    ``λ(u) = exp(u) + rate_eps`` is the Poisson mean of a window's count (with
    the opt-in saturation ``λ / (1 + λ/max_count)``), the same rate the
    reference kernel and the equations draw from.

    Parameters
    ----------
    params : IPVAEParams
    u : array_like, shape (..., n_latents)
        Potentials of the windows read out.
    max_count : float, optional

    Returns
    -------
    ndarray, shape (..., n_pixels), float64

    Examples
    --------
    >>> import ipvae_snn
    >>> params = ipvae_snn.default_params()
    >>> u = np.full((2, params.n_latents), -30.0)     # silent neurons: λ ≈ rate_eps
    >>> bool(np.abs(rate_reconstruction(params, u)).max() < 1e-3)
    True
    """
    with np.errstate(over="ignore"):
        rate = np.exp(np.asarray(u, dtype=np.float64)) + params.rate_eps
    if max_count is not None:
        rate = rate / (1.0 + rate / max_count)
    return rate @ params.phi.T.astype(np.float64)


def ipvae_points(params, x, windows=(16, 64, 1000), seed=0, n_jobs=None, gain_noise=0.0):
    """
    Mean R², zero fraction, mean count and distance of an iP-VAE at each window.

    One run of ``max(windows) + 1`` windows of the reference algorithm
    (float32); window T is read after T updates, the paper's "at T". Patches
    that drove a neuron to the upper clamp stay in the means, as in the
    paper's metric, and are counted. Both read-outs come from the same run:
    the spike counts of window T and the rates they were drawn from
    (`rate_reconstruction`).

    Parameters
    ----------
    params : IPVAEParams
    x : array_like, shape (n, n_pixels)
    windows : sequence of int
    seed : int
    n_jobs : int, optional
    gain_noise : float
        The shared-gain variant (`ipvae_snn.sampling`; 0: off): its cost in
        rate–distortion.

    Returns
    -------
    list of dict
        One per window: ``T``, ``r2``, ``r2_median``, ``zero_fraction``,
        ``mean_count`` (per neuron per window), ``distance``,
        ``runaway_fraction`` (patches at the clamp by T), ``r2_bounded``
        (mean R² of the other patches); the rate read-out's ``r2_rate`` and
        ``distance_rate`` (with the counts' zero fraction).

    Examples
    --------
    >>> from ipvae_snn import load_model
    >>> x = np.random.default_rng(0).standard_normal((8, 256))
    >>> [p["T"] for p in ipvae_points(load_model("official"), x, windows=(1, 4))]
    [1, 4]
    """
    from .reference import infer
    windows = sorted(int(check_int(t, "windows", minimum=0)) for t in windows)
    n_windows = windows[-1] + 1
    check_record_windows(windows, n_windows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # runaway warnings: counted below
        res = infer(params, x, n_windows, seed=seed, record_windows=windows,
                    record_counts=False, record_u=True, n_jobs=n_jobs, progress=False,
                    gain_noise=gain_noise)
    onset = np.where(res.runaway_onset >= 0, res.runaway_onset, np.iinfo(np.int32).max)
    first = onset.min(axis=1)
    points = []
    for i, t in enumerate(windows):
        r2 = float(np.nanmean(res.r2[:, t]))
        zf = float(res.zero_fraction[:, t].mean())
        r2_rate = float(np.nanmean(r2_score(res.x, rate_reconstruction(params, res.u[:, i]))))
        bounded = first > t
        points.append(dict(T=t, r2=r2, r2_median=float(np.nanmedian(res.r2[:, t])),
                           zero_fraction=zf, mean_count=float(res.mean_count[:, t].mean()),
                           distance=distance(r2, zf), r2_rate=r2_rate,
                           distance_rate=distance(r2_rate, zf),
                           runaway_fraction=float(np.mean(first <= t)),
                           r2_bounded=float(np.nanmean(res.r2[bounded, t]))
                           if bounded.any() else float("nan")))
    return points


def sparse_coding_dictionary(x_train, n_components=512, epochs=3, alpha=1.0, seed=0):
    """
    A non-negative sparse-coding dictionary (atoms as rows, unit norm).

    scikit-learn's `~sklearn.decomposition.MiniBatchDictionaryLearning`
    with positive codes, batches of 256, coordinate descent.

    Examples
    --------
    >>> x = np.random.default_rng(0).standard_normal((64, 16))
    >>> sparse_coding_dictionary(x, n_components=8, epochs=1).shape
    (8, 16)
    """
    from sklearn.decomposition import MiniBatchDictionaryLearning
    model = MiniBatchDictionaryLearning(
        n_components=n_components, alpha=alpha, batch_size=256, max_iter=epochs,
        fit_algorithm="cd", transform_algorithm="lasso_cd", positive_code=True,
        random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # convergence chatter
        model.fit(np.asarray(x_train, dtype=np.float64))
    return model.components_


def sparse_coding_points(dictionary, x, alphas=SC_ALPHAS):
    """
    Mean R², zero fraction and distance of non-negative Lasso codes per ``alpha``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = rng.standard_normal((8, 16)); d /= np.linalg.norm(d, axis=1, keepdims=True)
    >>> [p["alpha"] for p in sparse_coding_points(d, rng.standard_normal((4, 16)),
    ...                                           alphas=(0.1, 1.0))]
    [0.1, 1.0]
    """
    from sklearn.decomposition import SparseCoder
    x = np.asarray(x, dtype=np.float64)
    points = []
    for alpha in alphas:
        coder = SparseCoder(dictionary, transform_algorithm="lasso_cd",
                            transform_alpha=float(alpha), positive_code=True,
                            transform_max_iter=2000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            codes = coder.transform(x)
        r2 = r2_score(x, codes @ dictionary)
        zf = float(np.mean(codes == 0))
        points.append(dict(alpha=float(alpha), r2=float(np.nanmean(r2)),
                           r2_median=float(np.nanmedian(r2)), zero_fraction=zf,
                           mean_code=float(codes.mean()),
                           distance=distance(float(np.nanmean(r2)), zf)))
    return points
