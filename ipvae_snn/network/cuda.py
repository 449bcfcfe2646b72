"""
Brian2 preferences for building networks with brian2cuda (``cuda_standalone``).

`configure_cuda_build` is the one place that sets them, for the package's own
`~ipvae_snn.network.standalone.CudaStandaloneBackend` and for a user who
embeds the network (`ipvae_snn.network.ipvae_network`) in a brian2cuda
project. It makes the build work where brian2cuda 1.0b1 alone does not:

* **No GPU at build time** (a build machine, a login node): GPU detection
  off, ``gpu_id`` 0 and the ``compute_capability`` given (default 9.0,
  Hopper), and the CUDA runtime version read from ``nvcc --version``.
* **cuRAND from NVIDIA's wheel** (``pip install nvidia-curand``, part of the
  ``cuda`` extra) where the CUDA toolkit lacks it: its include and library
  folders are added to Brian2's preferences, with a ``libcurand.so`` link
  where the wheel only has ``libcurand.so.N`` (the linker's ``-lcurand``
  looks for the unversioned name).
* **C++17**: brian2cuda's makefile asks nvcc for ``-std=c++11``, which the
  Thrust and CUB of CUDA 13 refuse; ``-std=c++17`` is added to the nvcc and
  host-compiler arguments (the last ``-std`` wins).
* **The defaultclock**: brian2cuda's synapse code names it, so a network
  needs an object on it (`defaultclock_anchor`).

See docs/gpu.md.
"""

import glob
import os
import re
import shutil
import subprocess

from ..validation import UnavailableDeviceError, check_number

__all__ = ["configure_cuda_build", "defaultclock_anchor", "nvcc_version", "curand_dirs",
           "gpu_present", "CXX_STANDARD", "DEFAULT_COMPUTE_CAPABILITY"]

#: The C++ standard asked of nvcc and the host compiler.
CXX_STANDARD = "-std=c++17"
#: Compute capability built for when no GPU is detected (9.0: H100/H200).
DEFAULT_COMPUTE_CAPABILITY = 9.0


def nvcc_version(nvcc=None):
    """
    The CUDA release of ``nvcc`` (default: the one on PATH) as a float, e.g. 13.0.

    Raises
    ------
    UnavailableDeviceError
        No nvcc, or no release in its ``--version`` output.
    """
    nvcc = nvcc or shutil.which("nvcc")
    if not nvcc:
        raise UnavailableDeviceError("device 'cuda_standalone' needs the CUDA compiler "
                                     "nvcc on PATH (the CUDA toolkit)")
    out = subprocess.run([nvcc, "--version"], capture_output=True, text=True,
                         timeout=60).stdout
    match = re.search(r"release (\d+)\.(\d+)", out)
    if match is None:
        raise UnavailableDeviceError(f"could not read the CUDA release from "
                                     f"'{nvcc} --version'")
    return float(f"{match.group(1)}.{match.group(2)}")


