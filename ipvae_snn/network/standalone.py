"""
The standalone devices: the network compiled once, then run as a program.

`CppStandaloneBackend` compiles the network with Brian2's ``cpp_standalone``
device once per `NetworkSpec` into a `ProgramCache`; every run — new inputs
*and new parameters* — goes in through command-line run arguments, so fitting
a dictionary never recompiles. The inputs of a call are cut into runs of about
`WINDOWS_PER_RUN` windows, spread over processes, each with its own results
folder. `CudaStandaloneBackend` takes the same path through brian2cuda, with
patches side by side by default (`NetworkSpec`'s ``batch``) to fill the GPU.
"""

import os
import shlex
import shutil
import subprocess
import sysconfig
import threading
import time

import numpy as np

from .._signals import Cancelled, ChildProcesses
from ..validation import UnavailableDeviceError
from . import builder
from .backends import Backend, call_processes
from .program import SEED_ENV, ProgramCache, ProgramCrashed

__all__ = ["CppStandaloneBackend", "CudaStandaloneBackend", "check_compiler",
           "WINDOWS_PER_RUN"]

#: Aim for about this many simulated windows per standalone run: enough to
#: amortise starting the program and loading W (~35 ms), few enough to
#: spread a batch over processes. It depends on n_windows only, so that batches
#: of any size share one build (the last run of a batch is padded).
WINDOWS_PER_RUN = 8000


def check_compiler():
    """
    The C++ compiler Brian2's standalone mode will use.

    Raises
    ------
    UnavailableDeviceError
        (a `RuntimeError`) When none can be found, naming what was looked for.
    """
    candidates = []
    for value in (os.environ.get("CXX"), sysconfig.get_config_var("CXX")):
        if value:
            candidates.append(value.split()[0])
    candidates += ["c++", "g++", "clang++"]
    for name in candidates:
        if shutil.which(name):
            return shutil.which(name)
    raise UnavailableDeviceError(
        "device 'cpp_standalone' needs a C++ compiler, but none was found "
        f"(looked for {', '.join(dict.fromkeys(candidates))} on PATH). Install one "
        "(e.g. 'apt install g++') or use device='runtime'.")


def _make_command():
    """Brian2's make command and arguments (``make -j`` by default)."""
    from brian2 import prefs
    make = prefs.devices.cpp_standalone.make_cmd_unix
    return shlex.split(make) + list(prefs.devices.cpp_standalone.extra_make_args_unix)


