"""
The registry of devices: device name -> `~ipvae_snn.network.backends.Backend`
subclass, filled explicitly (`register_backend`), read when asked (`devices`,
`get_backend`). Lowest module of the network package: it imports none of it,
so that the build key (`~ipvae_snn.network.builder.program_code_digest`) can
cover every registered backend's code.

Examples
--------
>>> from ipvae_snn.network import registry
>>> registry.devices()
('runtime', 'cpp_standalone', 'cuda_standalone')
"""

import importlib
import threading

from ..validation import InvalidValueError

__all__ = ["register_backend", "unregister_backend", "devices", "get_backend",
           "registered_backends", "BACKENDS"]

# Device name -> `Backend` subclass, or "module:Class" until first asked for.
_REGISTRY = {}
_REGISTRY_LOCK = threading.RLock()


def register_backend(name, backend):
    """
    Offer device ``name``, run by ``backend``: a `Backend` subclass, or
    ``"module:Class"`` naming one (imported when the device is first asked for).

    Examples
    --------
    >>> from ipvae_snn.network.backends import RuntimeBackend
    >>> class Silent(RuntimeBackend):
    ...     name = "silent"
    >>> register_backend("silent", Silent)
    >>> "silent" in devices()
    True
    >>> unregister_backend("silent")
    """
    if not isinstance(name, str) or not name:
        raise InvalidValueError(f"a backend's name must be a non-empty string, got {name!r}")
    if not (isinstance(backend, str) and ":" in backend) and not (
            isinstance(backend, type) and hasattr(backend, "run_chunk")):
        raise InvalidValueError(f"backend {name!r} must be a Backend subclass or "
                                f"'module:Class', got {backend!r}")
    with _REGISTRY_LOCK:
        _REGISTRY[name] = backend


def unregister_backend(name):
    """Stop offering device ``name`` (nothing if it is not registered)."""
    with _REGISTRY_LOCK:
        _REGISTRY.pop(name, None)


def devices():
    """The registered device names, in registration order."""
    with _REGISTRY_LOCK:
        return tuple(_REGISTRY)


def get_backend(device):
    """
    The `Backend` subclass of ``device``.

    Raises
    ------
    InvalidValueError
        For an unknown device, naming the known ones.
    """
    from ..validation import check_choice
    check_choice(device, "device", devices())
    with _REGISTRY_LOCK:
        backend = _REGISTRY[device]
        if isinstance(backend, str):
            module, _, qualname = backend.partition(":")
            backend = getattr(importlib.import_module(module), qualname)
            _REGISTRY[device] = backend
    from .brian import prepare_brian2
    prepare_brian2()            # Brian2's SIGINT handler and temporary files
    return backend


def registered_backends():
    """Device name -> `Backend` subclass of every registered device (imports them)."""
    return {name: get_backend(name) for name in devices()}


class _Backends:
    """Read-only mapping view of the registry (`BACKENDS`, for the old name)."""

    def __getitem__(self, name):
        if name not in devices():
            raise KeyError(name)
        return get_backend(name)

    def __iter__(self):
        return iter(devices())

    def __len__(self):
        return len(devices())

    def __contains__(self, name):
        return name in devices()

    def keys(self):
        return devices()


#: The registry as a read-only mapping: device name -> `Backend` subclass.
BACKENDS = _Backends()


register_backend("runtime", f"{__package__}.backends:RuntimeBackend")
register_backend("cpp_standalone", f"{__package__}.standalone:CppStandaloneBackend")
register_backend("cuda_standalone", f"{__package__}.standalone:CudaStandaloneBackend")
