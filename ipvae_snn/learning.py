"""
Learning an iP-VAE dictionary from recorded spikes: `SpikingDictionaryLearner`.

The paper trains the iP-VAE by back-propagating through 16 inference steps.
Here the network itself does the inference and learning happens *offline*,
from the spike counts it produced — a Monte-Carlo variational EM in the spirit
of Olshausen & Field (1996) and SAILnet (Zylberberg et al. 2011):

1. **E-step (inference).** A mini-batch of patches runs through
   ``t_train + 1`` windows of FOND inference — the numpy reference algorithm
   (`ipvae_snn.reference.infer`) or the Brian2 network
   (`ipvae_snn.network.SpikingIPVAE`, window realization), the same dynamics —
   and the counts ``z_t`` of the read-out windows ``t = 1 … t_train`` are
   recorded (window t draws from the potential after t updates; the paper's
   training loss likewise averages over its ``t_train = 16`` steps).

2. **M-step (offline updates)**, each from the recorded counts alone:

   * **Φ** by a gradient step on the Gaussian negative log-likelihood of the
     patches given the counts, averaged over patches and read-out windows::

         NLL = < Σ_m (x_m - (Φ z_t)_m)² / (2 σ_m²) + log σ_m >_{x, t}
         -∂NLL/∂Φ = < Σ⁻¹ (x - Φ z_t) z_tᵀ >_{x, t}

     — the classic Olshausen–Field update: a Hebbian product of the
     precision-weighted prediction error (which the network computes as its
     feed-forward minus lateral input) and the presynaptic counts. Because the
     counts are Poisson samples, the average includes their variance,
     ``E‖x - Φz‖² = ‖x - Φλ‖² + Σ_k ‖φ_k‖² λ_k``, which penalises large
     columns: the amplitude one spike carries is learnt. Optionally
     (``beta > 0``) the gradient of the paper's KL term is added, truncated
     to one step (`_kl_step_gradient`): ``β KL(q_{t+1} ‖ q_t)``, the *true*
     Poisson KL of the design note (§1, ``λ0 (1 - δ + δ log δ)``, not the
     official loss's ``δ·KL``) between the posterior after and before the
     update of window t, the rolling prior. The step uses Adam (default) or
     SGD with momentum and a cosine (default) or constant learning-rate
     schedule, then a **norm control**: each column's norm is capped at
     ``max_norm`` (default: the largest column norm of the initial
     dictionary; ``norm_control="fixed"`` sets every column to that norm).
     The cap is what keeps the learnt dynamics stable: the FOND update is a
     discrete-time map, and a neuron carrying amplitude ``a = λ‖φ‖`` of the
     input overshoots once ``lr ‖φ‖ a / σ² > 2``; a dictionary whose columns
     grew (to ≈ 0.4 with σ = 1) drove 6 of 2,000 held-out patches into
     runaway oscillations between neurons with opposite fields by window
     1000, dictionaries capped at 0.3 none (``docs/learning.md``).
   * **σ** by its closed form — the NLL is minimised by the per-pixel mean
     squared residual, ``σ_m² = <(x_m - (Φ z_t)_m)²>`` — as a running
     (exponential) average over mini-batches, with ``learn_sigma=True``. It
     is off by default: σ also sets the gain of the inference (drive and
     lateral weights scale with 1/σ²); as reconstructions improve the closed
     form shrinks σ (to ≈ 0.7 in 100 batches from a random start), which halves
     the largest amplitude the update follows stably (see above) and made
     training patches run away.
   * **u_init**, the prior log-rate, by its closed form: the data-averaged
     Poisson KL ``<KL(q_t ‖ p)>`` (true KL, as above) has
     ``∂/∂λ0 = <1 - λ_t/λ0> = 0``, so the optimal prior rate is the mean
     posterior rate, ``λ0_k = <λ_k>``. The mean count ``<z_k>`` is an unbiased
     estimate of ``<λ_k>`` from any backend; it is averaged like σ and
     ``u_init = log λ0`` (clipped to ``[clamp_min, clamp_u - 1]``).
   * **b**, the spike cost that sets sparsity, is kept by default (it is not a
     parameter of the generative model). With ``target_rate`` it adapts
     homeostatically toward that mean count per neuron in window
     ``t_train``: ``log b += η clip((r - r*) / r*, -1, 1)`` — one factor for
     all neurons (``homeostasis="global"``, default: the population rate is
     steered and the relative costs stay as initialised) or per neuron
     (``"neuron"``, SAILnet's threshold rule in the log domain, which also
     equalises the neurons' rates).

   The FOND step size ``lr`` and the clamps are kept. Patches that drove a
   neuron to the upper clamp during a batch (runaways, `InferenceResult`'s
   diagnostic) are left out of the updates, and the gradient's norm is
   clipped at 4 times its running mean, so that one burst of thousands of
   spikes cannot wreck σ or Adam's second moment.

Resumable fits: every source of randomness derives from ``(random_state,
epoch, batch)`` (the data order of each epoch, the spike sampling of each
batch), so the state after n batches is a pure function of the data, the
hyper-parameters and the seed. A checkpoint (every ``checkpoint_every``
batches and at the end, written atomically) holds the parameters, the
optimizer state, the running averages, the base seed and the batch counter;
``fit(X, resume=True)`` continues from it and ends with exactly the
parameters of an uninterrupted fit.
"""

