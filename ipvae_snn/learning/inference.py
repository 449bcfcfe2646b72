"""
The inference step of learning: one batch through the numpy reference
algorithm or the Brian2 network (window realization), the same dynamics.
"""

__all__ = ["run_inference"]

# Patches per random stream of the reference algorithm, unless told.
_BLOCK_SIZE = 128


def run_inference(backend, params, x, n_windows, *, seed, record_windows,
                  record_u=False, device="runtime", n_jobs=None, client=None,
                  block_size=None):
    """
    Windows ``0 … n_windows - 1`` of patches ``x``; returns an `InferenceResult`.

    ``backend="reference"``: `ipvae_snn.reference.infer` with one random
    stream per ``block_size`` patches (default 128; so results do not depend
    on ``n_jobs``). ``"network"``: `ipvae_snn.network.SpikingIPVAE` on
    ``device``; a compiled standalone program is reused, the new weights go
    in as run arguments; ``block_size`` (default: the device's) sets its
    inputs per run. Either way the chunks run through the executor that
    ``client`` chooses (`ipvae_snn.executor.make_executor`: Dask tasks of
    ``client``, else ``n_jobs`` local threads); results do not depend on it.
    """
    if backend == "reference":
        from ..reference import infer
        return infer(params, x, n_windows, seed=seed, record_windows=record_windows,
                     record_u=record_u, block_size=block_size or _BLOCK_SIZE, n_jobs=n_jobs,
                     progress=False, warn=False, client=client)
    try:
        from ..network import SpikingIPVAE
    except ImportError as exc:
        raise ImportError(
            f"backend='network' needs the Brian2 network (ipvae_snn.network), "
            f"which could not be imported: {exc}; use backend='reference' (the "
            f"same dynamics in numpy)") from exc
    net = SpikingIPVAE(params, realization="window", device=device, n_jobs=n_jobs,
                       inputs_per_run=block_size)
    return net.run(x, n_windows, seed=seed, record_windows=record_windows,
                   progress=False, warn=False, client=client)