class CppStandaloneBackend(Backend):
    """Brian2's ``cpp_standalone`` device: compiled once per spec, run as processes."""

    name = "cpp_standalone"
    supports_profile = True

    @classmethod
    def check_available(cls):
        check_compiler()

    def inputs_per_run(self, n_inputs, n_windows, requested=None):
        return requested or max(1, WINDOWS_PER_RUN // n_windows)

    # ------------------------------------------------------------- compile
    def _seed_code(self):
        """
        C++ run at the program's start that seeds every generator from the
        environment (run arguments cannot reach the seed, which Brian2 writes
        as a literal).
        """
        return (f'{{ const char* _s = getenv("{SEED_ENV}"); if (_s) '
                f'for (size_t _i = 0; _i < brian::_random_generators.size(); _i++) '
                f'brian::_random_generators[_i].seed(strtoul(_s, 0, 10) + _i); }}')

    def compile(self, spec, directory, values, children=None):
        """
        Build the standalone project of ``spec`` into ``directory``.

        ``values`` (any run's `builder.RunValues`) only fill the project's
        initial state: every run sets them again through its arguments. The
        project is written to ``directory + ".building"`` and renamed when it
        compiled; an interrupted build (Ctrl-C, SIGTERM) stops the compiler
        (``children``) and leaves nothing behind.

        Returns
        -------
        dict
            The `Program` manifest.
        """
        k, p = spec.n_latents, spec.inputs_per_run
        replay = np.zeros((p * spec.n_windows, k)) if spec.replay else None
        # sequence mode: a drive per window and the blank flag, both run arguments
        rows = p * spec.n_windows if spec.sequence else p
        tmp_dir = directory + ".building"
        children = children or ChildProcesses()
        with builder.BRIAN_LOCK:
            manifest = self._compile(spec, tmp_dir, values, children, k, p, replay, rows)
        if os.path.exists(directory):
            shutil.rmtree(directory)
        os.replace(tmp_dir, directory)
        return manifest

    def _compile(self, spec, tmp_dir, values, children, k, p, replay, rows):
        """`compile` under `builder.BRIAN_LOCK`: the project in ``tmp_dir``."""
        from brian2 import device, set_device
        from brian2.devices.device import reset_device
        set_device(self.name, build_on_run=False)
        try:
            device.reinit()
            device.activate(build_on_run=False)
            with builder.brian_prefs(spec.dtype), builder.input_grids():
                net, group, lateral, monitors = builder.build_objects(
                    spec, values, np.zeros((rows, k)), replay,
                    np.zeros(rows) if spec.sequence else None,
                    np.ones(p * spec.n_windows) if spec.gain else None)
                net.add(*self._device_objects(spec))
                seed_code = self._seed_code()
                if seed_code:
                    device.insert_code("after_start", seed_code)
                net.run(builder.run_duration(spec, spec.slots), namespace=net.namespace,
                        profile=spec.profile)
                shutil.rmtree(tmp_dir, ignore_errors=True)
                try:
                    self._build_project(device, tmp_dir, children)
                except (KeyboardInterrupt, SystemExit):
                    children.kill_all()
                    shutil.rmtree(tmp_dir, ignore_errors=True)
                    raise
                except Exception as exc:   # the compiler's own messages are in tmp_dir
                    if children.stopped:   # its call was stopped (from another thread)
                        shutil.rmtree(tmp_dir, ignore_errors=True)
                        raise Cancelled("the build was stopped") from None
                    raise RuntimeError(f"compiling the network with {self.name} failed "
                                       f"({type(exc).__name__}: {exc}); the project is "
                                       f"in {tmp_dir}") from exc
                manifest = self._manifest(spec, values, device, group, lateral, monitors)
        finally:
            device.reinit()
            reset_device("runtime")
        return manifest

    def _device_objects(self, spec):
        """Objects the device needs in the network beside the iP-VAE's (none)."""
        return ()

    def _build_project(self, device, directory, children):
        """
        Write the project and compile it with ``make`` as a child process of
        our own (Brian2 runs it with ``os.system``, which ignores Ctrl-C in this
        process and leaves the compiler running on SIGTERM).
        """
        from brian2.codegen.cpp_prefs import get_compiler_and_args
        compiler, _ = get_compiler_and_args()
        if compiler == "msvc":
            device.build(directory=directory, compile=True, run=False, with_output=False)
            return
        device.build(directory=directory, compile=False, run=False, with_output=False)
        log = os.path.join(directory, "make.log")
        # the compiler's temporary files go into the project, which an
        # interrupted build removes whole (a killed compiler leaves its own)
        scratch = os.path.join(directory, "compiler-tmp")
        os.makedirs(scratch, exist_ok=True)
        with open(log, "w") as out:
            proc = children.run(_make_command(), cwd=directory, stdout=out,
                                stderr=subprocess.STDOUT,
                                env=dict(os.environ, TMPDIR=scratch))
        shutil.rmtree(scratch, ignore_errors=True)
        if proc.returncode != 0:
            with open(log, errors="replace") as f:
                tail = f.read()[-1500:].strip()
            raise RuntimeError(f"make exited with status {proc.returncode}; its output "
                               f"is in {log}:\n{tail}")

    def _manifest(self, spec, values, device, group, lateral, monitors):
        def entry(var):
            return device.get_array_filename(var), np.dtype(var.dtype).str

        spikes = monitors["spikes"].variables
        boundary = monitors["boundary"].variables
        results = dict(spike_i=entry(spikes["i"]), spike_t=entry(spikes["t"]),
                       boundary_u=entry(boundary["u"]),
                       boundary_onset=entry(boundary["runaway_onset"]),
                       final_u=entry(group.variables["u"]),
                       final_onset=entry(group.variables["runaway_onset"]))
        if spec.realization == "window":
            results["spike_count"] = entry(spikes["z"])
        if "u_trace" in monitors:
            results["u_trace"] = entry(monitors["u_trace"].variables["u"])
        g, d, r, b = builder.GROUP, builder.DRIVE, builder.REPLAY, builder.BLANK
        args = {name: f"{g}.{name}" for name in (*values.constants, *values.arrays)}
        args.update(w=f"{builder.SYNAPSES}.w", drive=f"{d}.values",
                    replay=f"{r}.values")
        if spec.sequence:
            args["blank"] = f"{b}.values"
        if spec.gain:
            args["gain"] = f"{builder.GAIN}.values"
        dtypes = {name: np.dtype(group.variables[name].dtype).str for name in values.arrays}
        dtypes.update(w=np.dtype(lateral.variables["w"].dtype).str,
                      drive=np.dtype(group.namespace[d].values.dtype).str,
                      replay=(np.dtype(group.namespace[r].values.dtype).str
                              if spec.replay else None))
        if spec.sequence:
            dtypes["blank"] = np.dtype(group.namespace[b].values.dtype).str
        if spec.gain:
            dtypes["gain"] = np.dtype(group.namespace[builder.GAIN].values.dtype).str
        return dict(binary="main", results=results, args=args, dtypes=dtypes,
                    spec=vars(spec) | {"dtype": np.dtype(spec.dtype).name},
                    device=self.name)

    # ----------------------------------------------------------------- run
    def _program(self, job, damaged=None):
        """
        The verified `Program` of ``job.spec``, built first when it is not
        cached (one thread of a process at a time; the cache's file lock keeps
        other processes out).
        """
        with _BUILD_LOCK, call_processes(job.call) as children:      # the compiler's
            return ProgramCache(self.cache_dir).load_or_build(
                job.spec, lambda s, d: self.compile(s, d, job.values, children),
                description=f"the {job.spec.realization} network for {self.name}",
                progress=job.verbose, damaged=damaged)

    def run_chunk(self, job, drive, replay, seed, gain=None):
        t0 = time.perf_counter()
        program, built = self._program(job)
        build_s = time.perf_counter() - t0
        try:
            raw, run_s = self._run_program(program, job, drive, replay, seed, gain)
        except ProgramCrashed as exc:
            if built:
                raise RuntimeError(
                    f"the compiled network crashed ({exc}) although it was just built; "
                    f"cache folder {self.cache_dir} (delete {program.directory} to "
                    f"rebuild it)") from exc
            t0 = time.perf_counter()
            program, built = self._program(job, damaged=program)
            build_s += time.perf_counter() - t0
            raw, run_s = self._run_program(program, job, drive, replay, seed, gain)
        return raw, dict(build_s=build_s, run_s=run_s, compiled=built)

    @staticmethod
    def _run_program(program, job, drive, replay, seed, gain=None):
        """One run of ``program`` in a folder of its own; its arrays and seconds."""
        t0 = time.perf_counter()
        values = builder.batched_values(job.values, job.spec.batch)
        with program.call_folder() as folder, call_processes(job.call) as children:
            run_dir = os.path.join(folder, "run")
            os.makedirs(run_dir)
            args = (program.scalar_args(values.constants)
                    + program.write_inputs(folder, dict(values.arrays, w=values.weights))
                    + program.write_inputs(run_dir, _chunk_inputs(job.spec, drive, replay,
                                                                  job.blank, gain)))
            raw = program.run(os.path.join(run_dir, "results"), args, seed,
                              children=children)
        return raw, time.perf_counter() - t0


# Held while this process looks for (or builds) a program.
_BUILD_LOCK = threading.Lock()


def _chunk_inputs(spec, drive, replay, blank=None, gain=None):
    """
    Run-argument arrays of one run: its drives (and replayed counts), padded;
    in sequence mode a drive per window and the ``blank`` flag of each window;
    with ``spec.gain`` the shared gain of each window of each input.
    """
    if spec.sequence:
        padded = np.zeros((spec.inputs_per_run, spec.n_windows, spec.n_latents))
        padded[:len(drive)] = drive
        arrays = {"drive": padded.reshape(-1, spec.n_latents),
                  "blank": np.tile(blank, spec.inputs_per_run)}
    else:
        arrays = {"drive": builder.drive_layout(spec, drive)}
    if spec.replay:
        arrays["replay"] = builder.replay_layout(spec, replay)
    if spec.gain:         # padded inputs run at gain 1
        g = np.ones((spec.inputs_per_run, spec.n_windows))
        g[:len(drive)] = gain
        arrays["gain"] = g.ravel()
    return arrays


class CudaStandaloneBackend(CppStandaloneBackend):
    """brian2cuda's ``cuda_standalone`` device: the C++ path on an NVIDIA GPU."""

    name = "cuda_standalone"
    #: Patches side by side (`SpikingIPVAE`'s ``batch``): one K = 512 network
    #: per time step leaves a GPU almost idle, 64 copies give it 32,768
    #: neurons a step. Not measured on a GPU yet; on CPUs side by side
    #: measured slower (docs/scaling.md), so they keep 1.
    default_batch = 64

    @classmethod
    def check_available(cls):
        try:
            import brian2cuda  # noqa: F401
        except ImportError:
            raise UnavailableDeviceError(
                "device 'cuda_standalone' needs brian2cuda and an NVIDIA GPU with the "
                "CUDA toolkit: pip install brian2cuda (1.0b1 pins brian2==2.10.1, "
                "Python 3.12). Use device='cpp_standalone' on a CPU.") from None

    def _seed_code(self):
        # brian2cuda draws with cuRAND and has no such generators: its runs are
        # seeded by brian2cuda itself.
        return None

    def compile(self, spec, directory, values, children=None):
        import brian2cuda  # noqa: F401  (registers the device)
        from .cuda import configure_cuda_build
        configure_cuda_build()      # no GPU needed to build; cuRAND wheel; C++17
        from brian2 import defaultclock
        saved = defaultclock.dt     # _device_objects sets it to the network's
        try:
            return super().compile(spec, directory, values, children)
        finally:
            defaultclock.dt = saved

    def _device_objects(self, spec):
        from brian2 import second

        from .cuda import defaultclock_anchor
        return (defaultclock_anchor(spec.dt_s * second),)

    def _build_project(self, device, directory, children):
        # brian2cuda compiles with its own makefile and nvcc flags
        device.build(directory=directory, compile=True, run=False, with_output=False)
