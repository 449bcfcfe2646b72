"""
The iP-VAE as a Brian2 spiking network (the documentation's model and
equations pages).

Each latent is a neuron whose membrane potential ``u`` is its log expected
spike count per window; the competition between neurons runs through lateral
`Synapses` with weights ``W = Φᵀ Σ⁻¹ Φ``; the integer spike count of each window
is the posterior sample. The equations are the text files of
`ipvae_snn.equations`; this package only wires them into Brian2 objects.

Two realizations:

``"window"`` (exact)
    One Brian2 time step per window. Counts are drawn as ``Poisson(exp(u))``,
    the synapses deliver the count-weighted inhibition, the FOND update with its
    clamps runs at the window's end: the reference algorithm in distribution,
    and step for step when the counts are replayed.
``"continuous"``
    ``dt ≪ T_w``; escape-noise neurons with rate ``exp(u)/T_w``, the drive
    integrated continuously and each spike of neuron j changing every ``u_i``
    at once by ``-lr W_ij`` (the self term is the reset).

Devices (`DEVICES`), each a registered `Backend`: ``"runtime"`` (Brian2's numpy
target, in process) and ``"cpp_standalone"``: the network is compiled once per
(realization, size, window count, inputs per run, recorded variables,
precision) into a cache directory keyed by a hash, and every run — new inputs
*and new parameters* — goes in through command-line run arguments, so fitting a
dictionary never recompiles. Runs are spread over processes, each with its own
results directory. ``"cuda_standalone"`` uses the same path through brian2cuda
when it is installed.

A user's own Brian2 model takes the network as Brian2 objects through
`ipvae_network` (`embed`), on every code-generation target.

Modules: `model` (`SpikingIPVAE`), `embed` (`ipvae_network`), `builder` (the
Brian2 objects), `functions` (``softplus`` for every target), `cuda` (brian2cuda's
build preferences), `registry` (the devices), `backends` (the `Backend`
interface, the per-chunk kernel `run_chunk`, the runtime device), `standalone`
(the compiled devices), `program` (the cache of compiled programs), `collect`
(results).

Examples
--------
>>> from ipvae_snn.network import DEVICES, SpikingIPVAE
>>> DEVICES
('runtime', 'cpp_standalone', 'cuda_standalone')
"""

from .backends import (BACKENDS, Backend, NetworkJob, RuntimeBackend, devices, get_backend,
                       register_backend, run_chunk, unregister_backend)
from .embed import IPVAENetwork, ipvae_network
from .model import SpikingIPVAE
from .program import Program, ProgramCache, default_cache_dir
from .standalone import CppStandaloneBackend, CudaStandaloneBackend, check_compiler

__all__ = ["SpikingIPVAE", "ipvae_network", "IPVAENetwork", "DEVICES", "default_cache_dir",
           "check_compiler", "Backend", "BACKENDS", "get_backend", "RuntimeBackend",
           "CppStandaloneBackend", "CudaStandaloneBackend", "ProgramCache", "Program",
           "register_backend", "unregister_backend", "devices", "run_chunk", "NetworkJob"]


def __getattr__(name):
    # DEVICES: the registered backends, computed when asked (`devices`)
    if name == "DEVICES":
        return devices()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