import hashlib
import json
import math
import numbers
import os

import numpy as np
from sklearn.base import (BaseEstimator, ClassNamePrefixFeaturesOutMixin,
                          TransformerMixin)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._io import atomic_savez
from ._progress import ProgressBar
from .params import IPVAEParams
from .validation import (InvalidTypeError, InvalidValueError, MissingFileError,
                         MissingKeyError)

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # pragma: no cover - older scikit-learn
    def _validate_data(estimator, X="no_validation", reset=True, **kwargs):
        return estimator._validate_data(X, reset=reset, **kwargs)

__all__ = ["SpikingDictionaryLearner", "CHECKPOINT_FORMAT"]

#: Tag stored in (and required of) fit checkpoints.
CHECKPOINT_FORMAT = "ipvae-snn-fit-checkpoint-v1"

# Patches per random stream of the reference algorithm. Fixed (not derived
# from n_jobs) so that results do not depend on the number of threads.
_BLOCK_SIZE = 128
# Hyper-parameters that do not change the result (excluded from the
# compatibility check of a resumed fit).
_NO_EFFECT = ("callback", "checkpoint", "checkpoint_every", "client", "n_jobs", "progress")
# Stream identifiers: the seed of a stream is (entropy, stream, ...).
_STREAM_INIT, _STREAM_ORDER, _STREAM_BATCH, _STREAM_TRANSFORM = 0, 1, 2, 3
# Keep at least this much of the learning rate at the end of a cosine schedule.
_COSINE_FLOOR = 0.02
# Gradients larger than this multiple of their running mean norm are clipped.
_GRAD_CLIP = 4.0
_HISTORY_KEYS = ("epoch", "nll", "kl", "r2", "r2_median", "zero_fraction",
                 "mean_count", "learning_rate", "sigma_mean", "bias_mean", "n_runaway")


