"""
The end of a fit: the learner's training state turned into the fitted model,
at the chosen operating point (spike size and cost) and with the prior capped
(`updates.calibrate_operating_point`, `updates.calibrate_prior`).
"""

import numpy as np

from .._progress import ProgressBar
from ..validation import InvalidValueError, check_number
from . import updates
from .checkpoint import STREAM_PRIOR, stream_seed

__all__ = ["calibrate_fit", "check_calibration", "CALIBRATION_PATCHES", "OPERATING_POINT_PATCHES"]

#: Training patches the calibrations score (the first of a seeded order).
CALIBRATION_PATCHES = 4096
OPERATING_POINT_PATCHES = 2048


def check_calibration(operating_point, prior_cap):
    """
    Validate a learner's ``operating_point`` and ``prior_cap``: None, "auto" or
    a value (a positive pair (spike size, cost factor); a number).

    Examples
    --------
    >>> check_calibration((1.0, 0.0), None)
    Traceback (most recent call last):
    ...
    ipvae_snn.validation.InvalidValueError: operating_point must be a positive number, got 0.0
    """
    if not (prior_cap is None or (isinstance(prior_cap, str) and prior_cap == "auto")):
        check_number(prior_cap, "prior_cap")
    point = operating_point
    if not (point is None or (isinstance(point, str) and point == "auto")):
        if not (isinstance(point, (tuple, list)) and len(point) == 2):
            raise InvalidValueError(f"operating_point must be None, 'auto' or a "
                                    f"pair (spike size, cost factor), got {point!r}")
        for value in point:
            check_number(value, "operating_point", low=0, low_open=True)


def calibrate_fit(learner, params, X, seed):
    """
    The fitted model of ``learner`` (a `SpikingDictionaryLearner`) from the
    training state's ``params``: ``(params, operating point, prior cap,
    tables)``. The calibrations run through the learner's own inference
    (backend, device, executor) on training patches ``X`` chosen by ``seed``.

    Examples
    --------
    >>> import numpy as np
    >>> from ipvae_snn import IPVAEParams
    >>> from ipvae_snn.learning import SpikingDictionaryLearner
    >>> learner = SpikingDictionaryLearner(16, operating_point=None, prior_cap=None)
    >>> params = IPVAEParams.random(16, 16, random_state=0)
    >>> fitted, point, cap, tables = calibrate_fit(learner, params, np.zeros((4, 16)), 0)
    >>> point, cap, tables
    ((1.0, 1.0), None, {})
    """
    pick = np.random.default_rng(np.random.SeedSequence(
        [seed, STREAM_PRIOR])).permutation(X.shape[0])
    stream = stream_seed(seed, STREAM_PRIOR, 1)

    bar = ProgressBar(updates.calibration_runs(learner.operating_point, learner.prior_cap),
                      desc="calibration", enabled=learner.progress, unit=" runs")
    run = bar.counting(lambda trial, x, n: learner._infer(trial, x, n, stream, [n - 1]))
    tables, point, cap = {}, (1.0, 1.0), None
    if isinstance(learner.operating_point, str):
        x = X[np.sort(pick[:OPERATING_POINT_PATCHES])]
        params, table, point = updates.calibrate_operating_point(
            params, x, learner.calibration_window,
            bar.counting(lambda trial, x, n: learner._infer_potential(trial, x, n, stream)))
        tables["operating_point"] = table
    elif learner.operating_point is not None:
        point = tuple(float(v) for v in learner.operating_point)
        params = updates.change_spike_size(params, *point)
    if isinstance(learner.prior_cap, str):
        x = X[np.sort(pick[:CALIBRATION_PATCHES])]
        params, table, cap = updates.calibrate_prior(
            params, x, learner.t_train, run, late=learner.calibration_window)
        tables["prior_cap"] = table
    elif learner.prior_cap is not None:
        cap = float(learner.prior_cap)
        params = params.replace(u_init=np.minimum(params.u_init, cap))
    bar.close()
    return params, point, cap, tables
