"""
Shared defaults and constants: each is defined here once and imported
wherever it is needed.

The names of the model's run-time constants (``lr``, ``clamp_u``, ...) are not
listed here: they are the ``[constants]`` sections of the equation files
(`ipvae_snn.equations.constant_names`). This module holds the numbers that
several modules share: the default window length, the patch size of the
bundled model, the official code's fixed constants, the windows summaries
report and the start of the analysed windows.

Examples
--------
>>> from ipvae_snn import defaults
>>> defaults.DEFAULT_WINDOW_S, defaults.PATCH_SIZE
(0.1, 16)
>>> defaults.min_analysis_windows()
33
"""

import numpy as np

__all__ = ["DEFAULT_WINDOW_S", "PATCH_SIZE", "FLOAT32_EPS", "SIGMA_SOFTCLAMP",
           "CLAMP_U", "CLAMP_DU", "CLAMP_MIN", "SOFTPLUS_THRESHOLD", "SUMMARY_WINDOWS",
           "FIGURE_WINDOWS", "ANALYSIS_START", "min_analysis_windows", "MAX_ABS_VALUE",
           "MAX_CLAMP_U", "MAX_SELF_INHIBITION", "MEMORY_LIMIT_ENV",
           "SCHEDULER_ENV", "SCHEDULER_TIMEOUT_S", "WAIT_WORKERS_S", "CACHE_ENV"]

#: Default window length T_w in seconds: one inference step. 100 ms makes the
#: bundled model's mean counts per window read as rates within the range of
#: mean rates of V1 neurons (Buzsáki & Mizuseki 2014; the documentation's model
#: page gives the counts of a run), and a window one cycle of the ~10 Hz alpha
#: rhythm proposed as a perceptual sampling cycle (VanRullen 2016).
DEFAULT_WINDOW_S = 0.1

#: Side of the bundled model's square input patches (16×16 = 256 pixels).
PATCH_SIZE = 16

#: The constant the official code adds to ``exp(u)`` to form the Poisson rate
#: (float32 machine epsilon).
FLOAT32_EPS = float(np.finfo(np.float32).eps)

#: The official decoder log-std is soft-clamped symmetrically with this c:
#: ``σ = exp(c · tanh(dec_log_sigma / c))``.
SIGMA_SOFTCLAMP = 3.45

#: Default upper soft-clamp levels of u and of its update Δu (official
#: ``clamp_u``, ``clamp_du`` of the reference model).
CLAMP_U = 10.0
CLAMP_DU = 10.0

#: The largest upper clamp of u a model may have: ``exp(20)`` ≈ 4.9e8 expected
#: spikes per window. Beyond it the counts overflow the 32-bit integers they are
#: stored in (and numpy's Poisson sampler refuses rates above ~1e19).
MAX_CLAMP_U = 20.0

#: The largest magnitude of an input pixel and of a model's dictionary entry,
#: decoder std (and its inverse), spike cost and step size. The model works on
#: whitened patches of unit scale (the bundled model has ``|Φ| < 1``, σ ≈ 1);
#: within these bounds every intermediate of the dynamics stays finite in
#: float32, beyond them squares and products overflow to inf and NaN.
MAX_ABS_VALUE = 1e6

#: The largest self-inhibition ``‖φ_k‖² / σ²`` (a diagonal entry of the lateral
#: weights ``W = Φᵀ Σ⁻¹ Φ``) a model may have; the bundled model's is 0.1.
MAX_SELF_INHIBITION = 1e12

#: Environment variable that caps the memory (in bytes, or with a K/M/G/T
#: suffix) a run may plan to allocate; default: the memory available now.
MEMORY_LIMIT_ENV = "IPVAE_SNN_MEMORY_LIMIT"

#: Hard lower clamp of u and Δu (official ``hard_clamp_min``).
CLAMP_MIN = -8.0

#: Above this argument softplus returns its input (torch's default).
SOFTPLUS_THRESHOLD = 20.0

#: Windows at which summaries are reported by default (those of the official
#: ``metrics.json``).
SUMMARY_WINDOWS = (1, 4, 16, 64, 256, 1000)

#: Windows the command line's reconstruction figure shows besides the last.
FIGURE_WINDOWS = (1, 4, 16, 64)

#: First window of the spike statistics: the windows before it are the
#: transient from the prior ``u_init``.
ANALYSIS_START = 16

#: Environment variable naming the folder of the compiled programs' cache
#: (`ipvae_snn.network.program.default_cache_dir`).
CACHE_ENV = "IPVAE_SNN_CACHE"

#: Environment variable naming the Dask scheduler (Dask's own) that
#: ``--scheduler`` defaults to.
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
#: Seconds to wait for a scheduler file to appear, and then for the scheduler
#: to answer its handshake and the client to connect (`ipvae_snn.cluster`).
SCHEDULER_TIMEOUT_S = 10.0
#: Seconds to wait for a scheduler's first worker unless ``--wait-workers``
#: (``wait_workers=``) says otherwise.
WAIT_WORKERS_S = 10.0


def min_analysis_windows():
    """
    The fewest windows per trial of a statistics run: the transient of
    `ANALYSIS_START` windows and at least as many analysed ones after it.
    """
    return 2 * ANALYSIS_START + 1