class SpikingDictionaryLearner(ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                               BaseEstimator):
    """
    Learn an iP-VAE dictionary from the spikes of its own inference network.

    A scikit-learn transformer: `fit` learns the decoder (Φ, σ, the prior
    log-rate and optionally the spike cost b) by alternating spiking inference
    on mini-batches with offline updates from the recorded counts (module
    docstring); `transform` returns each patch's spike counts (or firing
    rates) in window ``transform_window``; `inverse_transform` reconstructs
    patches from counts; `score` is the mean R² of those reconstructions.

    Parameters
    ----------
    n_components : int, default=512
        Number of latent neurons K (dictionary columns). Must match ``init``
        when that is a model.
    init : {"random", "default"}, IPVAEParams or path, default="random"
        Starting model. ``"random"``: Gaussian Φ with columns of norm
        ``init_scale · rms(X)`` (`IPVAEParams.random`), σ = rms(X) (so the
        inference dynamics are the same for data of any scale; σ ≈ 1 for
        z-scored patches), and b, lr, u_init of the bundled model when
        K = 512 (else b = 0.05, lr = 0.5, u_init = -4).
        ``"default"``: the bundled model (256 pixels, K = 512). An
        `IPVAEParams` or a ``.npz`` model file: that model (a warm start).
    init_scale : float, default=0.3
        Column norm of a random Φ relative to rms(X) (the bundled model's
        columns have norms 0.32–0.50 on z-scored patches).
    backend : {"reference", "network"}, default="reference"
        Who runs the inference: the numpy reference algorithm or the Brian2
        network (`ipvae_snn.network.SpikingIPVAE`, window realization) — the
        same dynamics; the network is rebuilt for every batch because its
        weights change (a compiled standalone program is reused: weights go in
        as run arguments), so the reference backend is much faster for
        fitting.
    device : str, default="runtime"
        Brian2 device of the network backend.
    t_train : int, default=16
        Read-out windows ``1 … t_train`` per batch feed the updates (the
        paper's training sequence length); each batch runs ``t_train + 1``
        windows.
    batch_size : int, default=256
        Patches per mini-batch.
    max_iter : int, default=10
        Number of epochs (passes over X).
    learning_rate : float, default=5e-3
        Initial step size of the optimizer on Φ.
    optimizer : {"adam", "sgd"}, default="adam"
        Adam (β = 0.9, 0.999) or SGD with momentum 0.9 on Φ.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Cosine decay of the learning rate over all batches (to 2 % of
        ``learning_rate``), or constant.
    norm_control : {"clip", "fixed", None}, default="clip"
        After each step, cap the norm of Φ's columns at ``max_norm``
        ("clip"), set every column to norm ``max_norm`` ("fixed"), or leave
        them (None).
    max_norm : float or None, default=None
        The column norm of ``norm_control``; None: the largest column norm of
        the initial dictionary (``init_scale · rms(X)`` for a random start).
    learn_sigma : bool, default=False
        Update σ by its closed form (running average of the squared
        residual); off by default because σ also sets the gain of the
        inference dynamics (module docstring).
    learn_prior : bool, default=True
        Update u_init by its closed form (log of the running mean count).
    running_decay : float, default=0.98
        Weight of the past in the running averages of σ² and the prior rate.
    beta : float, default=0.0
        Weight of the one-step KL term ``KL(q_{t+1} ‖ q_t)`` in Φ's
        objective (0: the plain Olshausen–Field rule). It shrinks the columns
        and with them the lateral coupling, at a cost in reconstruction:
        from a random start (625 batches, columns capped at 0.5, target rate
        0.22), β = 4 gave held-out R² 0.46 at 0.29 spikes per neuron in
        window 16 and no runaways by window 1000, β = 0 gave 0.59 at 0.32 and
        6 runaway patches of 2,000.
    target_rate : float or None, default=None
        Mean count per neuron in window ``t_train`` that the homeostatic
        update of b aims at; None keeps b.
    homeostasis : {"global", "neuron"}, default="global"
        Adapt one factor on all of b (the population rate) or each b_k
        (each neuron's rate).
    homeostasis_rate : float, default=0.05
        Step η of the homeostatic update of log b.
    transform_window : int, default=16
        Window whose counts `transform` returns and `score` evaluates (the
        paper's "after T steps"; runs ``transform_window + 1`` windows).
    transform_output : {"counts", "rates"}, default="counts"
        `transform` returns the integer spike counts of that window or the
        firing rates ``exp(u)`` they were drawn from.
    checkpoint : str or None, default=None
        Path of the fit checkpoint (``.npz``); written every
        ``checkpoint_every`` batches and at the end.
    checkpoint_every : int, default=100
        Batches between checkpoints.
    callback : callable or None, default=None
        Called after every batch as ``callback(learner, info)`` with ``info`` a
        dict (``epoch``, ``batch``, ``n_batches``, ``total_batches``,
        ``params``, ``history`` row); returning True stops the fit early.
    n_jobs : int or None, default=None
        Threads of the reference algorithm (results do not depend on it).
    progress : bool or None, default=None
        Show a progress bar (None: when stderr is a terminal).
    random_state : int, RandomState instance or None, default=None
        Seeds the random Φ, the data order and the spike sampling.
    client : distributed.Client or None, default=None
        Run each batch's inference as tasks on this Dask cluster
        (`ipvae_snn.distributed`; results do not depend on it).

    Attributes
    ----------
    params_ : IPVAEParams
        The learnt model (save it with ``params_.save(path)``).
    components_ : ndarray, shape (n_components, n_features_in_)
        Φᵀ: each row is one neuron's receptive field (scikit-learn's layout).
    n_features_in_ : int
        Pixels per patch seen in `fit`.
    n_batches_ : int
        Mini-batches done (over all epochs, including before a resume).
    n_iter_ : int
        Completed epochs.
    history_ : dict of ndarray
        Per batch: ``epoch``, ``nll`` (Gaussian NLL per patch and window),
        ``kl`` (the one-step KL per patch and window, when ``beta > 0``),
        ``r2`` and ``r2_median`` (mean and median R² over the batch's patches
        at window ``t_train``; the mean is the paper's metric, the median is
        robust to low-contrast patches), ``zero_fraction`` (at that window),
        ``mean_count`` (per neuron per read-out window),
        ``learning_rate``, ``sigma_mean``, ``bias_mean``, ``n_runaway``
        (patches that drove a neuron to the upper clamp).
    seed_ : int
        The base seed every random stream derives from (drawn from
        ``random_state``).

    Notes
    -----
    `transform` draws Poisson samples: it is deterministic for a fitted
    learner (its stream derives from ``seed_``) but a patch's counts depend
    on the other patches in the call, since the patches of a block share one
    random stream; they are equal in distribution, not element-wise.
    """

    def __init__(self, n_components=512, *, init="random", init_scale=0.3,
                 backend="reference", device="runtime", t_train=16, batch_size=256,
                 max_iter=10, learning_rate=5e-3, optimizer="adam",
                 lr_schedule="cosine", norm_control="clip", max_norm=None,
                 learn_sigma=False, learn_prior=True, running_decay=0.98, beta=0.0,
                 target_rate=None, homeostasis="global", homeostasis_rate=0.05,
                 transform_window=16,
                 transform_output="counts", checkpoint=None, checkpoint_every=100,
                 callback=None, n_jobs=None, progress=None, random_state=None,
                 client=None):
        self.n_components = n_components
        self.init = init
        self.init_scale = init_scale
        self.backend = backend
        self.device = device
        self.t_train = t_train
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.norm_control = norm_control
        self.max_norm = max_norm
        self.learn_sigma = learn_sigma
        self.learn_prior = learn_prior
        self.running_decay = running_decay
        self.beta = beta
        self.target_rate = target_rate
        self.homeostasis = homeostasis
        self.homeostasis_rate = homeostasis_rate
        self.transform_window = transform_window
        self.transform_output = transform_output
        self.checkpoint = checkpoint
        self.checkpoint_every = checkpoint_every
        self.callback = callback
        self.n_jobs = n_jobs
        self.progress = progress
        self.random_state = random_state
        self.client = client

    # ------------------------------------------------------------ sklearn
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Counts are integers whatever the input dtype.
        tags.transformer_tags.preserves_dtype = []
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"preserves_dtype": []}

    @property
    def _n_features_out(self):
        return self.params_.n_latents

    # --------------------------------------------------------------- fit
    def fit(self, X, y=None, *, resume=False):
        """
        Learn the model from patches ``X``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Patches, one per row (flattened, e.g. 256 pixels for 16×16).
        y : ignored
        resume : bool or str, default=False
            Continue a fit from a checkpoint: True reads ``checkpoint``, a path
            reads that file (a missing file is an error, `MissingFileError`).
            The checkpoint must come from a fit with the same data and
            hyper-parameters; the resumed fit then ends with exactly the
            parameters of an uninterrupted one.

        Returns
        -------
        self
        """
        X = _validate_data(self, X, reset=True, dtype=np.float64,
                           ensure_min_samples=1)
        hyper = self._check_hyper_parameters()
        state = None
        if resume:
            path = self.checkpoint if resume is True else os.fspath(resume)
            if path is None:
                raise InvalidValueError("resume=True needs the checkpoint parameter "
                                        "(the path of the fit checkpoint)")
            if not os.path.exists(path):
                raise MissingFileError(f"checkpoint '{path}' does not exist; resume "
                                       f"continues the fit saved there (resume=False "
                                       f"starts a new one)")
            state = _load_checkpoint(path, X, hyper, self.n_components)
        if state is None:
            state = self._initial_state(X, hyper)
        return self._run(X, state)

    def _check_hyper_parameters(self):
        """Validate the hyper-parameters; returns the result-relevant ones."""
        def positive_int(name):
            v = getattr(self, name)
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral) \
                    or v < 1:
                raise InvalidValueError(f"{name} must be a positive integer, got {v!r}")
            return int(v)

        def positive_float(name, allow_zero=False):
            v = getattr(self, name)
            ok = isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) \
                and np.isfinite(v) and (v >= 0 if allow_zero else v > 0)
            if not ok:
                what = "non-negative" if allow_zero else "positive"
                raise InvalidValueError(f"{name} must be a {what} number, got {v!r}")
            return float(v)

        def choice(name, options):
            v = getattr(self, name)
            if v not in options:
                raise InvalidValueError(f"{name} must be one of {list(options)}, got "
                                        f"{v!r}")
            return v

        for name in ("n_components", "t_train", "batch_size", "max_iter",
                     "transform_window", "checkpoint_every"):
            positive_int(name)
        if self.n_jobs is not None:
            positive_int("n_jobs")
        for name in ("learning_rate", "init_scale"):
            positive_float(name)
        if self.max_norm is not None:
            positive_float("max_norm")
        positive_float("homeostasis_rate", allow_zero=True)
        positive_float("beta", allow_zero=True)
        if not (isinstance(self.running_decay, numbers.Real)
                and 0 <= self.running_decay < 1):
            raise InvalidValueError(f"running_decay must lie in [0, 1), got "
                             f"{self.running_decay!r}")
        if self.target_rate is not None:
            positive_float("target_rate")
        choice("backend", ("reference", "network"))
        choice("optimizer", ("adam", "sgd"))
        choice("lr_schedule", ("cosine", "constant"))
        choice("norm_control", ("clip", "fixed", None))
        choice("homeostasis", ("global", "neuron"))
        choice("transform_output", ("counts", "rates"))
        if self.callback is not None and not callable(self.callback):
            raise InvalidTypeError(f"callback must be callable, got {self.callback!r}")
        hyper = {k: v for k, v in self.get_params(deep=False).items()
                 if k not in _NO_EFFECT}
        init = hyper["init"]
        if isinstance(init, IPVAEParams):
            hyper["init"] = "IPVAEParams:" + init.fingerprint()
        elif isinstance(init, (str, os.PathLike)) and init not in ("random", "default"):
            hyper["init"] = os.fspath(init)
        elif init not in ("random", "default"):
            raise InvalidValueError(f"init must be 'random', 'default', an IPVAEParams "
                                    f"or the path of a model .npz, got {init!r}")
        hyper["random_state"] = (self.random_state if isinstance(
            self.random_state, numbers.Integral) else None)
        return hyper

    def _initial_params(self, X, seed):
        init = self.init
        n_features = X.shape[1]
        if isinstance(init, str) and init == "random":
            # σ and the column norms scale with the data's RMS: the FOND
            # dynamics (drive Φᵀx/σ², weights ΦᵀΦ/σ²) are then the same for
            # data of any scale, and σ = 1, |φ| = init_scale for z-scored
            # patches, as in the bundled model.
            rms = float(np.sqrt(np.mean(np.square(X))))
            rms = rms if np.isfinite(rms) and rms > 0 else 1.0
            params = IPVAEParams.random(
                n_features, self.n_components, scale=self.init_scale * rms,
                random_state=np.random.SeedSequence([seed, _STREAM_INIT]))
            return params.replace(sigma=np.full(n_features, rms))
        if isinstance(init, IPVAEParams):
            params, what = init, "init model"
        elif isinstance(init, str) and init == "default":
            params, what = IPVAEParams.default(), "the bundled model (init='default')"
        else:
            params, what = IPVAEParams.load(init), f"init model '{os.fspath(init)}'"
        if params.n_pixels != n_features:
            raise ValueError(f"X has {n_features} features, but {what} expects "
                             f"{params.n_pixels} pixels per patch")
        if params.n_latents != self.n_components:
            raise ValueError(f"n_components={self.n_components}, but {what} has "
                             f"{params.n_latents} latents; set n_components="
                             f"{params.n_latents}")
        return params

    def _initial_state(self, X, hyper):
        seed = _base_seed(self.random_state)
        params = self._initial_params(X, seed)
        phi = params.phi.copy()
        max_norm = (float(np.linalg.norm(phi, axis=0).max()) if self.max_norm is None
                    else float(self.max_norm))
        return dict(seed=seed, epoch=0, batch=0, n_done=0, params=params,
                    opt_m=np.zeros_like(phi), opt_v=np.zeros_like(phi), opt_step=0,
                    grad_norm=0.0, max_norm=max_norm, sigma2=params.sigma ** 2,
                    rate=np.exp(params.u_init), history={k: [] for k in _HISTORY_KEYS},
                    hyper=hyper, data_hash=_data_hash(X))

    # -------------------------------------------------------------- loop
    def _run(self, X, state):
        n = X.shape[0]
        bs = min(self.batch_size, n)
        per_epoch = math.ceil(n / bs)
        total = per_epoch * self.max_iter
        bar = ProgressBar(total, desc="fit", enabled=self.progress, unit=" batches")
        bar.update(state["n_done"])
        stopped = False
        try:
            while state["epoch"] < self.max_iter and not stopped:
                order = np.random.default_rng(np.random.SeedSequence(
                    [state["seed"], _STREAM_ORDER, state["epoch"]])).permutation(n)
                while state["batch"] < per_epoch:
                    b = state["batch"]
                    idx = order[b * bs:(b + 1) * bs]
                    row = self._step(X[idx], state, total)
                    state["batch"] += 1
                    state["n_done"] += 1
                    if state["batch"] == per_epoch:
                        state["epoch"] += 1
                        state["batch"] = 0
                    bar.update(1)
                    if self.checkpoint and state["n_done"] % self.checkpoint_every == 0:
                        _save_checkpoint(self.checkpoint, state)
                    if self.callback is not None:
                        info = dict(epoch=row["epoch"], batch=b,
                                    n_batches=state["n_done"], total_batches=total,
                                    params=state["params"], history=row)
                        if self.callback(self, info) is True:
                            stopped = True
                            break
                    if state["batch"] == 0:
                        break
        finally:
            bar.close()
        if self.checkpoint:
            _save_checkpoint(self.checkpoint, state)
        self._set_fitted(state)
        return self

    def _step(self, xb, state, total):
        """One mini-batch: inference, then the offline updates (module docstring)."""
        params = state["params"]
        t = self.t_train
        seed = _stream_seed(state["seed"], _STREAM_BATCH, state["epoch"], state["batch"])
        # The KL term needs u_t. The reference records it; the network's
        # window realization is deterministic given its counts, so u is
        # replayed from the counts of windows 0..t-1.
        replay_u = self.beta > 0 and self.backend != "reference"
        windows = np.arange(0 if replay_u else 1, t + 1)
        result = self._infer(params, xb, t + 1, seed, windows,
                             record_u=self.beta > 0 and not replay_u)
        counts = result.counts[:, -t:]                      # windows 1..t
        # Patches that drove a neuron to the upper clamp are dynamical
        # instabilities, not posterior samples (their counts reach ~e^10):
        # they are left out of every update.
        runaway = np.any(result.runaway_onset >= 0, axis=1)
        keep = ~runaway
        step = state["opt_step"] + 1
        lr = self._learning_rate(step - 1, total)
        row = dict(epoch=state["epoch"], r2=float(np.nanmean(result.r2[:, t])),
                   r2_median=float(np.nanmedian(result.r2[:, t])),
                   zero_fraction=float(np.mean(result.zero_fraction[:, t])),
                   learning_rate=lr, n_runaway=int(runaway.sum()))
        if not keep.any():
            state["opt_step"] = step
            row.update(nll=np.nan, kl=np.nan, mean_count=np.nan,
                       sigma_mean=float(params.sigma.mean()),
                       bias_mean=float(params.bias.mean()))
            return self._record(state, row)
        K = params.n_latents
        B = int(keep.sum())
        N = B * t
        z = counts[keep].reshape(N, K).astype(np.float32)
        xr = np.repeat(xb[keep].astype(np.float32), t, axis=0)
        phi = params.phi
        resid = xr - z @ phi.T.astype(np.float32)
        sq = np.einsum("nm,nm->m", resid, resid, dtype=np.float64) / N
        prec = params.precision
        nll = float(0.5 * np.sum(sq * prec) + np.sum(np.log(params.sigma))
                    + 0.5 * params.n_pixels * np.log(2 * np.pi))
        err = resid * prec.astype(np.float32)                 # Σ⁻¹(x - Φz)
        grad = -(err.T @ z).astype(np.float64) / N
        kl = 0.0
        if self.beta > 0:
            if replay_u:
                from .reference import replay
                u = replay(params, xb[keep], result.counts[keep][:, :t])[:, 1:]
            else:
                u = result.u[keep]
            kl, grad_kl = _kl_step_gradient(params, u.reshape(N, K), z, err)
            grad += self.beta * grad_kl
        # A burst short of the clamp can still give one huge gradient, which
        # would also inflate Adam's second moment for ~1/(1-β2) batches: clip
        # the gradient norm at _GRAD_CLIP times its running average.
        gnorm = float(np.linalg.norm(grad))
        avg = state["grad_norm"]
        if avg > 0 and gnorm > _GRAD_CLIP * avg:
            grad *= _GRAD_CLIP * avg / gnorm
            gnorm = _GRAD_CLIP * avg
        state["grad_norm"] = gnorm if avg == 0 else 0.95 * avg + 0.05 * gnorm

        # ---- Φ: optimizer step, then the norm control
        if self.optimizer == "adam":
            b1, b2, eps = 0.9, 0.999, 1e-8
            m = state["opt_m"] = b1 * state["opt_m"] + (1 - b1) * grad
            v = state["opt_v"] = b2 * state["opt_v"] + (1 - b2) * grad * grad
            update = (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + eps)
        else:
            update = state["opt_m"] = 0.9 * state["opt_m"] + grad
        phi = phi - lr * update
        if self.norm_control is not None:
            norms = np.linalg.norm(phi, axis=0)
            target = np.full_like(norms, state["max_norm"])
            if self.norm_control == "clip":
                target = np.minimum(norms, state["max_norm"])
            phi *= target / np.where(norms > 0, norms, 1.0)
        state["opt_step"] = step

        # ---- σ, prior rate and spike cost
        decay = self.running_decay
        rate = z.mean(axis=0, dtype=np.float64)
        sigma = params.sigma
        if self.learn_sigma:
            state["sigma2"] = decay * state["sigma2"] + (1 - decay) * sq
            sigma = np.sqrt(np.maximum(state["sigma2"], 1e-12))
        u_init = params.u_init
        if self.learn_prior:
            state["rate"] = decay * state["rate"] + (1 - decay) * rate
            u_init = np.clip(np.log(np.maximum(state["rate"], 1e-300)),
                             params.clamp_min, params.clamp_u - 1.0)
        bias = params.bias
        if self.target_rate is not None:
            # Relative rate error, clipped so one odd batch moves b by at most
            # a factor exp(±homeostasis_rate).
            last = counts[keep][:, -1].mean(axis=0, dtype=np.float64)
            r = last.mean() if self.homeostasis == "global" else last
            rel = np.clip((r - self.target_rate) / self.target_rate, -1.0, 1.0)
            bias = bias * np.exp(self.homeostasis_rate * rel)
        state["params"] = params.replace(phi=phi, sigma=sigma, u_init=u_init,
                                         bias=bias)
        row.update(nll=nll, kl=kl, mean_count=float(rate.mean()),
                   sigma_mean=float(sigma.mean()), bias_mean=float(bias.mean()))
        return self._record(state, row)

    @staticmethod
    def _record(state, row):
        for k in _HISTORY_KEYS:
            state["history"][k].append(row[k])
        return row

    def _learning_rate(self, step, total):
        if self.lr_schedule == "constant":
            return self.learning_rate
        frac = min(step / max(total - 1, 1), 1.0)
        return self.learning_rate * (_COSINE_FLOOR + (1 - _COSINE_FLOOR)
                                     * 0.5 * (1 + math.cos(math.pi * frac)))

    def _infer(self, params, x, n_windows, seed, record_windows, record_u=False):
        """Run the selected backend; returns an `InferenceResult`."""
        if self.backend == "reference":
            from .reference import infer
            return infer(params, x, n_windows, seed=seed, record_windows=record_windows,
                         record_u=record_u, block_size=_BLOCK_SIZE, n_jobs=self.n_jobs,
                         progress=False, warn=False, client=self.client)
        try:
            from .network import SpikingIPVAE
        except ImportError as exc:
            raise ImportError(
                f"backend='network' needs the Brian2 network "
                f"(ipvae_snn.network), which could not be imported: {exc}; use "
                f"backend='reference' (the same dynamics in numpy)") from exc
        net = SpikingIPVAE(params, realization="window", device=self.device,
                           n_jobs=self.n_jobs)
        return net.run(x, n_windows, seed=seed, record_windows=record_windows,
                       progress=False, warn=False, client=self.client)

    def _set_fitted(self, state):
        self.params_ = state["params"]
        self.seed_ = int(state["seed"])
        self.n_batches_ = int(state["n_done"])
        self.n_iter_ = int(state["epoch"])
        self.history_ = {k: np.asarray(v, dtype=np.float64)
                         for k, v in state["history"].items()}
        self.components_ = self.params_.phi.T.copy()

    # ---------------------------------------------------------- transform
    def _check_X(self, X):
        check_is_fitted(self, "params_")
        return _validate_data(self, X, reset=False, dtype=np.float64)

    def _encode(self, X, seed=None):
        X = self._check_X(X)
        self._check_hyper_parameters()
        T = self.transform_window
        if seed is None:
            seed = _stream_seed(self.seed_, _STREAM_TRANSFORM)
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
            from .reference import replay
            u = replay(self.params_, result.x, result.counts[:, :T])[:, T]
        return np.exp(np.asarray(u, dtype=np.float64))

    def inverse_transform(self, X):
        """
        Reconstructions ``Φ z`` of counts (or rates), shape (n_samples, n_features).
        """
        check_is_fitted(self, "params_")
        Z = np.asarray(X)
        if Z.ndim != 2 or Z.shape[1] != self.params_.n_latents:
            raise ValueError(f"inverse_transform: expected shape (n_samples, "
                             f"{self.params_.n_latents}), got {Z.shape}")
        if Z.dtype.kind not in "fiub" or not np.all(np.isfinite(Z)):
            raise ValueError("inverse_transform: counts must be finite numbers")
        return Z.astype(np.float64) @ self.params_.phi.T

    def score(self, X, y=None):
        """
        Mean R² of the count reconstructions in window ``transform_window``.

        R² per patch is ``1 - Σ(x - Φz)² / Σ(x - mean x)²`` (design note §5);
        constant patches are left out of the mean.
        """
        result, T, _, _ = self._encode(X)
        r2 = result.r2[:, T]
        return float(np.nanmean(r2)) if np.isfinite(r2).any() else float("nan")


