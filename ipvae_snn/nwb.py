"""
Spiking results as Neurodata Without Borders (NWB) files: `write_nwb`, `read_nwb`.

A lab's own tools read spikes from NWB's ``Units`` table; this module writes a
`SpikingResult` in that form and reads it back exactly. It needs pynwb
(``pip install "ipvae-snn[nwb]"``).

Layout of a file
----------------
**Timeline.** The inputs follow one another, each for its ``n_windows``
windows laid end to end: input p is shown during ``[p·D, (p+1)·D)``,
``D = n_windows · window``.

**units** — one unit per neuron (``id`` = the neuron's index), its spike times
in seconds on that timeline, during the recorded windows. The window
realization simulates counts per window; its spike times are placed uniformly
inside each window, reproducibly (`SpikingResult.spike_trains`), and the
units' ``resolution`` is the window.

**trials** — one trial per input: ``start_time``, ``stop_time``,
``patch_index`` (the input's row in the batch) and the read-outs of the last
window (``r2``, ``zero_fraction``, ``mean_count``), plus any ``trial_columns``.

**stimulus** — the input patches: the distinct patches as grayscale images
(``stimulus_template`` ``input_patches``) and the ``IndexSeries``
``input_patch_index`` saying which one each trial shows, at its start.

**subject**, **devices** — the model (its fingerprint) and the Brian2 device.

**processing/ipvae_snn** — what the reader needs for an exact `SpikingResult`:
``run`` (one row: fingerprint, realization, device, window, seed, version,
recorded windows, provenance as JSON), ``model`` (one row: every array of the
model, `IPVAEParams.to_arrays`) and ``inputs`` (one row per trial: read-outs
per window, counts of the recorded windows, final potentials, runaway onsets,
membrane potentials, the continuous realization's spike lists).

Files are written atomically (a temporary file renamed onto the target).

Examples
--------
Needs pynwb (skipped here):

>>> import ipvae_snn, numpy as np                         # doctest: +SKIP
>>> from ipvae_snn.network import SpikingIPVAE            # doctest: +SKIP
>>> params = ipvae_snn.IPVAEParams.random(16, 8, random_state=0)    # doctest: +SKIP
>>> result = SpikingIPVAE(params, device="runtime").run(
...     np.random.default_rng(0).standard_normal((3, 16)), 5, seed=0)  # doctest: +SKIP
>>> result.to_nwb("run.nwb")                              # doctest: +SKIP
>>> back = read_nwb("run.nwb")                            # doctest: +SKIP
>>> bool(np.array_equal(back.counts, result.counts))      # doctest: +SKIP
True
"""

import datetime
import json
import uuid

import numpy as np

from . import __version__
from .io import atomic_path, json_dumps
from .validation import InvalidTypeError, InvalidValueError, MissingDependencyError

__all__ = ["write_nwb", "read_nwb", "require_pynwb", "NWB_EXTRA", "MODULE"]

#: How to install what this module needs.
NWB_EXTRA = 'pip install "ipvae-snn[nwb]"'
#: Name of the processing module with the package's own tables.
MODULE = "ipvae_snn"

_READOUTS = (("r2", "R² of the reconstruction from the counts of each window"),
             ("mse", "squared error of that reconstruction, summed over pixels, "
                     "per window"),
             ("zero_fraction", "fraction of silent neurons in each window"),
             ("mean_count", "mean spike count per neuron in each window"))


def require_pynwb():
    """
    Import pynwb.

    Raises
    ------
    MissingDependencyError
        (an `ImportError`) When pynwb is not installed, naming the extra.

    Examples
    --------
    >>> require_pynwb().__name__                          # doctest: +SKIP
    'pynwb'
    """
    try:
        import pynwb
    except ImportError as exc:
        raise MissingDependencyError(f"NWB files need pynwb ({exc}); install it with: "
                                     f"{NWB_EXTRA}") from None
    return pynwb


def _compressed(data):
    from hdmf.backends.hdf5 import H5DataIO
    data = np.ascontiguousarray(data)
    if data.size < 1024:
        return data
    return H5DataIO(data, compression="gzip", compression_opts=4, shuffle=True)


