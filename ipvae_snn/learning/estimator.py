"""
`SpikingDictionaryLearner`: the scikit-learn estimator that learns an iP-VAE
from the spikes of its own inference network.

Each mini-batch runs spiking inference (the numpy reference algorithm or the
Brian2 network, the same dynamics) and then the offline updates of
`ipvae_snn.learning.updates` from the recorded counts, as named steps of
`SpikingDictionaryLearner._step`: Φ (gradient, clip, optimizer, norm
control), σ and the prior rate (closed forms), the spike cost (homeostasis).
At the end of the fit the prior is calibrated (`updates.calibrate_prior`).
The method, its derivations and what mattered for the shipped models are in
``docs/learning.md``.
"""

import math
import numbers
import os
import time

import numpy as np
from sklearn.base import (BaseEstimator, ClassNamePrefixFeaturesOutMixin,
                          TransformerMixin, clone)
from threadpoolctl import threadpool_limits

from .._progress import ProgressBar
from ..cluster import resolve_client, scheduler_address
from ..contrast import ContrastNormalization
from ..params import IPVAEParams
from ..validation import (InvalidTypeError, InvalidValueError, MissingFileError,
                          check_constraint)
from . import updates
from .calibration import calibrate_fit, check_calibration
from .checkpoint import (HISTORY_KEYS, STREAM_BATCH, STREAM_INIT, STREAM_ORDER,
                         base_seed, check_new_checkpoint, data_hash, load_checkpoint,
                         save_checkpoint, stream_seed)
from .readout import SpikeCodeMixin
from .readout import validate_data as _validate_data

__all__ = ["SpikingDictionaryLearner"]

# Chunks (tasks) of a training batch, to keep workers busy: their size depends
# on batch_size alone, never on where they run.
_TASKS_PER_BATCH = 8
# Hyper-parameters that do not change the result (excluded from the
# compatibility check of a resumed fit).
_NO_EFFECT = ("callback", "checkpoint", "checkpoint_every", "client", "n_jobs", "progress")
# Hyper-parameters of the calibrations at the end of a fit: they do not change
# the training state, so a checkpoint resumes whatever they are.
_CALIBRATION = ("operating_point", "calibration_window", "prior_cap")