# ----------------------------------------------------------------- helpers
def _base_seed(random_state):
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be >= 0, got {random_state}")
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2 ** 31 - 1))


def _stream_seed(seed, *keys):
    """An integer seed for the stream (seed, *keys), independent of the others."""
    ss = np.random.SeedSequence([int(seed), *map(int, keys)])
    return int(ss.generate_state(1, np.uint64)[0])


def _data_hash(X):
    h = hashlib.sha1()
    h.update(str(X.shape).encode())
    h.update(np.ascontiguousarray(X).view(np.uint8))
    return h.hexdigest()


def _save_checkpoint(path, state):
    arrays = {"format": np.array(CHECKPOINT_FORMAT),
              "hyper_json": np.array(json.dumps(state["hyper"], sort_keys=True,
                                                default=str)),
              "data_hash": np.array(state["data_hash"]),
              "seed": np.int64(state["seed"]), "epoch": np.int64(state["epoch"]),
              "batch": np.int64(state["batch"]), "n_done": np.int64(state["n_done"]),
              "opt_step": np.int64(state["opt_step"]), "opt_m": state["opt_m"],
              "opt_v": state["opt_v"], "sigma2": state["sigma2"],
              "grad_norm": np.float64(state["grad_norm"]),
              "rate": state["rate"], "max_norm": np.float64(state["max_norm"])}
    for k, v in state["params"].to_arrays().items():
        arrays["params__" + k] = v
    for k, v in state["history"].items():
        arrays["history__" + k] = np.asarray(v, dtype=np.float64)
    atomic_savez(path, **arrays)


