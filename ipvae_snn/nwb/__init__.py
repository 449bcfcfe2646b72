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
in seconds on that timeline: every spike of the recorded windows. A run that
records every window (the default of `SpikingIPVAE.run`, and of the command
line with ``--nwb``) stores every spike; one that records fewer stores each
unit's ``obs_intervals`` (the recorded windows of every trial), so rates are
spikes over observed time. The window realization simulates counts per
window; its spike times are placed uniformly inside each window, reproducibly
(`SpikingResult.spike_trains`), so their ``resolution`` is the window; the
continuous realization's is its time step.

**trials** — one trial per input: ``start_time``, ``stop_time``,
``patch_index`` (the input's row in the batch) and the read-outs of the last
window (``r2``, ``zero_fraction``, ``mean_count``), plus any ``trial_columns``.

**stimulus** — the input patches: the distinct patches as grayscale images
(``stimulus_template`` ``input_patches``, ``patch0``, ``patch1``, ...); the
trials' ``input_image`` says which one each trial shows.

**acquisition/membrane_potential** — when membrane traces were recorded
(``record_u``), a `TimeSeries` of the potential u (dimensionless, the
network's units) of the traced neurons at every time step, on the timeline.

**subject**, **devices**, **general** — the model as the subject (species
`SPECIES`, NCBI's "synthetic construct", unless given), the Brian2 device,
the paper in ``related_publications``, the command line that made the file in
``source_script``, and the user's experimenter, lab and institution.

**processing/ipvae_snn** — what the reader needs for an exact `SpikingResult`,
as tables rather than JSON strings: ``run`` (one row: fingerprint,
realization, device, window, seed, recorded windows), ``provenance`` (one
row per entry of ``SpikingResult.info``: ``key`` path and its JSON
``value``), ``versions`` (package, version), ``model`` (one row: every array
of the model, `IPVAEParams.to_arrays`), ``model_dtypes`` (array, dtype),
``model_<name>`` for a model entry holding a JSON object (the model's
``provenance``: rows as ``provenance``) and
``inputs`` (one row per trial: read-outs per window, counts of the recorded
windows, final potentials, runaway onsets, potentials per window, the
continuous realization's spike lists).

Files are written atomically (a temporary file renamed onto the target).

Examples
--------
Needs pynwb (skipped here):

>>> import ipvae_snn, numpy as np                         # doctest: +SKIP
>>> from ipvae_snn.network import SpikingIPVAE            # doctest: +SKIP
>>> params = ipvae_snn.IPVAEParams.random(16, 8, random_state=0)    # doctest: +SKIP
>>> result = SpikingIPVAE(params, device="runtime").run(
...     np.random.default_rng(0).standard_normal((3, 16)), 5, seed=0)  # doctest: +SKIP
>>> write_nwb(result, "run.nwb")                          # doctest: +SKIP
'run.nwb'
>>> back = read_nwb("run.nwb")                            # doctest: +SKIP
>>> bool(np.array_equal(back.counts, result.counts))      # doctest: +SKIP
True
"""

import datetime
import json
import os
import shlex
import sys
import uuid

import numpy as np

from .._version import __version__
from ..io import atomic_path, json_dumps
from ..validation import InvalidTypeError, InvalidValueError
from ._tables import (_column, _compressed, _flat_table, _json_object, _key_value_table,
                      _ragged, _table)
from ._base import _READOUTS, MODULE, NWB_EXTRA, PAPER, SPECIES, require_pynwb
from ._read import read_nwb

__all__ = ["write_nwb", "read_nwb", "require_pynwb", "NWB_EXTRA", "MODULE", "PAPER",
           "SPECIES"]

def _versions():
    import importlib.metadata
    out = {"ipvae_snn": __version__}
    for name in ("brian2", "pynwb", "numpy"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _command_line():
    """
    The command line of this process, as a shell would take it (the
    default ``source_script`` of a file).

    Examples
    --------
    >>> isinstance(_command_line(), str)
    True
    """
    argv = [a for a in sys.argv if a is not None]
    if not argv or not argv[0] or argv[0] == "-c":
        return f"{os.path.basename(sys.executable)} (interactive or -c)"
    return shlex.join([os.path.basename(sys.executable)] + argv
                      if argv[0].endswith(".py") else argv)


def _script_name(command):
    """The program of a command line (``source_script_file_name``)."""
    try:
        words = shlex.split(command)
    except ValueError:
        words = command.split()
    return os.path.basename(words[0]) if words else "python"


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


def _observed(result, duration):
    """
    The recorded windows of every trial as ``[start, stop]`` intervals on the
    file's timeline, consecutive windows (and trials) merged: one interval,
    the whole recording, when every window is recorded.
    """
    windows = np.asarray(result.windows, dtype=np.int64)
    w = result.window_s
    if np.array_equal(windows, np.arange(result.n_windows)):
        return np.array([[0.0, result.n_patches * duration]])
    breaks = np.flatnonzero(np.diff(windows) != 1) + 1
    runs = [(run[0], run[-1] + 1) for run in np.split(windows, breaks) if run.size]
    return np.array([(p * duration + a * w, p * duration + b * w)
                     for p in range(result.n_patches) for a, b in runs])


def _units(result, duration):
    from hdmf.common import VectorIndex
    from pynwb.misc import Units
    times, ends = _spike_times(result, duration)
    spikes = _column("spike_times", "the spike times of this neuron, in seconds from "
                     "the start of the first trial", times, compress=True)
    columns = [spikes, VectorIndex(name="spike_times_index", data=ends, target=spikes)]
    observed = _observed(result, duration)
    k = result.params.n_latents
    # every unit observed during the same recorded windows (neo's NWBIO reads
    # a unit's t_start and t_stop from its one observed interval)
    obs = _column("obs_intervals", "when the spikes were recorded: (start, stop) in "
                  "seconds; spikes outside were simulated but not stored",
                  np.tile(observed, (k, 1)), compress=True)
    columns += [obs, VectorIndex(name="obs_intervals_index",
                                 data=np.arange(1, k + 1) * len(observed), target=obs)]
    what = ("every spike of every window" if len(observed) == 1 else
            "the spikes of the recorded windows (obs_intervals)")
    units = _table(Units, "units", f"one unit per latent neuron of the iP-VAE spiking "
                   f"network (id = the neuron's index); {what}", columns, k)
    # the window realization knows a spike's window, not its time in it
    continuous = result.info.get("realization") == "continuous"
    units.resolution = float(result.info.get("dt_s") if continuous and
                             result.info.get("dt_s") else result.window_s)
    return units


def _membrane_potential(result, duration):
    """The membrane traces as one `TimeSeries` on the file's timeline, or None."""
    from pynwb import TimeSeries
    if result.u_trace is None or not np.size(result.u_trace):
        return None
    trace = np.asarray(result.u_trace)                  # (patch, neuron, step)
    n_patches, _, n_steps = trace.shape
    t = np.asarray(result.u_trace_t, dtype=np.float64)
    data = trace.transpose(0, 2, 1).reshape(n_patches * n_steps, -1)
    neurons = ", ".join(str(int(n)) for n in result.u_trace_neurons)
    timestamps = (np.arange(n_patches)[:, None] * duration + t[None]).ravel()
    step = np.diff(timestamps)
    # one step throughout (every step of back-to-back trials): a rate suffices
    timing = (dict(starting_time=float(timestamps[0]), rate=1.0 / float(step[0]))
              if step.size and np.allclose(step, step[0], rtol=1e-9, atol=0)
              else dict(timestamps=timestamps))
    return TimeSeries(
        name="membrane_potential", data=_compressed(data), unit="dimensionless", **timing,
        description=f"membrane potential u of the neurons {neurons} (columns) at the "
                    f"start of every time step of every trial; u is dimensionless "
                    f"(the log-rate of the iP-VAE's Poisson neurons)",
        comments="processing/ipvae_snn/run's u_trace_neurons names the columns")


def _trials(result, duration, trial_columns, image_index):
    from pynwb.epoch import TimeIntervals
    n, last = result.n_patches, result.n_windows - 1
    start = np.arange(n) * duration
    cols = [_column("start_time", "onset of the input, in seconds", start),
            _column("stop_time", "end of the input's last window, in seconds",
                    start + duration),
            _column("patch_index", "row of the input in the simulated batch",
                    np.arange(n, dtype=np.int64)),
            _column("input_image", "the image of stimulus_template/input_patches "
                    "(patch<input_image>) the trial shows", image_index)]
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


def _distinct_patches(result):
    """The distinct input patches, and which one each trial shows."""
    distinct, index = np.unique(np.asarray(result.x), axis=0, return_inverse=True)
    return distinct, np.asarray(index, np.int64).ravel()


def _stimulus(nwbfile, distinct):
    """The distinct patches as images (the trials' ``input_image`` indexes them)."""
    from pynwb.base import ImageReferences, Images
    from pynwb.image import GrayscaleImage
    side = int(round(np.sqrt(distinct.shape[1])))
    shape = (side, side) if side * side == distinct.shape[1] else (1, distinct.shape[1])
    images = [GrayscaleImage(name=f"patch{j}", data=row.reshape(shape),
                             description=f"input patch {j}, {shape[0]}x{shape[1]} "
                                         f"pixels (whitened intensity, a.u.)")
              for j, row in enumerate(distinct)]
    template = Images(name="input_patches", images=images,
                      description="the distinct input patches of the run; the "
                                  "trials' input_image says which one each shows",
                      order_of_images=ImageReferences(name="order_of_images",
                                                      data=images))
    nwbfile.add_stimulus_template(template)
    return shape


def _run_table(result, shape, fingerprint):
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
    ]
    for name, what in (("u_neurons", "neurons whose potential u is stored per window"),
                       ("u_trace_neurons", "neurons whose membrane trace is stored "
                                           "(acquisition/membrane_potential's columns)"),
                       ("u_trace_t", "time of each trace sample from the input's onset, "
                                     "in seconds")):
        value = getattr(result, name)
        if value is not None and np.size(value):
            fields.append((name, what, [np.asarray(value)]))
    return _table(DynamicTable, "run", "how the spikes of this file were simulated",
                  [_column(n, d, np.asarray(v) if not isinstance(v[0], str) else v)
                   for n, d, v in fields], 1)


def _provenance_tables(result):
    """``info`` as (key path, JSON value) rows, and the package versions."""
    provenance = _flat_table("provenance", "provenance of the run (SpikingResult.info), "
                             "one row per entry", json.loads(json_dumps(result.info)))
    versions = _versions()
    return provenance, _key_value_table(
        "versions", "versions of the packages that wrote the file", list(versions),
        list(versions.values()), "the package", "its version")


def _model_tables(params):
    """
    The model's arrays (one row), their dtypes, and each metadata entry that
    holds a JSON object (the model's provenance) as a table of its own.
    """
    from hdmf.common import DynamicTable
    arrays = params.to_arrays()
    names = sorted(arrays)
    objects = {n: _json_object(arrays[n]) for n in names}
    cols = [_column(name, f"model array {name!r} (IPVAEParams.to_arrays)",
                    np.asarray(arrays[name])[None]) for name in names
            if objects[name] is None]
    tables = [_flat_table(f"model_{name}", f"the model's {name!r} (IPVAEParams."
                          f"to_arrays), one row per entry", obj)
              for name, obj in objects.items() if obj is not None]
    return [_table(DynamicTable, "model", "the iP-VAE model that was simulated: the "
                   "arrays of its .npz file", cols, 1),
            _key_value_table("model_dtypes", "numpy dtype of each array of the model "
                             "(a column of the model table, or a table model_<name>)",
                             names, [np.asarray(arrays[n]).dtype.str for n in names],
                             "the array", "its numpy dtype string")] + tables


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
    if result.input_gain is not None:
        cols.append(_column("input_gain", "gain of the model's contrast normalisation "
                            "(ipvae_snn.contrast): the stimulus template holds the input "
                            "as the network saw it, divided by this", result.input_gain))
    if result.u is not None:
        cols.append(_column("u", "potential at the start of each recorded window of "
                            "the neurons u_neurons", result.u, compress=True))
    if result.spikes is not None:
        cols += _ragged("spike_neuron", "neuron of each simulated spike, in time order",
                        [i for i, _ in result.spikes], np.int32)
        cols += _ragged("spike_time", "time of each simulated spike from the input's "
                        "onset, in seconds", [t for _, t in result.spikes], np.float64)
    return _table(DynamicTable, "inputs", "per trial (the rows of the trials table): "
                  "what the reader restores exactly", cols, n)


def _subject(subject, fingerprint):
    """A pynwb `Subject` from None (the model), a `Subject`, or a dict of its fields."""
    from pynwb.file import Subject
    if isinstance(subject, Subject):
        return subject
    if subject is not None and not isinstance(subject, dict):
        raise InvalidTypeError(f"subject must be a pynwb Subject or a dict of its "
                               f"fields, got {type(subject).__name__}")
    # not an animal: age and sex do not apply ("P0D", "O": other)
    fields = dict(subject_id=f"ipvae-{fingerprint[:12]}", age="P0D", sex="O",
                  species=SPECIES,
                  description=f"not an animal: a simulated iP-VAE spiking network, "
                              f"model {fingerprint}")
    fields.update({k: v for k, v in (subject or {}).items() if v is not None})
    try:
        return Subject(**fields)
    except TypeError as exc:
        raise InvalidValueError(f"subject: {exc}") from None


def write_nwb(result, path, session_start_time=None, identifier=None,
              trial_columns=None, subject=None, source_script=None, neo_readable=False,
              **nwbfile_kwargs):
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
    subject : pynwb.file.Subject or dict, optional
        The subject; a dict overrides fields of the default, the model: id
        ``ipvae-<fingerprint>``, species `SPECIES`, age ``P0D``, sex ``O``.
    source_script : str, optional
        The command that made the file (default this process's command
        line; the command line passes its own).
    neo_readable : bool
        Write the lists of strings of the file's metadata (related
        publications, experimenter, keywords) into its ``notes`` instead:
        neo's `~neo.io.NWBIO` (0.14) fails on any file that has them (neo
        issue #1413). DANDI's tools read either.
    **nwbfile_kwargs
        More arguments of `pynwb.NWBFile` (``experimenter``, ``lab``,
        ``institution``, ``related_publications`` — `PAPER` is always among
        them — ...).

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> write_nwb(result, "run.nwb", experimenter=["Doe, Jane"],   # doctest: +SKIP
    ...           lab="V1 lab", institution="University",
    ...           subject=dict(subject_id="model-a"))
    'run.nwb'
    """
    pynwb = require_pynwb()

    from ..results import SpikingResult
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
    distinct, image_index = _distinct_patches(result)
    nwbfile_kwargs.setdefault("keywords", ["iP-VAE", "spiking network", "simulation",
                                           "Poisson", "Brian2"])
    source_script = source_script or _command_line()
    papers = nwbfile_kwargs.pop("related_publications", None) or []
    papers = [PAPER] + [p for p in ([papers] if isinstance(papers, str) else papers)
                        if p != PAPER]
    if isinstance(nwbfile_kwargs.get("experimenter"), str):
        nwbfile_kwargs["experimenter"] = [nwbfile_kwargs["experimenter"]]
    notes = (f"model fingerprint {fingerprint}; realization {realization}; window "
             f"{result.window_s * 1e3:g} ms; device {device}; seed {info.get('seed')}; "
             f"written by ipvae-snn {__version__}")
    if neo_readable:
        # neo's NWBIO (0.14) refuses the lists of strings of /general (its issue
        # #1413): they go into the notes instead
        lists = dict(related_publications=papers,
                     experimenter=nwbfile_kwargs.pop("experimenter", None) or [],
                     keywords=nwbfile_kwargs.pop("keywords", None) or [])
        notes += "".join(f"; {name.replace('_', ' ')}: {', '.join(map(str, values))}"
                         for name, values in lists.items() if len(values))
        papers = None
    nwbfile = pynwb.NWBFile(
        session_description=f"ipvae-snn: {what}", identifier=identifier or str(uuid.uuid4()),
        session_start_time=start, experiment_description=f"Inference by {what}.",
        source_script=source_script, source_script_file_name=_script_name(source_script),
        related_publications=papers, notes=notes,
        subject=_subject(subject, fingerprint),
        units=_units(result, duration),
        trials=_trials(result, duration, trial_columns, image_index),
        **nwbfile_kwargs)
    nwbfile.create_device(name=str(device), description=f"the Brian2 device that "
                          f"simulated the network (Brian2 "
                          f"{_versions().get('brian2', 'unknown')})")
    shape = _stimulus(nwbfile, distinct)
    trace = _membrane_potential(result, duration)
    if trace is not None:
        nwbfile.add_acquisition(trace)
    module = nwbfile.create_processing_module(MODULE, "the ipvae-snn run: settings, "
                                              "model and per-trial results")
    for table in (_run_table(result, shape, fingerprint), *_provenance_tables(result),
                  *_model_tables(result.params), _inputs_table(result)):
        module.add(table)
    with atomic_path(path, suffix=".nwb") as tmp, pynwb.NWBHDF5IO(tmp, "w") as io:
        io.write(nwbfile)
    return path