class SpikingDictionaryLearner(SpikeCodeMixin, ClassNamePrefixFeaturesOutMixin,
                               TransformerMixin, BaseEstimator):
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
        z-scored patches), and b, lr, u_init of the official model when
        K = 512 (else b = 0.05, lr = 0.5, u_init = -4).
        ``"default"``: the default bundled model (K = 512). An
        `IPVAEParams` or a ``.npz`` model file: that model (a warm start).
    init_scale : float, default=0.3
        Column norm of a random Φ relative to rms(X) (the official model's
        columns have norms 0.32–0.50 on z-scored patches).
    spike_cost : float or None, default=None
        The spike cost b of every neuron at the start (one value; with
        ``target_rate`` the start of the homeostasis); None keeps the initial
        model's b. The rate–distortion knob: a larger cost, sparser codes.
    backend : {"reference", "network"}, default="reference"
        Who runs the inference: the numpy reference algorithm or the Brian2
        network (`ipvae_snn.network.SpikingIPVAE`, window realization) — the
        same dynamics; a compiled network is reused with new weights every
        batch, but the reference is much faster for fitting.
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
        Update u_init by its closed form (log of the running mean count)
        during the fit.
    operating_point : {"auto"} or (float, float) or None, default=None
        Size of one spike and factor on the spike cost, applied to the
        fitted model by `updates.change_spike_size`. ``"auto"``: the pair of
        `updates.SPIKE_SCALES` × `updates.COST_SCALES` with the smallest
        rate–distortion distance (the mean of the spike-count and the rate
        read-outs') at ``calibration_window`` on (up to 2,048 of) the
        training patches; a pair: that one; None: the learnt model.
    calibration_window : int, default=256
        Window (near the steady state) of the ``operating_point`` calibration,
        and the late window of the ``prior_cap`` calibration's settling test.
    prior_cap : {"auto"} or float or None, default="auto"
        Cap on the fitted prior log-rate ``u_init`` (the start of inference;
        the steady state does not depend on it). ``"auto"``: at the end of
        the fit, the cap among `updates.PRIOR_CAPS` with the best mean R² at
        window ``t_train`` on (up to 4,096 of) the training patches among
        those with which R² does not fall from window 64 to
        ``calibration_window`` (`updates.calibrate_prior`) — the closed-form
        prior starts inference dense, which ruins the first windows of quiet,
        low-contrast patches and gives an early R² peak that later windows
        lose (``docs/learning.md``). A number: that cap. None: no cap.
    running_decay : float, default=0.98
        Weight of the past in the running averages of σ² and the prior rate.
    normalize_contrast : bool, default=False
        Divide every patch by its contrast (`ipvae_snn.contrast`) in training and
        in the fitted model (``contrast_``); a warm start's own normalisation
        is not applied in training: this parameter decides.
    beta : float, default=0.0
        Weight of the one-step KL term ``KL(q_{t+1} ‖ q_t)`` in Φ's
        objective (0: the plain Olshausen–Field rule); it shrinks the columns
        and the lateral coupling, at a cost in reconstruction.
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
    client : distributed.Client, str or None, default=None
        Run each batch's inference as tasks on this Dask cluster (results do
        not depend on it): a client, or its scheduler's address
        (``tcp://host:port``) or scheduler file, connected to when used
        (`ipvae_snn.cluster.resolve_client`). `sklearn.base.clone` shares the
        client; a pickled (or deep-copied) learner holds the scheduler's
        address instead and reconnects, so learners with a client can be
        cloned, pickled and cross-validated.

    Attributes
    ----------
    params_ : IPVAEParams
        The learnt model (save it with ``params_.save(path)``).
    contrast_ : ContrastNormalization or None
        ``params_.contrast``: to the RMS contrast of ``X`` (``normalize_contrast``).
    components_ : ndarray, shape (n_components, n_features)
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
    operating_point_ : (float, float)
        Spike size and cost factor applied to ``params_`` (1, 1: none).
    prior_cap_ : float or None
        The cap applied to ``params_.u_init``.
    calibration_ : dict
        The candidates of the ``"auto"`` calibrations and their scores.
    fit_seconds_ : float
        Wall time of the training batches (over all resumed parts).

    Examples
    --------
    >>> from ipvae_snn.data import natural_patches
    >>> x = natural_patches(n_patches=256, seed=0)
    >>> learner = SpikingDictionaryLearner(n_components=64, max_iter=1,
    ...                                    random_state=0, progress=False).fit(x)
    >>> learner.components_.shape
    (64, 256)
    >>> learner.transform(x[:3]).shape
    (3, 64)

    Notes
    -----
    `transform` draws Poisson samples: it is deterministic for a fitted
    learner (its stream derives from ``seed_``) but a patch's counts depend
    on the other patches in the call, since the patches of a block share one
    random stream; they are equal in distribution, not element-wise.
    """

    #: What each hyper-parameter may be, checked by `fit` like scikit-learn's
    #: ``_parameter_constraints`` (rules: `ipvae_snn.validation.check_constraint`).
    _parameter_constraints = {
        "n_components": ("int", 1), "t_train": ("int", 1), "batch_size": ("int", 1),
        "max_iter": ("int", 1), "transform_window": ("int", 1),
        "checkpoint_every": ("int", 1), "n_jobs": ("optional", ("int", 1)),
        "calibration_window": ("int", 1),
        "learning_rate": ("number", 0, None), "init_scale": ("number", 0, None),
        "spike_cost": ("optional", ("number", 0, None)),
        "max_norm": ("optional", ("number", 0, None)),
        "target_rate": ("optional", ("number", 0, None)),
        "homeostasis_rate": ("number", 0, None, "closed"),
        "beta": ("number", 0, None, "closed"),
        "running_decay": ("number", 0, 1, "half-open"),
        "backend": ("choice", ("reference", "network")),
        "optimizer": ("choice", ("adam", "sgd")),
        "lr_schedule": ("choice", ("cosine", "constant")),
        "norm_control": ("choice", ("clip", "fixed", None)),
        "homeostasis": ("choice", ("global", "neuron")),
        "transform_output": ("choice", ("counts", "rates")),
    }

    def __init__(self, n_components=512, *, init="random", init_scale=0.3,
                 spike_cost=None, backend="reference", device="runtime", t_train=16,
                 batch_size=256, max_iter=10, learning_rate=5e-3, optimizer="adam",
                 lr_schedule="cosine", norm_control="clip", max_norm=None,
                 learn_sigma=False, learn_prior=True, operating_point=None,
                 calibration_window=256, prior_cap="auto", normalize_contrast=False,
                 running_decay=0.98, beta=0.0, target_rate=None, homeostasis="global",
                 homeostasis_rate=0.05, transform_window=16, transform_output="counts",
                 checkpoint=None, checkpoint_every=100, callback=None, n_jobs=None,
                 progress=None, random_state=None, client=None):
        self.n_components = n_components
        self.init = init
        self.init_scale = init_scale
        self.spike_cost = spike_cost
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
        self.operating_point = operating_point
        self.calibration_window = calibration_window
        self.prior_cap = prior_cap
        self.running_decay = running_decay
        self.normalize_contrast = normalize_contrast
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

    def __sklearn_clone__(self):
        # A Dask client cannot be deep-copied (it holds a live connection):
        # the clone shares it, as it shares the cluster.
        if self.client is None or isinstance(self.client, (str, os.PathLike)):
            return super().__sklearn_clone__()
        bare = object.__new__(type(self))
        bare.__dict__.update(self.__dict__, client=None)
        twin = clone(bare)
        twin.client = self.client
        return twin

    def __getstate__(self):
        # A pickle holds the scheduler's address, not the live client;
        # `_infer` reconnects through `resolve_client` (cached per process).
        state = super().__getstate__()
        state["client"] = scheduler_address(state.get("client"))
        return state

    @property
    def _n_features_out(self):
        return self.params_.n_latents

    # --------------------------------------------------------------- fit
    def fit(self, X, y=None, *, resume=False, X_calibration=None):
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
        X_calibration : array_like, shape (n, n_features), optional
            What the end-of-fit calibrations score instead of ``X``: patches of
            photographs held out of training (a choice made on new images).

        Returns
        -------
        self
        """
        X = _validate_data(self, X, reset=True, dtype=np.float64,
                           ensure_min_samples=1)
        X_cal = X if X_calibration is None else _validate_data(
            self, X_calibration, reset=False, dtype=np.float64, ensure_min_samples=1)
        hyper = self._check_hyper_parameters()
        X, X_cal = self._training_data(X, X_cal)
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
            state = load_checkpoint(path, X, hyper, self.n_components)
        if state is None:
            check_new_checkpoint(self.checkpoint)      # never overwrite a user's file
            state = self._initial_state(X, hyper)
        return self._run(X, state, X_cal)

    def _training_data(self, X, X_cal):
        """``X, X_cal`` as the fitted model's network will see them; sets ``contrast_``."""
        self.contrast_ = ContrastNormalization.from_patches(X) if self.normalize_contrast else None
        return (X, X_cal) if self.contrast_ is None else (self.contrast_(X)[0],
                                                          self.contrast_(X_cal)[0])

    def _check_hyper_parameters(self):
        """Validate the hyper-parameters; returns the result-relevant ones."""
        for name, rule in self._parameter_constraints.items():
            check_constraint(getattr(self, name), name, rule)
        if self.callback is not None and not callable(self.callback):
            raise InvalidTypeError(f"callback must be callable, got {self.callback!r}")
        resolve_client(self.client)             # a wrong type or address: before any work
        check_calibration(self.operating_point, self.prior_cap)
        hyper = {k: v for k, v in self.get_params(deep=False).items()
                 if k not in _NO_EFFECT + _CALIBRATION}
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
                random_state=np.random.SeedSequence([seed, STREAM_INIT]))
            return self._with_spike_cost(params.replace(sigma=np.full(n_features, rms)))
        if isinstance(init, IPVAEParams):
            params, what = init, "init model"
        elif isinstance(init, str) and init == "default":
            params, what = IPVAEParams.default(), "the bundled model (init='default')"
        else:
            params, what = IPVAEParams.load(init), f"init model '{os.fspath(init)}'"
        if params.n_pixels != n_features:
            raise InvalidValueError(f"X has {n_features} features, but {what} expects "
                             f"{params.n_pixels} pixels per patch")
        if params.n_latents != self.n_components:
            raise InvalidValueError(f"n_components={self.n_components}, but {what} has "
                             f"{params.n_latents} latents; set n_components="
                             f"{params.n_latents}")
        return self._with_spike_cost(params.replace(contrast=None))  # fit normalises X

    def _with_spike_cost(self, params):
        if self.spike_cost is None:
            return params
        return params.replace(bias=np.full(params.n_latents, float(self.spike_cost)))

    def _initial_state(self, X, hyper):
        seed = base_seed(self.random_state)
        params = self._initial_params(X, seed)
        phi = params.phi.copy()
        max_norm = (float(np.linalg.norm(phi, axis=0).max()) if self.max_norm is None
                    else float(self.max_norm))
        return dict(seed=seed, epoch=0, batch=0, n_done=0, seconds=0.0, params=params,
                    opt_m=np.zeros_like(phi), opt_v=np.zeros_like(phi), opt_step=0,
                    grad_norm=0.0, max_norm=max_norm, sigma2=params.sigma ** 2,
                    rate=np.exp(params.u_init), history={k: [] for k in HISTORY_KEYS},
                    hyper=hyper, data_hash=data_hash(X))

    # -------------------------------------------------------------- loop
    def _run(self, X, state, X_calibration):
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
                    [state["seed"], STREAM_ORDER, state["epoch"]])).permutation(n)
                while state["batch"] < per_epoch:
                    b = state["batch"]
                    start = time.perf_counter()
                    # one BLAS thread: more sum the gradient in a thread-dependent
                    # order, and the fit amplifies the last bits (docs/learning.md)
                    with threadpool_limits(limits=1, user_api="blas"):
                        row = self._step(X[order[b * bs:(b + 1) * bs]], state, total)
                    state["seconds"] += time.perf_counter() - start
                    state["batch"] += 1
                    state["n_done"] += 1
                    if state["batch"] == per_epoch:
                        state["epoch"] += 1
                        state["batch"] = 0
                    bar.update(1)
                    if self.checkpoint and state["n_done"] % self.checkpoint_every == 0:
                        save_checkpoint(self.checkpoint, state)
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
            save_checkpoint(self.checkpoint, state)
        self._set_fitted(state, X_calibration)
        return self

    def _step(self, xb, state, total):
        """One mini-batch: inference, then the named offline updates."""
        params = state["params"]
        t = self.t_train
        result, u = self._batch_inference(params, xb, state)
        # Patches that drove a neuron to the upper clamp are dynamical
        # instabilities, not posterior samples (their counts reach ~e^10):
        # they are left out of every update.
        runaway = np.any(result.runaway_onset >= 0, axis=1)
        keep = ~runaway
        state["opt_step"] += 1
        lr = updates.learning_rate(state["opt_step"] - 1, total, self.learning_rate,
                                   self.lr_schedule)
        row = dict(epoch=state["epoch"], r2=float(np.nanmean(result.r2[:, t])),
                   r2_median=float(np.nanmedian(result.r2[:, t])),
                   zero_fraction=float(np.mean(result.zero_fraction[:, t])),
                   learning_rate=lr, n_runaway=int(runaway.sum()), nll=np.nan,
                   kl=np.nan, mean_count=np.nan, sigma_mean=float(params.sigma.mean()),
                   bias_mean=float(params.bias.mean()))
        updates.check_runaway(state, keep.any(), params, total, self.checkpoint)
        if not keep.any():
            return self._record(state, row)
        counts = result.counts[keep][:, -t:]                     # windows 1..t
        K = params.n_latents
        z = counts.reshape(-1, K).astype(np.float32)
        xr = np.repeat(xb[keep].astype(np.float32), t, axis=0)
        grad, nll, err, sq = updates.dictionary_gradient(params, xr, z)
        kl = 0.0
        if self.beta > 0:
            kl, grad_kl = updates.kl_step_gradient(params, u[keep].reshape(-1, K), z, err)
            grad += self.beta * grad_kl
        grad, state["grad_norm"] = updates.clip_gradient(grad, state["grad_norm"])
        phi = updates.optimizer_step(params.phi, grad, state, lr, self.optimizer)
        phi = updates.control_norms(phi, state["max_norm"], self.norm_control)
        rate = z.mean(axis=0, dtype=np.float64)
        sigma, u_init, bias = params.sigma, params.u_init, params.bias
        if self.learn_sigma:
            state["sigma2"] = updates.running_average(state["sigma2"], sq,
                                                      self.running_decay)
            sigma = np.sqrt(np.maximum(state["sigma2"], 1e-12))
        if self.learn_prior:
            state["rate"] = updates.running_average(state["rate"], rate,
                                                    self.running_decay)
            u_init = np.clip(np.log(np.maximum(state["rate"], 1e-300)),
                             params.clamp_min, params.clamp_u - 1.0)
        if self.target_rate is not None:
            bias = updates.homeostasis(bias, counts[:, -1], self.target_rate,
                                       self.homeostasis, self.homeostasis_rate)
        updates.check_step(state, lr, self.checkpoint, phi, sigma, u_init, bias, nll)
        state["params"] = params.replace(phi=phi, sigma=sigma, u_init=u_init, bias=bias)
        row.update(nll=nll, kl=kl, mean_count=float(rate.mean()),
                   sigma_mean=float(sigma.mean()), bias_mean=float(bias.mean()))
        return self._record(state, row)

    def _batch_inference(self, params, xb, state):
        """
        Windows 0..t_train of one batch; returns the result and, when the KL
        term needs them, the potentials of windows 1..t_train. The reference
        records them; the network's window realization is deterministic given
        its counts, so they are replayed from the counts of windows 0..t-1.
        """
        t = self.t_train
        seed = stream_seed(state["seed"], STREAM_BATCH, state["epoch"], state["batch"])
        need_u = self.beta > 0
        replay_u = need_u and self.backend != "reference"
        windows = np.arange(0 if replay_u else 1, t + 1)
        result = self._infer(params, xb, t + 1, seed, windows,
                             record_u=need_u and not replay_u,
                             block_size=-(-self.batch_size // _TASKS_PER_BATCH))
        u = None
        if replay_u:
            from ..reference import replay
            u = replay(params, xb, result.counts[:, :t])[:, 1:]
        elif need_u:
            u = result.u
        return result, u

    @staticmethod
    def _record(state, row):
        for k in HISTORY_KEYS:
            state["history"][k].append(row[k])
        return row

    def _set_fitted(self, state, X):
        (params, self.operating_point_, self.prior_cap_,
         self.calibration_) = calibrate_fit(self, state["params"], X, state["seed"])
        self.params_ = params.replace(contrast=self.contrast_)
        self.fit_seconds_ = float(state["seconds"])
        self.seed_ = int(state["seed"])
        self.n_batches_, self.n_iter_ = int(state["n_done"]), int(state["epoch"])
        self.history_ = {k: np.asarray(v, dtype=np.float64)
                         for k, v in state["history"].items()}
        self.components_ = self.params_.phi.T.copy()