def _load_checkpoint(path, X, hyper, n_components):
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except Exception as exc:
        raise InvalidValueError(f"checkpoint '{path}' is not a readable .npz file: "
                                f"{exc}") from exc
    if str(arrays.get("format", "")) != CHECKPOINT_FORMAT:
        raise InvalidValueError(f"'{path}' is not a fit checkpoint of "
                                f"SpikingDictionaryLearner (no '{CHECKPOINT_FORMAT}' tag)")
    needed = ("hyper_json", "data_hash", "seed", "epoch", "batch", "n_done", "opt_step",
              "opt_m", "opt_v", "sigma2", "grad_norm", "rate", "max_norm",
              *(f"history__{k}" for k in _HISTORY_KEYS))
    missing = [k for k in needed if k not in arrays]
    if missing:
        raise MissingKeyError(f"checkpoint '{path}' has no key {missing[0]!r}"
                              + (f" (nor {missing[1:]})" if len(missing) > 1 else "")
                              + "; it is damaged or from another version")
    params = IPVAEParams.from_arrays(
        {k[len("params__"):]: v for k, v in arrays.items() if k.startswith("params__")},
        source=f"checkpoint '{path}'")
    if params.n_pixels != X.shape[1] or params.n_latents != n_components:
        raise InvalidValueError(
            f"checkpoint '{path}' is from a model of another size: "
            f"{params.n_pixels} pixels x {params.n_latents} latents, but this fit "
            f"has {X.shape[1]} features and n_components={n_components}")
    try:
        saved = json.loads(str(arrays["hyper_json"]))
        if not isinstance(saved, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        raise InvalidValueError(f"checkpoint '{path}': its key 'hyper_json' is not the "
                                f"JSON of the hyper-parameters ({exc})") from None
    current = json.loads(json.dumps(hyper, sort_keys=True, default=str))
    diff = sorted(k for k in set(saved) | set(current) if saved.get(k) != current.get(k))
    if diff:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {current.get(k)!r}" for k in diff)
        raise InvalidValueError(f"checkpoint '{path}' was written by a fit with other "
                                f"hyper-parameters ({detail}); a resumed fit must use the "
                                f"same ones")
    if str(arrays["data_hash"]) != _data_hash(X):
        raise InvalidValueError(f"checkpoint '{path}' was written by a fit on other data "
                                f"(different X); resume with the same X, or start a new "
                                f"fit with init=<the checkpoint's model>")
    history = {k: arrays["history__" + k].tolist() for k in _HISTORY_KEYS}
    try:
        return dict(max_norm=float(arrays["max_norm"]),
                    seed=int(arrays["seed"]), epoch=int(arrays["epoch"]),
                    batch=int(arrays["batch"]), n_done=int(arrays["n_done"]),
                    params=params, opt_m=arrays["opt_m"], opt_v=arrays["opt_v"],
                    opt_step=int(arrays["opt_step"]), sigma2=arrays["sigma2"],
                    grad_norm=float(arrays["grad_norm"]),
                    rate=arrays["rate"], history=history, hyper=hyper,
                    data_hash=str(arrays["data_hash"]))
    except (TypeError, ValueError) as exc:
        raise InvalidValueError(f"checkpoint '{path}' holds a value of the wrong kind "
                                f"({exc}); it is damaged") from None


def _kl_step_gradient(params, u, z, err):
    """
    The KL term of one FOND step and its gradient with respect to Φ.

    For window t with potential ``u_t`` and counts ``z_t``, the update
    ``d = lr (Φᵀ Σ⁻¹ (x - Φ z_t) - b)``, clamped to ``d̃ = C_du(d)``, moves the
    posterior from rate ``λ_t`` to ``λ_t e^d̃``; its KL divergence from the
    previous posterior (the rolling prior; the true Poisson KL of design note
    §1) is ``KL = λ_t (1 + e^d̃ (d̃ - 1))``. With ``u_t`` and ``z_t`` held fixed
    (the counts are given, the gradient is truncated to one step),
    ``∂KL/∂d = λ_t e^d̃ d̃ · C_du'(d) =: g`` and

        ∇_Φ Σ_k g_k d_k = lr [ Σ⁻¹(x - Φz) gᵀ - Σ⁻¹ Φ g zᵀ ].

    Parameters
    ----------
    params : IPVAEParams
    u, z : ndarray, shape (n, n_latents)
        Potentials and counts of n patch-windows.
    err : ndarray, shape (n, n_pixels)
        ``Σ⁻¹ (x - Φ z)`` of the same patch-windows.

    Returns
    -------
    kl : float
        Mean KL per patch-window (summed over neurons).
    grad : ndarray, shape (n_pixels, n_latents)
        Its gradient with respect to Φ (mean over patch-windows).
    """
    n = z.shape[0]
    phi32 = params.phi.astype(np.float32)
    d = params.lr * (err @ phi32 - params.bias.astype(np.float32))
    lo, c = params.clamp_min, params.clamp_du
    above = d > lo
    s = c - np.maximum(d, lo)
    # softplus'(s) = sigmoid(s); torch's softplus is linear above the threshold.
    slope = np.where(s > params.softplus_threshold, 1.0, 1.0 / (1.0 + np.exp(-s)))
    slope = np.where(above, slope, 0.0)
    dc = np.asarray(d, dtype=np.float64)
    from .reference import fond_clamp
    dc = fond_clamp(dc, c, params)
    lam = np.exp(np.asarray(u, dtype=np.float64))
    growth = np.exp(dc)
    kl = float(np.sum(lam * (1.0 + growth * (dc - 1.0))) / n)
    g = (lam * growth * dc * slope).astype(np.float32)
    grad = params.lr * (err.T @ g
                        - (params.precision.astype(np.float32)[:, None]
                           * (phi32 @ g.T)) @ z)
    return kl, grad.astype(np.float64) / n