def gpu_present():
    """Whether ``nvidia-smi`` lists a GPU on this machine."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def curand_dirs(link_dir=None):
    """
    The include and library folders of the ``nvidia-curand`` wheel, or None
    when it is not installed.

    Where the wheel's library folder has only ``libcurand.so.N``, a
    ``libcurand.so`` link to it is made in ``link_dir`` (default: a
    ``cuda-libs`` folder in the package's cache), and that folder is returned
    as a second library folder.

    Returns
    -------
    (include_dir, [library_dir, ...]) or None
    """
    try:
        import nvidia
    except ImportError:
        return None
    for root in getattr(nvidia, "__path__", []):
        for include in sorted(glob.glob(os.path.join(root, "*", "include"))):
            if not os.path.exists(os.path.join(include, "curand.h")):
                continue
            lib = os.path.join(os.path.dirname(include), "lib")
            libs = [lib]
            if not os.path.exists(os.path.join(lib, "libcurand.so")):
                versioned = sorted(glob.glob(os.path.join(lib, "libcurand.so.*")))
                if versioned:
                    libs.append(_link_curand(versioned[-1], link_dir))
            return include, libs
    return None


def _link_curand(target, link_dir):
    if link_dir is None:
        from .program import default_cache_dir
        link_dir = os.path.join(default_cache_dir(), "cuda-libs")
    os.makedirs(link_dir, exist_ok=True)
    link = os.path.join(link_dir, "libcurand.so")
    if os.path.realpath(link) != os.path.realpath(target):
        tmp = f"{link}.{os.getpid()}"
        os.symlink(target, tmp)
        os.replace(tmp, link)          # atomic: parallel builds see one link
    return link_dir


def defaultclock_anchor(dt=None):
    """
    A Brian2 object without code on Brian2's ``defaultclock``.

    brian2cuda 1.0b1's synapse code reads the clock named ``defaultclock``,
    which a project declares only when an object of the network runs on it: a
    network whose objects all have their own ``dt`` (as the iP-VAE's) does not
    compile without such an object. ``dt``, when given, becomes the
    defaultclock's (the package's own programs: no extra time steps).
    """
    from brian2 import BrianObject, defaultclock
    if dt is not None:
        defaultclock.dt = dt
    return BrianObject(clock=defaultclock, name="ipvae_defaultclock*")


def _add(pref_list, *items):
    """``pref_list`` with ``items`` appended where absent (a new list)."""
    out = list(pref_list)
    out += [item for item in items if item not in out]
    return out


def configure_cuda_build(compute_capability=None, gpu_id=0, detect_gpus=None,
                         cuda_runtime_version=None, curand=True, link_dir=None):
    """
    Set Brian2's preferences so that ``cuda_standalone`` builds here.

    Call it after ``import brian2cuda`` and before building (the package's
    ``cuda_standalone`` device calls it itself). Calling it again does not
    add the same arguments twice.

    Parameters
    ----------
    compute_capability : float, optional
        The GPU architecture to compile for where GPUs are not detected
        (default `DEFAULT_COMPUTE_CAPABILITY`).
    gpu_id : int
        The GPU used where GPUs are not detected.
    detect_gpus : bool, optional
        Let brian2cuda detect the GPUs (nvidia-smi and deviceQuery); default:
        only where ``nvidia-smi`` lists one.
    cuda_runtime_version : float, optional
        Default: the release of ``nvcc`` on PATH.
    curand : bool
        Take the cuRAND headers and library from the ``nvidia-curand`` wheel
        where it is installed.
    link_dir : str, optional
        Where a ``libcurand.so`` link is made if needed (`curand_dirs`).

    Returns
    -------
    dict
        The preferences set, by name.

    Raises
    ------
    UnavailableDeviceError
        brian2cuda is not installed, or nvcc is not on PATH.

    Examples
    --------
    >>> from ipvae_snn.network.cuda import CXX_STANDARD
    >>> CXX_STANDARD
    '-std=c++17'
    """
    try:
        import brian2cuda  # noqa: F401  (registers the preferences set here)
    except ImportError:
        raise UnavailableDeviceError(
            "device 'cuda_standalone' needs brian2cuda: pip install 'ipvae-snn[cuda]' "
            "(brian2cuda 1.0b1 needs Python >= 3.12)") from None
    from brian2 import prefs
    backend = prefs.devices.cuda_standalone.cuda_backend
    detect = gpu_present() if detect_gpus is None else bool(detect_gpus)
    runtime = (nvcc_version() if cuda_runtime_version is None
               else check_number(cuda_runtime_version, "cuda_runtime_version", low=0,
                                 low_open=True))
    done = dict(detect_gpus=detect, cuda_runtime_version=float(runtime))
    backend.detect_gpus = detect
    backend.cuda_runtime_version = float(runtime)
    if not detect:
        cc = DEFAULT_COMPUTE_CAPABILITY if compute_capability is None else \
            check_number(compute_capability, "compute_capability", low=0, low_open=True)
        backend.gpu_id = int(gpu_id)
        backend.compute_capability = float(cc)
        done.update(gpu_id=int(gpu_id), compute_capability=float(cc))
    backend.extra_compile_args_nvcc = _add(backend.extra_compile_args_nvcc, CXX_STANDARD)
    prefs.codegen.cpp.extra_compile_args_gcc = _add(
        prefs.codegen.cpp.extra_compile_args_gcc, CXX_STANDARD)
    done.update(extra_compile_args_nvcc=list(backend.extra_compile_args_nvcc),
                extra_compile_args_gcc=list(prefs.codegen.cpp.extra_compile_args_gcc))
    found = curand_dirs(link_dir) if curand else None
    if found is not None:
        include, libs = found
        prefs.codegen.cpp.include_dirs = _add(prefs.codegen.cpp.include_dirs, include)
        prefs.codegen.cpp.library_dirs = _add(prefs.codegen.cpp.library_dirs, *libs)
        prefs.codegen.cpp.runtime_library_dirs = _add(
            prefs.codegen.cpp.runtime_library_dirs, *libs)
        done.update(include_dirs=[include], library_dirs=libs)
    return done