def _column(name, description, data, compress=False):
    from hdmf.common import VectorData
    return VectorData(name=name, description=description,
                      data=_compressed(data) if compress else data)


def _ragged(name, description, pieces, dtype):
    """A ragged column (its data and its index) from one array per row."""
    from hdmf.common import VectorIndex
    flat = (np.concatenate(pieces).astype(dtype) if pieces else np.zeros(0, dtype))
    data = _column(name, description, flat, compress=True)
    ends = np.cumsum([len(p) for p in pieces]).astype(np.int64)
    return [data, VectorIndex(name=f"{name}_index", data=ends, target=data)]


def _table(cls, name, description, columns, n_rows):
    from hdmf.common import ElementIdentifiers
    return cls(name=name, description=description, columns=columns,
               id=ElementIdentifiers(name="id", data=np.arange(n_rows)))


def _versions():
    import importlib.metadata
    out = {"ipvae_snn": __version__}
    for name in ("brian2", "pynwb", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


# ---------------------------------------------------------------- writing
def _spike_times(result, duration):
    """Spike times of every neuron on the file's timeline: (times, ends per unit)."""
    neurons, times = [], []
    for p in range(result.n_patches):
        i, t = result.spike_trains(p)
        neurons.append(np.asarray(i, dtype=np.int64))
        times.append(p * duration + np.asarray(t, dtype=np.float64))
    neuron = np.concatenate(neurons) if neurons else np.zeros(0, np.int64)
    t = np.concatenate(times) if times else np.zeros(0)
    order = np.lexsort((t, neuron))                    # by neuron, then time
    ends = np.cumsum(np.bincount(neuron, minlength=result.params.n_latents))
    return t[order], ends.astype(np.int64)


def _units(result, duration):
    from hdmf.common import VectorIndex
    from pynwb.misc import Units
    times, ends = _spike_times(result, duration)
    spikes = _column("spike_times", "the spike times of this neuron, in seconds from "
                     "the start of the first trial", times, compress=True)
    units = _table(Units, "units", "one unit per latent neuron of the iP-VAE spiking "
                   "network (id = the neuron's index); spikes of the recorded windows "
                   "only", [spikes, VectorIndex(name="spike_times_index", data=ends,
                                                target=spikes)],
                   result.params.n_latents)
    units.resolution = float(result.info.get("dt_s") or result.window_s)
    return units


def _trials(result, duration, trial_columns):
    from pynwb.epoch import TimeIntervals
    n, last = result.n_patches, result.n_windows - 1
    start = np.arange(n) * duration
    cols = [_column("start_time", "onset of the input, in seconds", start),
            _column("stop_time", "end of the input's last window, in seconds",
                    start + duration),
            _column("patch_index", "row of the input in the simulated batch",
                    np.arange(n, dtype=np.int64))]
    for name, what in (("r2", "R² of the reconstruction from the counts"),
                       ("zero_fraction", "fraction of silent neurons"),
                       ("mean_count", "mean spike count per neuron")):
        cols.append(_column(name, f"{what} in the last window (T = {last})",
                            getattr(result, name)[:, last]))
    for name, (description, values) in (trial_columns or {}).items():
        values = np.asarray(values)
        if values.shape[:1] != (n,):
            raise InvalidValueError(f"trial column {name!r}: expected {n} values, got "
                                    f"shape {values.shape}")
        cols.append(_column(name, description, values))
    return _table(TimeIntervals, "trials", "one trial per input patch, its windows "
                  "laid end to end", cols, n)


def _stimulus(nwbfile, result, duration):
    """The distinct patches as images, and which one each trial shows."""
    from pynwb.base import ImageReferences, Images
    from pynwb.image import GrayscaleImage, IndexSeries
    x = np.asarray(result.x)
    side = int(round(np.sqrt(x.shape[1])))
    shape = (side, side) if side * side == x.shape[1] else (1, x.shape[1])
    distinct, index = np.unique(x, axis=0, return_inverse=True)
    images = [GrayscaleImage(name=f"patch{j}", data=row.reshape(shape),
                             description=f"input patch {j}, {shape[0]}x{shape[1]} "
                                         f"pixels (whitened intensity, a.u.)")
              for j, row in enumerate(distinct)]
    template = Images(name="input_patches", images=images,
                      description="the distinct input patches of the run",
                      order_of_images=ImageReferences(name="order_of_images",
                                                      data=images))
    nwbfile.add_stimulus_template(template)
    nwbfile.add_stimulus(IndexSeries(
        name="input_patch_index", data=np.asarray(index, np.uint32).ravel(), unit="N/A",
        indexed_images=template, starting_time=0.0, rate=1.0 / duration,
        description="the input patch (index into input_patches) each trial "
                    "shows, from the trial's start"))
    return shape


def _run_table(result, shape, fingerprint, dtypes):
    from hdmf.common import DynamicTable
    info = result.info
    seed = info.get("seed")
    fields = [
        ("fingerprint", "fingerprint of the model (IPVAEParams.fingerprint)", [fingerprint]),
        ("realization", "the network's realization ('window', 'continuous')",
         [str(info.get("realization"))]),
        ("device", "the Brian2 device that simulated it", [str(info.get("device"))]),
        ("window_s", "window length T_w, one inference step, in seconds",
         [result.window_s]),
        ("seed", "seed of the run ('None' when unseeded)", [str(seed)]),
        ("n_windows", "windows per input", [result.n_windows]),
        ("windows", "the recorded windows (their counts and spikes are stored)",
         [result.windows]),
        ("patch_shape", "shape of the stimulus images", [np.array(shape)]),
        ("versions_json", "versions of the packages that wrote the file (JSON)",
         [json_dumps(_versions())]),
        ("info_json", "provenance of the run: SpikingResult.info as JSON",
         [json_dumps(info)]),
        ("model_dtypes_json", "numpy dtype of each array of the model table (JSON)",
         [json.dumps(dtypes)]),
    ]
    for name, what in (("u_neurons", "neurons whose potential u is stored per window"),
                       ("u_trace_neurons", "neurons whose membrane trace is stored"),
                       ("u_trace_t", "time of each trace sample from the input's onset, "
                                     "in seconds")):
        value = getattr(result, name)
        if value is not None and np.size(value):
            fields.append((name, what, [np.asarray(value)]))
    return _table(DynamicTable, "run", "how the spikes of this file were simulated",
                  [_column(n, d, np.asarray(v) if not isinstance(v[0], str) else v)
                   for n, d, v in fields], 1)


def _model_table(params):
    from hdmf.common import DynamicTable
    arrays = params.to_arrays()
    cols = [_column(name, f"model array {name!r} (IPVAEParams.to_arrays)",
                    np.asarray(value)[None]) for name, value in sorted(arrays.items())]
    return (_table(DynamicTable, "model", "the iP-VAE model that was simulated: the "
                   "arrays of its .npz file", cols, 1),
            {name: np.asarray(value).dtype.str for name, value in arrays.items()})


def _inputs_table(result):
    from hdmf.common import DynamicTable
    n = result.n_patches
    cols = [_column(name, f"{what} (n_windows values)", getattr(result, name))
            for name, what in _READOUTS]
    cols += [_column("counts", "spike counts of each recorded window (run table's "
                     "'windows') and neuron", result._require_counts(), compress=True),
             _column("u_final", "membrane potential of each neuron after the last "
                     "update", result.u_final),
             _column("runaway_onset", "first window whose potential neared the upper "
                     "clamp, -1 if none", result.runaway_onset)]
    if result.u is not None:
        cols.append(_column("u", "potential at the start of each recorded window of "
                            "the neurons u_neurons", result.u, compress=True))
    if result.u_trace is not None:
        cols.append(_column("u_trace", "membrane potential of the neurons "
                            "u_trace_neurons at every time step", result.u_trace,
                            compress=True))
    if result.spikes is not None:
        cols += _ragged("spike_neuron", "neuron of each simulated spike, in time order",
                        [i for i, _ in result.spikes], np.int32)
        cols += _ragged("spike_time", "time of each simulated spike from the input's "
                        "onset, in seconds", [t for _, t in result.spikes], np.float64)
    return _table(DynamicTable, "inputs", "per trial (the rows of the trials table): "
                  "what the reader restores exactly", cols, n)


def write_nwb(result, path, session_start_time=None, identifier=None,
              trial_columns=None, **nwbfile_kwargs):
    """
    Write a `SpikingResult` as an NWB file (see the module's layout).

    Parameters
    ----------
    result : SpikingResult
    path : str or os.PathLike
        The ``.nwb`` file; written atomically.
    session_start_time : datetime.datetime, optional
        Timezone-aware; default now (UTC).
    identifier : str, optional
        The file's unique identifier (default a random UUID).
    trial_columns : dict, optional
        More columns of the trials table: ``name -> (description, values)``,
        one value per trial.
    **nwbfile_kwargs
        More arguments of `pynwb.NWBFile` (``experimenter``, ``lab``,
        ``institution``, ...).

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> write_nwb(result, "run.nwb", experimenter=["Doe, Jane"],   # doctest: +SKIP
    ...           lab="V1 lab", institution="University")
    'run.nwb'
    """
    pynwb = require_pynwb()
    from pynwb.file import Subject

    from .results import SpikingResult
    if not isinstance(result, SpikingResult):
        raise InvalidTypeError(f"result must be a SpikingResult, got "
                               f"{type(result).__name__}")
    info = result.info
    duration = result.n_windows * result.window_s
    fingerprint = result.params.fingerprint()
    realization, device = info.get("realization"), info.get("device")
    start = session_start_time or datetime.datetime.now(datetime.timezone.utc)
    if start.tzinfo is None:
        raise InvalidValueError("session_start_time must be timezone-aware")
    what = (f"{result.n_patches} input patches through the {realization} realization "
            f"of the iP-VAE spiking network, {result.n_windows} windows of "
            f"{result.window_s * 1e3:g} ms each")
    nwbfile_kwargs.setdefault("keywords", ["iP-VAE", "spiking network", "simulation",
                                           "Poisson", "Brian2"])
    nwbfile = pynwb.NWBFile(
        session_description=f"ipvae-snn: {what}", identifier=identifier or str(uuid.uuid4()),
        session_start_time=start, experiment_description=f"Inference by {what}.",
        source_script=f"ipvae-snn {__version__}", source_script_file_name="ipvae_snn/nwb.py",
        notes=(f"model fingerprint {fingerprint}; realization {realization}; window "
               f"{result.window_s * 1e3:g} ms; device {device}; seed {info.get('seed')}"),
        # not an animal: age and sex do not apply ("P0D", "O": other)
        subject=Subject(subject_id=f"ipvae-{fingerprint[:12]}", age="P0D", sex="O",
                        description=f"not an animal: a simulated iP-VAE spiking "
                                    f"network, model {fingerprint}"),
        units=_units(result, duration), trials=_trials(result, duration, trial_columns),
        **nwbfile_kwargs)
    nwbfile.create_device(name=str(device), description=f"the Brian2 device that "
                          f"simulated the network (Brian2 "
                          f"{_versions().get('brian2', 'unknown')})")
    shape = _stimulus(nwbfile, result, duration)
    module = nwbfile.create_processing_module(MODULE, "the ipvae-snn run: settings, "
                                              "model and per-trial results")
    model, dtypes = _model_table(result.params)
    module.add(_run_table(result, shape, fingerprint, dtypes))
    module.add(model)
    module.add(_inputs_table(result))
    with atomic_path(path, suffix=".nwb") as tmp, pynwb.NWBHDF5IO(tmp, "w") as io:
        io.write(nwbfile)
    return path


# ---------------------------------------------------------------- reading
def _columns(table):
    return {col.name: col for col in table.columns}


def _value(table, name):
    cols = _columns(table)
    return None if name not in cols else cols[name].data[:][0]


def read_nwb(path):
    """
    Read a file written by `write_nwb` back into a `SpikingResult`.

    The arrays, the model and the spike lists are restored exactly; ``info``
    as after `SpikingResult.save` and `~SpikingResult.load` (through JSON).

    Raises
    ------
    MissingFileError, InvalidValueError
        When ``path`` is missing, or is not a file of this package (not HDF5,
        truncated, damaged, another NWB or HDF5 file), naming the path.

    Examples
    --------
    >>> result = read_nwb("run.nwb")                      # doctest: +SKIP
    >>> result.counts.shape                               # doctest: +SKIP
    (500, 6, 512)
    """
    pynwb = require_pynwb()
    from .params import IPVAEParams
    from .results import SpikingResult
    from .validation import check_file
    path = check_file(path, "NWB file")
    try:
        return _read(pynwb, path, IPVAEParams, SpikingResult)
    except InvalidValueError:
        raise
    except (OSError, KeyError, TypeError, ValueError, IndexError, AttributeError,
            RuntimeError) as exc:       # h5py's and pynwb's errors on foreign files
        raise InvalidValueError(f"NWB file '{path}' cannot be read as a result of "
                                f"ipvae-snn: {_unreadable(exc)}") from None


def _unreadable(exc):
    """What is wrong with a file h5py or pynwb failed on, in a few words."""
    text = " ".join(str(exc).split())
    if "file signature not found" in text:
        return "it is not an HDF5 file (empty, text or another format)"
    if "truncated file" in text:
        return "it is truncated"
    if isinstance(exc, OSError):
        return f"it is damaged or not an HDF5 file ({text[:200]})"
    what = type(exc).__name__
    return f"it is not an NWB file of this package, or is damaged ({what}: {text[:200]})"


def _read(pynwb, path, IPVAEParams, SpikingResult):
    with pynwb.NWBHDF5IO(path, "r") as io:
        nwbfile = io.read()
        if MODULE not in nwbfile.processing:
            raise InvalidValueError(f"NWB file '{path}' was not written by ipvae-snn "
                                    f"(no processing module {MODULE!r})")
        module = nwbfile.processing[MODULE]
        run, model, inputs = module["run"], module["model"], module["inputs"]
        dtypes = json.loads(str(_value(run, "model_dtypes_json")))
        arrays = {name: np.asarray(col.data[:][0], dtype=dtypes[name])
                  for name, col in _columns(model).items()}
        params = IPVAEParams.from_arrays(arrays, source=f"NWB file '{path}'")
        fingerprint = str(_value(run, "fingerprint"))
        if params.fingerprint() != fingerprint:
            raise InvalidValueError(f"NWB file '{path}': the model does not match its "
                                    f"fingerprint {fingerprint}")
        shape = _value(run, "patch_shape")
        template = nwbfile.stimulus_template["input_patches"]
        images = np.stack([template.images[f"patch{j}"].data[:]
                           for j in range(len(template.images))])
        index = nwbfile.stimulus["input_patch_index"].data[:].astype(np.int64)
        x = images.reshape(len(images), int(np.prod(shape)))[index]
        cols = _columns(inputs)
        data = {name: col.data[:] for name, col in cols.items()
                if not name.endswith("_index") and name not in ("spike_neuron",
                                                                 "spike_time")}
        spikes = None
        if "spike_time_index" in cols:
            ends = cols["spike_time_index"].data[:]
            starts = np.concatenate([[0], ends[:-1]])
            neuron, t = cols["spike_neuron"].data[:], cols["spike_time"].data[:]
            spikes = [(neuron[a:b], t[a:b]) for a, b in zip(starts, ends)]
        extra = {name: (None if _value(run, name) is None else np.asarray(_value(run, name)))
                 for name in ("u_neurons", "u_trace_neurons", "u_trace_t")}
        return SpikingResult(
            params=params, x=x, n_windows=int(_value(run, "n_windows")),
            windows=np.asarray(_value(run, "windows")), counts=data["counts"],
            u=data.get("u"), u_neurons=extra["u_neurons"], u_final=data["u_final"],
            r2=data["r2"], mse=data["mse"], zero_fraction=data["zero_fraction"],
            mean_count=data["mean_count"], runaway_onset=data["runaway_onset"],
            info=json.loads(str(_value(run, "info_json"))), spikes=spikes,
            u_trace=data.get("u_trace"), u_trace_t=extra["u_trace_t"],
            u_trace_neurons=extra["u_trace_neurons"])
